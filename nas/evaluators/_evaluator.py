"""The accuracy evaluator: a picklable callable ``(arch, reporter) -> EvalResult``.

It holds only its config (plain frozen dataclasses and strings); datasets (and a loaded supernet)
are loaded on first use in whatever process calls it and cached there, and dropped when it is
pickled, so it can be shipped to a worker process or a Ray actor as is: a worker loads them once.
A ``predictor`` evaluator keeps the subnets it scored with the supernet and its fitted predictor
in the process that calls it (on Ray, each worker fits its own on what it scored).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from nas._errors import NasError
from nas.arch import Arch
from nas.data import ImageData, load_dataset
from nas.evaluators._config import (
    EvaluatorConfig,
    PredictorConfig,
    SupernetEvalConfig,
    TrainConfig,
    ZeroCostConfig,
)
from nas.evaluators._predictor import Fit, encode, fit_predictor
from nas.evaluators._result import COMPLETE, FAILED, EvalFailed, EvalResult, RungReporter
from nas.evaluators._train import train_accuracy
from nas.evaluators._zero_cost import PROXIES
from nas.models import build_model
from nas.space import SearchSpace, get_space

ZERO_COST_PREFIX = "zero_cost:"
_log = logging.getLogger("nas.evaluators")


class AccuracyEvaluator:
    """Scores architectures with the configured evaluator on ``dataset``.

    Args:
        config: a :class:`TrainConfig` or :class:`ZeroCostConfig`.
        dataset: ``digits``, ``cifar10:PATH`` or ``imagefolder:PATH``.
        space: the space name or YAML path the archs belong to.
        split_seed: seed of the dataset's train/test split (fixed, so every trial sees the same).
    """

    def __init__(self, config: EvaluatorConfig, *, dataset: str, space: str,
                 split_seed: int = 0) -> None:
        self.config, self.dataset, self.space_spec, self.split_seed = config, dataset, space, split_seed
        self._data: dict[int, ImageData] = {}
        self._space: SearchSpace | None = None
        self._scorer: Any = None
        self._predictor = _PredictorState()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_data"], state["_space"], state["_scorer"] = {}, None, None
        state["_predictor"] = _PredictorState()
        return state

    def scorer(self) -> Any:
        """The supernet scorer (``supernet``/``predictor`` evaluators), loaded once per process."""
        if self._scorer is None:
            from nas.supernet import SubnetScorer

            cfg = self.config
            if not isinstance(cfg, SupernetEvalConfig | PredictorConfig):
                raise NasError(f"evaluator {cfg.kind!r} has no supernet")
            self._scorer = SubnetScorer(cfg.checkpoint, bn_images=cfg.bn_images, threads=cfg.threads)
        return self._scorer

    def space(self) -> SearchSpace:
        if self._space is None:
            self._space = get_space(self.space_spec)
        return self._space

    def data(self, resolution: int) -> ImageData:
        """The dataset at ``resolution`` (the configured subsets for training), cached."""
        if resolution not in self._data:
            data = load_dataset(self.dataset, resolution=resolution,
                                rng=np.random.default_rng(self.split_seed))
            if isinstance(self.config, TrainConfig):
                data = data.subset(self.config.train_subset, self.config.test_subset,
                                   np.random.default_rng(self.config.seed))
            self._data[resolution] = data
        return self._data[resolution]

    def __call__(self, arch: Arch | str, reporter: RungReporter | None = None) -> EvalResult:
        """Score ``arch``; failures tied to the candidate come back as a ``failed`` result."""
        arch = Arch.parse(arch) if isinstance(arch, str) else arch
        t0 = time.perf_counter()
        try:
            if isinstance(self.config, TrainConfig):
                result = train_accuracy(self.config, arch, self.space(), self.data(arch.resolution),
                                        reporter)
            elif isinstance(self.config, ZeroCostConfig):
                result = self._zero_cost(self.config, arch)
            elif isinstance(self.config, SupernetEvalConfig):
                result = EvalResult(COMPLETE, self.scorer().score(arch), {"scored_by": "supernet"})
            else:
                result = self._predict(self.config, arch)
        except EvalFailed as exc:
            return EvalResult(FAILED, None, {"eval_s": time.perf_counter() - t0}, str(exc))
        except NasError as exc:
            return EvalResult(FAILED, None, {"eval_s": time.perf_counter() - t0}, f"invalid: {exc}")
        return EvalResult(result.status, result.accuracy,
                          {**result.attrs, "eval_s": time.perf_counter() - t0}, result.reason)

    def _zero_cost(self, cfg: ZeroCostConfig, arch: Arch) -> EvalResult:
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        data = self.data(arch.resolution)
        rng = np.random.default_rng(cfg.seed)
        idx = torch.from_numpy(np.sort(rng.choice(len(data.y_train),
                                                  size=min(cfg.batch_size, len(data.y_train)),
                                                  replace=False)))
        device = torch.device(cfg.device)
        x, y = data.x_train[idx].to(device), data.y_train[idx].to(device)
        scores: dict[str, float] = {}
        for name in cfg.proxies:
            # Each proxy gets a fresh, identically initialized model: synflow rewrites weights.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(cfg.seed)
                model = build_model(arch, self.space(), classes=data.classes,
                                    in_channels=data.in_channels, dropout=0.0).to(device)
                scores[name] = PROXIES[name](model, x, y)
        attrs = {f"{ZERO_COST_PREFIX}{k}": v for k, v in scores.items()}
        return EvalResult(COMPLETE, scores[cfg.proxies[0]], attrs)


    def _predict(self, cfg: PredictorConfig, arch: Arch) -> EvalResult:
        """A round of ``real`` supernet scores, a refit, ``predicted`` predictions; repeat."""
        st = self._predictor
        features = encode(arch, self.scorer().space)
        in_round = st.calls % (cfg.real + cfg.predicted)
        st.calls += 1
        if st.fit is not None and in_round >= cfg.real:
            return EvalResult(COMPLETE, float(st.fit.predict(features)[0]), {"scored_by": "predictor"})
        accuracy = self.scorer().score(arch)
        st.x.append(features)
        st.y.append(accuracy)
        attrs: dict[str, Any] = {"scored_by": "supernet"}
        if in_round == cfg.real - 1:  # the round's last real score: refit on all so far
            st.fit = fit_predictor(np.stack(st.x), np.asarray(st.y), model=cfg.model, holdout=cfg.holdout,
                                   seed=cfg.seed)
            attrs.update({"predictor:tau": st.fit.holdout_tau, "predictor:model": st.fit.name,
                          "predictor:fitted_on": st.fit.n})
            _log.info(f"predictor refitted on {st.fit.n} supernet-scored subnets: {st.fit.name}, "
                      f"held-out Kendall tau {st.fit.holdout_tau:.3f}")
        return EvalResult(COMPLETE, accuracy, attrs)


@dataclass
class _PredictorState:
    """What a ``predictor`` evaluator learned in this process: encodings and supernet scores of
    the subnets it scored, the current fit, and how many archs it was asked about."""

    x: list[np.ndarray] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    fit: Fit | None = None
    calls: int = 0


def evaluate_accuracy(config: EvaluatorConfig, arch: Arch | str, *, dataset: str, space: str,
                      reporter: RungReporter | None = None) -> EvalResult:
    """One-shot evaluation (loads the dataset each call; keep an :class:`AccuracyEvaluator` to
    reuse it)."""
    return AccuracyEvaluator(config, dataset=dataset, space=space)(arch, reporter)
