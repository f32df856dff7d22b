"""Rung-based successive halving for multi-objective studies, with its state in the study storage.

Optuna's pruners do not support multi-objective studies, so the search stops bad trainings
itself, asynchronously as in ASHA (Li et al., "A System for Massively Parallel Hyperparameter
Tuning", MLSys 2020): at each rung epoch a trial writes its held-out accuracy to its user attribute
``rung:E``, then compares it with every other trial of the study that reached the same rung
(whatever its state, read from the storage). Once at least ``min_trials`` trials have reached the
rung, a trial below the ``k``-th best value, ``k = max(1, n // eta)``, stops. Accuracy is the one
objective that training changes, so it alone drives the decision; the other objectives are fixed
by the arch and were already checked by the hard constraints.

Because the values live in the storage, decisions survive a resume and are shared by parallel
workers or drivers on one study. Failed trials and cache copies do not count as peers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optuna
from optuna.trial import TrialState

from nas.evaluators import HalvingConfig
from nas.search import _attrs as A
from nas.search._storage import open_storage


def should_stop(value: float, peers: Sequence[float], eta: int, min_trials: int) -> bool:
    """Whether a trial with ``value`` at a rung stops, given the other trials' values there."""
    values = sorted([*peers, value], reverse=True)
    if len(values) < min_trials:
        return False
    k = max(1, len(values) // eta)
    return value < values[k - 1]


class StorageRungs:
    """The :class:`~nas.evaluators.RungReporter` of one trial, backed by the study storage.

    Picklable: it carries the storage URL, study name and trial id, and opens the storage lazily
    in the process that calls it (a worker may hold it instead of the driver's storage object).
    """

    def __init__(self, halving: HalvingConfig, *, storage_url: str, study_name: str, trial_id: int,
                 storage: optuna.storages.BaseStorage | None = None) -> None:
        self.halving = halving
        self.storage_url, self.study_name, self.trial_id = storage_url, study_name, trial_id
        self._storage = storage

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_storage": None}

    @property
    def storage(self) -> optuna.storages.BaseStorage:
        if self._storage is None:
            self._storage = open_storage(self.storage_url)
        return self._storage

    def peers(self, epoch: int) -> list[float]:
        """Values at rung ``epoch`` of the other trained, non-failed trials of the study."""
        study_id = self.storage.get_study_id_from_name(self.study_name)
        key = A.rung_attr(epoch)
        out = []
        for t in self.storage.get_all_trials(study_id, deepcopy=False):
            if t._trial_id == self.trial_id or t.state == TrialState.FAIL:
                continue
            if key in t.user_attrs and A.CACHED_FROM not in t.user_attrs:
                out.append(float(t.user_attrs[key]))
        return out

    def __call__(self, epoch: int, accuracy: float) -> bool:
        self.storage.set_trial_user_attr(self.trial_id, A.rung_attr(epoch), float(accuracy))
        return should_stop(accuracy, self.peers(epoch), self.halving.eta, self.halving.min_trials)
