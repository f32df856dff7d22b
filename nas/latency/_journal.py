"""A journal of whole-network timings, so that an interrupted ``calibrate`` or ``validate``
resumes where it stopped instead of measuring every network again.

The journal is a JSON-lines file. Its first line names the run it belongs to: a hash of the
networks (in order), the settings, the timing, the passes, the seed and the anchors. Every chunk
of networks timed appends one line per network (pass, index, arch, and its timings). A rerun of
the same command reads the lines back and times only the networks that are not there; a journal
of another run (other networks, settings or table) is an error naming it, never overwritten. The
command deletes the journal once it has written its result.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nas._errors import NasError
from nas.latency._entry import Entry

FORMAT = "hwnas-network-journal"
VERSION = 1

Timed = tuple[Entry, Entry, float, float | None]  # entry, raw, drift, anchor ms


def run_key(parts: Any) -> str:
    """A stable hash of what makes two runs the same (JSON-serializable ``parts``)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class NetworkJournal:
    """Timings of one run's networks, keyed by (pass, index in the run's network list)."""

    def __init__(self, path: str | Path, key: str) -> None:
        self.path = Path(path)
        self.key = key

    def load(self, idents: Sequence[str]) -> dict[tuple[int, int], Timed]:
        """The timings already journaled (empty when there is no journal yet).

        Raises:
            NasError: the file is another run's journal, or a line other than the last is
                corrupt (the last may be torn by the interruption; it is ignored).
        """
        if not self.path.is_file():
            return {}
        lines = self.path.read_text().splitlines()
        where = f"{self.path}"
        head = _json(lines[0]) if lines else None
        if not isinstance(head, dict) or head.get("journal") != FORMAT:
            raise NasError(f"{where}: not a network journal; move or delete it")
        if head.get("version") != VERSION or head.get("key") != self.key:
            raise NasError(f"{where}: timings of another run (other networks, settings, timing "
                           "or table); rerun that command to finish it, or delete the file to "
                           "start this one")
        done: dict[tuple[int, int], Timed] = {}
        for n, line in enumerate(lines[1:], start=2):
            rec = _json(line)
            if not isinstance(rec, dict):
                if n == len(lines):
                    print(f"nas: {where}: ignoring a torn last line", file=sys.stderr)
                    continue
                raise NasError(f"{where}: line {n} is corrupt; delete the file to re-measure")
            try:
                i, p = int(rec["index"]), int(rec["pass"])
                anchor = rec.get("anchor_ms")
                timed = (Entry.from_dict(rec["entry"], f"{where}: line {n}"),
                         Entry.from_dict(rec["raw"], f"{where}: line {n}"),
                         float(rec["drift"]), None if anchor is None else float(anchor))
            except (KeyError, TypeError, ValueError):
                raise NasError(f"{where}: line {n} is corrupt; delete the file to "
                               "re-measure") from None
            if not 0 <= i < len(idents) or rec.get("arch") != idents[i]:
                raise NasError(f"{where}: line {n} names a network this run does not have")
            done[(p, i)] = timed
        return done

    def append(self, pass_index: int, indices: Sequence[int], idents: Sequence[str],
               timed: Sequence[Timed]) -> None:
        """Journal one chunk (written and flushed before the next chunk is timed)."""
        new = not self.path.is_file()
        if new:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as fh:
            if new:
                fh.write(json.dumps({"journal": FORMAT, "version": VERSION,
                                     "key": self.key}) + "\n")
            for i, (entry, raw, drift, anchor) in zip(indices, timed, strict=True):
                fh.write(json.dumps({"pass": pass_index, "index": int(i), "arch": idents[i],
                                     "entry": entry.to_dict(), "raw": raw.to_dict(),
                                     "drift": drift, "anchor_ms": anchor}) + "\n")


def _json(line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return None
