"""The run folder's study: held in memory for the sampler, each finished trial appended to a log.

A search that scores candidates in milliseconds would spend most of its time in storage
transactions (a SQLite study commits every suggested parameter and attribute). The run folder's
study therefore lives in memory, and :class:`DurableMemoryStorage` appends every finished trial,
whole, as one line of ``study.journal`` -- Optuna's journal format, so ``optuna.load_study``
and ``optuna-dashboard`` open it as they open any journal file. A line is written with one
``write`` and no fsync: it survives the process being killed (it is in the OS's page cache), and
only a power cut or kernel crash could lose the last lines. A SIGKILL loses at most the trials
being evaluated; a line torn by it is cut off when the run resumes (:func:`open_journal`).

Resuming replays the journal into a fresh in-memory study: samplers whose state is their trials
(NSGA-II's generations, TPE's history) continue where they were.
"""

from __future__ import annotations

import datetime
import json
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.storages import InMemoryStorage
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.storages.journal._storage import JournalOperation  # the format's op codes
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

JOURNAL_FILE = "study.journal"
JOURNAL_SCHEME = "journal:///"


class AppendOnlyLog(JournalFileBackend):
    """Optuna's journal file, written by one driver only (the run folder's lock sees to that):
    no lock file, and each append is one ``write`` without fsync (see the module's docstring)."""

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        data = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs).encode()
        with open(self._file_path, "ab") as f:
            f.write(data)


def _cut_torn_tail(path: Path) -> None:
    """Drop a last line without its newline (a write the process was killed in)."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with path.open("rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return
        data = path.read_bytes()
        f.truncate(data.rfind(b"\n") + 1)


class DurableMemoryStorage(InMemoryStorage):
    """An in-memory storage that appends each finished trial and every study attribute to a
    journal (its ``journal``; the study there is ``journal_study_id``)."""

    def __init__(self, journal: JournalStorage, journal_study_id: int | None = None) -> None:
        super().__init__()
        self.journal = journal
        self.journal_study_id = journal_study_id
        self._replaying = False
        self._written = 0  # trials the journal has (whole, or as a placeholder): the next number
        # trial id -> its RUNNING placeholder in the journal, and the params the placeholder holds
        self._placeholders: dict[int, tuple[int, frozenset[str]]] = {}
        # One object per distinct distribution: each suggest_categorical builds a new one, which
        # would otherwise be kept per trial and gene (half a search's memory per trial).
        self._distributions: dict[BaseDistribution, BaseDistribution] = {}

    def set_trial_param(self, trial_id: int, param_name: str, param_value_internal: float,
                        distribution: BaseDistribution) -> None:
        distribution = self._distributions.setdefault(distribution, distribution)
        super().set_trial_param(trial_id, param_name, param_value_internal, distribution)

    def create_new_study(self, directions: Sequence[StudyDirection], study_name: str | None = None) -> int:
        study_id = super().create_new_study(directions, study_name)
        if self.journal_study_id is None:
            self.journal_study_id = self.journal.create_new_study(directions, self.get_study_name_from_id(study_id))
        return study_id

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        super().set_study_user_attr(study_id, key, value)
        if not self._replaying:
            self._append_study_op(JournalOperation.SET_STUDY_USER_ATTR, "user_attr", key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        super().set_study_system_attr(study_id, key, value)
        if not self._replaying:
            self._append_study_op(JournalOperation.SET_STUDY_SYSTEM_ATTR, "system_attr", key, value)

    def _append_study_op(self, op: int, field: str, key: str, value: Any) -> None:
        # Appended as JournalStorage.set_study_*_attr writes it, without the read-back of the
        # journal it then does: NSGA-II caches each generation's parents in a study attr, and that
        # read-back replays every trial line since the last one (seconds over 10^4 trials).
        self.journal._write_log(op, {"study_id": self._journal_id(), field: {key: value}})

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
                               ) -> bool:
        changed = super().set_trial_state_values(trial_id, state, values)
        if changed and state.is_finished():
            self._write(self.get_trial(trial_id))
        return changed

    def _write(self, trial: FrozenTrial) -> None:
        """Journal a finished trial so that the journal keeps the trials' numbers.

        Trials finish in the order they were asked when evaluations run one at a time: each is
        one line, written as Optuna's ``JournalStorage.create_new_trial`` writes a whole trial
        (without the journal replaying its own line into a second copy of the study). When a
        trial finishes while earlier ones are still being evaluated (on Ray), those first get a
        RUNNING placeholder (left RUNNING by a SIGKILL: a resume recovers them), and a
        placeholder is filled in when its trial finishes.
        """
        study_id = self._journal_id()
        trials = self._studies[self._trial_id_to_study_id_and_number[trial._trial_id][0]].trials
        j = self.journal
        while self._written < trial.number:
            earlier = trials[self._written]
            placeholder = j.create_new_trial(study_id)
            self._set_params(placeholder, earlier, skip=frozenset())  # a resume re-runs it from these
            self._placeholders[earlier._trial_id] = (placeholder, frozenset(earlier.params))
            self._written += 1
        entry = self._placeholders.pop(trial._trial_id, None)
        if entry is None:
            j._backend.append_logs([trial_record(trial, study_id)])
            self._written += 1
            return
        placeholder, written = entry
        self._set_params(placeholder, trial, skip=written)
        for key, value in trial.user_attrs.items():
            j.set_trial_user_attr(placeholder, key, value)
        for key, value in trial.system_attrs.items():
            j.set_trial_system_attr(placeholder, key, value)
        for step, value in trial.intermediate_values.items():
            j.set_trial_intermediate_value(placeholder, step, value)
        j.set_trial_state_values(placeholder, trial.state, trial.values)

    def _set_params(self, journal_trial_id: int, trial: FrozenTrial, skip: frozenset[str]) -> None:
        for name, value in trial.params.items():
            if name not in skip:
                dist = trial.distributions[name]
                self.journal.set_trial_param(journal_trial_id, name, dist.to_internal_repr(value), dist)

    def _journal_id(self) -> int:
        if self.journal_study_id is None:
            raise RuntimeError("DurableMemoryStorage: no study created yet")
        return self.journal_study_id

    def replay(self, study_name: str) -> None:
        """Load ``study_name`` from the journal into memory (resuming a run)."""
        journal_id = self.journal.get_study_id_from_name(study_name)
        self.journal_study_id = journal_id
        self._replaying = True
        try:
            study_id = super().create_new_study(self.journal.get_study_directions(journal_id), study_name)
            for key, value in self.journal.get_study_user_attrs(journal_id).items():
                self.set_study_user_attr(study_id, key, value)
            for key, value in self.journal.get_study_system_attrs(journal_id).items():
                self.set_study_system_attr(study_id, key, value)
            for trial in self.journal.get_all_trials(journal_id, deepcopy=False):
                super().create_new_trial(study_id, template_trial=trial)
                copied = self._studies[study_id].trials[-1]  # a deep copy: share its distributions
                copied.distributions = {k: self._distributions.setdefault(d, d)
                                        for k, d in copied.distributions.items()}
                self._written += 1
                if not trial.state.is_finished():  # a placeholder a killed run left RUNNING
                    self._placeholders[self._studies[study_id].trials[-1]._trial_id] = (
                        trial._trial_id, frozenset(trial.params))
        finally:
            self._replaying = False


def trial_record(trial: FrozenTrial, study_id: int) -> dict[str, Any]:
    """The journal line that creates ``trial`` whole (Optuna's CREATE_TRIAL operation)."""
    from optuna.distributions import distribution_to_json

    def when(t: Any) -> str | None:
        return None if t is None else t.astimezone(datetime.UTC).isoformat(timespec="microseconds")

    values = trial.values
    return {
        "op_code": JournalOperation.CREATE_TRIAL, "worker_id": _WORKER, "study_id": study_id,
        "state": trial.state, "value": values[0] if values is not None and len(values) == 1 else None,
        "values": list(values) if values is not None and len(values) > 1 else None,
        "datetime_start": when(trial.datetime_start), "datetime_complete": when(trial.datetime_complete),
        "distributions": {k: distribution_to_json(d) for k, d in trial.distributions.items()},
        "params": {k: trial.distributions[k].to_internal_repr(v) for k, v in trial.params.items()},
        "user_attrs": trial.user_attrs, "system_attrs": trial.system_attrs,
        "intermediate_values": trial.intermediate_values,
    }


_WORKER = f"hwnas-{uuid.uuid4()}-0"


def journal_path(url: str) -> Path:
    return Path(url[len(JOURNAL_SCHEME) - 1:])


def journal_url(path: Path) -> str:
    return f"{JOURNAL_SCHEME}{path.resolve().as_posix().lstrip('/')}"


def open_journal(url: str, *, writer: bool) -> JournalStorage:
    """The journal at ``url`` (``journal:///abs/path``): for the run's own driver (``writer``,
    after cutting a torn last line) or for readers (Optuna's own file backend)."""
    path = journal_path(url)
    if writer:
        _cut_torn_tail(path)
        return JournalStorage(AppendOnlyLog(str(path)))
    return JournalStorage(JournalFileBackend(str(path)))


def read_trials(url: str) -> tuple[list[FrozenTrial], dict[str, Any]] | None:
    """Every trial of a journal written by :class:`DurableMemoryStorage` and the study's user
    attrs, read straight from its lines (fast for 10^5 trials); ``None`` when the journal holds
    operations of other writers (e.g. notes added in optuna-dashboard): read it with Optuna then."""
    from optuna.distributions import json_to_distribution

    trials: list[FrozenTrial] = []
    user_attrs: dict[str, Any] = {}
    distributions: dict[str, Any] = {}  # by their JSON: every trial of a space shares them
    with journal_path(url).open("rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                break  # a torn last line
            log = json.loads(line)
            op = log["op_code"]
            if op == JournalOperation.CREATE_STUDY:
                if trials or user_attrs:
                    return None  # more than one study
            elif op == JournalOperation.SET_STUDY_USER_ATTR:
                user_attrs.update(log["user_attr"])
            elif op == JournalOperation.SET_STUDY_SYSTEM_ATTR:
                continue
            elif op == JournalOperation.CREATE_TRIAL and "state" in log:
                dists = {k: distributions.get(v) or distributions.setdefault(v, json_to_distribution(v))
                         for k, v in log["distributions"].items()}
                trials.append(FrozenTrial(
                    number=len(trials), state=TrialState(log["state"]), value=None,
                    values=log["values"] if log["values"] is not None else (
                        None if log["value"] is None else [log["value"]]),
                    datetime_start=_time(log.get("datetime_start")),
                    datetime_complete=_time(log.get("datetime_complete")),
                    params={k: dists[k].to_external_repr(v) for k, v in log["params"].items()},
                    distributions=dists, user_attrs=log["user_attrs"], system_attrs=log["system_attrs"],
                    intermediate_values={int(k): v for k, v in log["intermediate_values"].items()},
                    trial_id=len(trials)))
            else:
                return None
    return trials, user_attrs


def _time(text: str | None) -> Any:
    return None if text is None else datetime.datetime.fromisoformat(text)


def load_study(url: str, study_name: str) -> optuna.Study:
    """A journal's study for reading, as Optuna opens it."""
    return optuna.load_study(study_name=study_name, storage=open_journal(url, writer=False),
                             sampler=optuna.samplers.RandomSampler())
