"""Opening an Optuna storage by URL: the run folder's SQLite file, or a server several drivers share.

SQLite gets a write-ahead log with ``synchronous=NORMAL``: a commit is then a write to the log,
not an fsync (Optuna commits every suggested parameter and attribute, and an fsync costs ~15 ms
here), and a committed trial still survives the process being killed -- only a power cut or
kernel crash could lose the last commits. It also waits for locks instead of failing at once, so
a report can read the file while the search writes it.

Server storages (PostgreSQL, MySQL) get pre-ping connections, so a long search survives the server
dropping idle connections. Drivers that start at the same moment on an empty database race to
create Optuna's schema; the loser gets "duplicate key ... already exists" from the server. The
schema exists by then, so the open is simply tried again.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import optuna

from nas.search._journal import JOURNAL_SCHEME, open_journal

_log = logging.getLogger("nas.search")


def open_storage(url: str, *, attempts: int = 5) -> optuna.storages.BaseStorage:
    """The Optuna storage at ``url`` (``sqlite:///...``, ``postgresql+psycopg2://...``, a run
    folder's ``journal:///...``, opened for reading).

    Args:
        url: An Optuna storage URL.
        attempts: Tries of a server storage before a schema-creation race is raised (waits
            0.2 s, 0.4 s, ... in between).
    """
    if url.startswith(JOURNAL_SCHEME):
        return open_journal(url, writer=False)
    if "://" not in url or url.startswith("grpc"):
        return optuna.storages.get_storage(url)
    if url.startswith("sqlite:"):
        return _sqlite(url)
    import sqlalchemy.exc

    for attempt in range(1, attempts + 1):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError) as exc:
            if attempt == attempts or "already exists" not in str(exc):
                raise
            _log.info("storage schema being created by another driver; retrying (%d of %d)", attempt, attempts)
            time.sleep(0.2 * attempt)
    raise AssertionError("unreachable")


def _sqlite(url: str) -> optuna.storages.RDBStorage:
    from sqlalchemy import event

    storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})

    def pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    event.listen(storage.engine, "connect", pragmas)
    storage.engine.dispose()  # pooled connections were opened before the listener existed
    return storage
