"""A run read from one snapshot of its study, for results written while other drivers still work.

With several drivers on one study, trials change state between two reads of the storage; results
assembled from several reads (all trials, then the feasible ones) could disagree. This run reads
the trials once and answers every later question from that list.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from nas._errors import NasError
from nas.search import Run, TrialRecord
from nas.search._results import STATES
from nas.search._rundir import read_run_info


class SnapshotRun(Run):
    """:class:`nas.search.Run` whose :meth:`trials` come from a single read of the storage."""

    def __init__(self, run_dir: str | Path) -> None:
        super().__init__(run_dir, read_run_info(run_dir))
        self._snapshot: list[TrialRecord] | None = None

    def trials(self, states: Iterable[str] | None = None) -> list[TrialRecord]:
        if self._snapshot is None:
            self._snapshot = super().trials()
        if states is None:
            return list(self._snapshot)
        wanted = set(states)
        if not wanted <= set(STATES):
            raise NasError(f"trial states {sorted(wanted - set(STATES))} are not among {', '.join(STATES)}")
        return [t for t in self._snapshot if t.state in wanted]
