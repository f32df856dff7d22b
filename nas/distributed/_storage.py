"""Opening an Optuna storage that several drivers share (PostgreSQL, MySQL, SQLite).

Drivers that start at the same moment on an empty database race to create Optuna's schema; the
loser gets "duplicate key ... already exists" from the server. The schema exists by then, so the
open is simply tried again.
"""

from __future__ import annotations

import logging
import time

import optuna

log = logging.getLogger("nas.distributed")


def open_storage(url: str, *, attempts: int = 5) -> optuna.storages.BaseStorage:
    """The Optuna storage at ``url``; an RDB schema-creation race with another driver is retried.

    Args:
        url: An Optuna storage URL (``sqlite:///...``, ``postgresql+psycopg2://...``, ...).
        attempts: Tries before the error is raised (waits 0.2 s, 0.4 s, ... in between).

    Returns:
        The storage (an ``RDBStorage`` with pre-ping connections for RDB URLs, so a long search
        survives the server dropping idle connections).
    """
    if "://" not in url or url.startswith(("journal", "grpc")):
        return optuna.storages.get_storage(url)
    import sqlalchemy.exc

    for attempt in range(1, attempts + 1):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError) as exc:
            if attempt == attempts or "already exists" not in str(exc):
                raise
            log.info("storage schema being created by another driver; retrying (%d of %d)", attempt, attempts)
            time.sleep(0.2 * attempt)
    raise AssertionError("unreachable")
