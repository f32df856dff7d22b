"""The accuracy evaluator: a picklable callable ``(arch, reporter) -> EvalResult``.

It holds only its config (plain frozen dataclasses and strings); datasets are loaded on first use
in whatever process calls it and cached per resolution there, and dropped when it is pickled, so
it can be shipped to a worker process or a Ray actor as is.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from nas._errors import NasError
from nas.arch import Arch
from nas.data import ImageData, load_dataset
from nas.evaluators._config import EvaluatorConfig, TrainConfig, ZeroCostConfig
from nas.evaluators._result import COMPLETE, FAILED, EvalFailed, EvalResult, RungReporter
from nas.evaluators._train import train_accuracy
from nas.evaluators._zero_cost import PROXIES
from nas.models import build_model
from nas.space import SearchSpace, get_space

ZERO_COST_PREFIX = "zero_cost:"


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

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_data"], state["_space"] = {}, None
        return state

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
            else:
                result = self._zero_cost(self.config, arch)
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


def evaluate_accuracy(config: EvaluatorConfig, arch: Arch | str, *, dataset: str, space: str,
                      reporter: RungReporter | None = None) -> EvalResult:
    """One-shot evaluation (loads the dataset each call; keep an :class:`AccuracyEvaluator` to
    reuse it)."""
    return AccuracyEvaluator(config, dataset=dataset, space=space)(arch, reporter)
