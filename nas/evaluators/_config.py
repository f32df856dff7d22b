"""Typed configs of the accuracy evaluators (``train``, ``zero_cost``) and successive halving.

Every dataclass validates itself on construction, so a config built in Python gets the same
errors, naming the same fields, as one read from YAML.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from nas._errors import NasError
from nas._fields import Fields, as_int, as_number
from nas.recipe import OPTIMIZERS, SCHEDULES, Recipe

LR_SCHEDULES = SCHEDULES
DEVICES = ("cpu", "cuda")
ZERO_COST_PROXIES = ("synflow", "naswot", "grad_norm")


def _positive(value: float, where: str, *, allow_zero: bool = False) -> float:
    v = as_number(value, where)
    if v < 0 or (v == 0 and not allow_zero):
        raise NasError(f"{where}: {value!r} must be {'>= 0' if allow_zero else '> 0'}")
    return v


def _choice(value: Any, where: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise NasError(f"{where}: {value!r} is not one of {', '.join(allowed)}")
    return str(value)


def _optional_count(value: Any, where: str) -> int | None:
    return None if value is None else as_int(value, where, low=1)


@dataclass(frozen=True)
class HalvingConfig:
    """Rung-based successive halving on accuracy at intermediate epochs (multi-objective safe).

    At each rung epoch a trial's held-out accuracy is compared with every other trial of the study
    that reached that rung (read from the study storage); once at least ``min_trials`` have, a
    trial outside the top ``1/eta`` stops (state PRUNED, its rung values kept).
    """

    rungs: tuple[int, ...] = (1,)
    eta: int = 3
    min_trials: int = 3

    def __post_init__(self) -> None:
        rungs = tuple(as_int(r, f"evaluator.halving.rungs[{i}]", low=1)
                      for i, r in enumerate(self.rungs))
        if list(rungs) != sorted(set(rungs)):
            raise NasError(f"evaluator.halving.rungs: {list(self.rungs)} must be strictly increasing")
        object.__setattr__(self, "rungs", rungs)
        object.__setattr__(self, "eta", as_int(self.eta, "evaluator.halving.eta", low=2))
        object.__setattr__(self, "min_trials",
                           as_int(self.min_trials, "evaluator.halving.min_trials", low=1))

    @classmethod
    def from_dict(cls, data: Any, where: str = "evaluator.halving") -> HalvingConfig:
        f = Fields(data, where)
        f.check_known(("rungs", "eta", "min_trials"))
        rungs = f.get("rungs", [1])
        if not isinstance(rungs, list):
            rungs = [rungs]
        return cls(rungs=tuple(rungs), eta=f.get("eta", 3), min_trials=f.get("min_trials", 3))

    def to_dict(self) -> dict[str, Any]:
        return {"rungs": list(self.rungs), "eta": self.eta, "min_trials": self.min_trials}


@dataclass(frozen=True)
class TrainConfig:
    """Short proxy training; scores top-1 on the held-out split after the last epoch.

    ``train_subset``/``test_subset`` take a random subset of each split (``None``: all of it).
    Before every evaluation the batch-norm statistics are re-estimated on ``bn_batches`` training
    batches, so accuracy at an early rung (high learning rate, stale running stats) is meaningful.
    """

    epochs: int = 2
    batch_size: int = 64
    optimizer: str = "adamw"
    lr: float = 3e-3
    lr_schedule: str = "cosine"
    warmup_epochs: float = 0.0
    weight_decay: float = 1e-4
    momentum: float = 0.9
    label_smoothing: float = 0.0
    dropout: float = 0.0
    train_subset: int | None = None
    test_subset: int | None = None
    bn_batches: int = 4
    seed: int = 0
    threads: int | None = None
    device: str = "cpu"
    halving: HalvingConfig | None = None
    kind: str = field(default="train", init=False)

    def __post_init__(self) -> None:
        w = "evaluator"
        s = object.__setattr__
        s(self, "epochs", as_int(self.epochs, f"{w}.epochs", low=1))
        s(self, "batch_size", as_int(self.batch_size, f"{w}.batch_size", low=1))
        _choice(self.optimizer, f"{w}.optimizer", OPTIMIZERS)
        s(self, "lr", _positive(self.lr, f"{w}.lr"))
        _choice(self.lr_schedule, f"{w}.lr_schedule", LR_SCHEDULES)
        s(self, "warmup_epochs", _positive(self.warmup_epochs, f"{w}.warmup_epochs", allow_zero=True))
        if self.warmup_epochs >= self.epochs:
            raise NasError(f"{w}.warmup_epochs: {self.warmup_epochs} must be < epochs ({self.epochs})")
        s(self, "weight_decay", _positive(self.weight_decay, f"{w}.weight_decay", allow_zero=True))
        s(self, "momentum", _positive(self.momentum, f"{w}.momentum", allow_zero=True))
        for name in ("label_smoothing", "dropout"):
            v = _positive(getattr(self, name), f"{w}.{name}", allow_zero=True)
            if v >= 1:
                raise NasError(f"{w}.{name}: {v} must be in [0, 1)")
            s(self, name, v)
        s(self, "train_subset", _optional_count(self.train_subset, f"{w}.train_subset"))
        s(self, "test_subset", _optional_count(self.test_subset, f"{w}.test_subset"))
        s(self, "bn_batches", as_int(self.bn_batches, f"{w}.bn_batches", low=0))
        s(self, "seed", as_int(self.seed, f"{w}.seed", low=0))
        s(self, "threads", _optional_count(self.threads, f"{w}.threads"))
        _choice(self.device, f"{w}.device", DEVICES)
        if self.halving is not None:
            if not isinstance(self.halving, HalvingConfig):
                raise NasError(f"{w}.halving: expected a HalvingConfig, got {self.halving!r}")
            late = [r for r in self.halving.rungs if r >= self.epochs]
            if late:
                raise NasError(f"{w}.halving.rungs: {late} must be < epochs ({self.epochs}); "
                               "the last epoch is the final score, not a rung")

    def recipe(self) -> Recipe:
        """The shared training recipe with this config's values (Nesterov SGD when ``sgd``)."""
        return Recipe(optimizer=self.optimizer, lr=self.lr, momentum=self.momentum, nesterov=True,
                      weight_decay=self.weight_decay, schedule=self.lr_schedule,
                      warmup_epochs=self.warmup_epochs, warmup_start_factor=0.0,
                      label_smoothing=self.label_smoothing)


@dataclass(frozen=True)
class ZeroCostConfig:
    """Training-free proxies at initialization; the first proxy is the ``accuracy`` score.

    ``synflow`` is reported as the natural log of SynFlow (its raw value spans hundreds of orders
    of magnitude), ``naswot`` as the log-determinant of the activation-pattern kernel, and
    ``grad_norm`` as the summed L2 norms of the weight gradients on one batch. Every proxy named is
    recorded as the trial attribute ``zero_cost:NAME``.
    """

    proxies: tuple[str, ...] = ("synflow",)
    batch_size: int = 64
    seed: int = 0
    threads: int | None = None
    device: str = "cpu"
    kind: str = field(default="zero_cost", init=False)

    def __post_init__(self) -> None:
        w = "evaluator"
        proxies = (self.proxies,) if isinstance(self.proxies, str) else tuple(self.proxies)
        if not proxies:
            raise NasError(f"{w}.proxies: give at least one of {', '.join(ZERO_COST_PROXIES)}")
        for i, p in enumerate(proxies):
            _choice(p, f"{w}.proxies[{i}]", ZERO_COST_PROXIES)
        if len(set(proxies)) != len(proxies):
            raise NasError(f"{w}.proxies: {list(proxies)} names a proxy twice")
        s = object.__setattr__
        s(self, "proxies", proxies)
        s(self, "batch_size", as_int(self.batch_size, f"{w}.batch_size", low=2))
        s(self, "seed", as_int(self.seed, f"{w}.seed", low=0))
        s(self, "threads", _optional_count(self.threads, f"{w}.threads"))
        _choice(self.device, f"{w}.device", DEVICES)


@dataclass(frozen=True)
class SupernetEvalConfig:
    """Inherited-weight accuracy from a trained supernet (``nas supernet train``): each arch is
    extracted with the supernet's weights, its batch-norm statistics re-estimated on
    ``bn_images`` training images (default: the supernet recipe's), and scored on the supernet's
    minival split. The search's ``space`` and ``dataset`` must be the supernet's.
    """

    checkpoint: str
    bn_images: int | None = None
    threads: int | None = None
    kind: str = field(default="supernet", init=False)

    def __post_init__(self) -> None:
        w = "evaluator"
        if not isinstance(self.checkpoint, str) or not self.checkpoint:
            raise NasError(f"{w}.checkpoint: {self.checkpoint!r} must be a supernet folder "
                           "(written by `nas supernet train CONFIG --out DIR`)")
        object.__setattr__(self, "bn_images", _optional_count(self.bn_images, f"{w}.bn_images"))
        object.__setattr__(self, "threads", _optional_count(self.threads, f"{w}.threads"))


PREDICTOR_MODELS = ("auto", "ridge", "forest", "boosting")


@dataclass(frozen=True)
class PredictorConfig:
    """An accuracy predictor fitted on supernet-scored subnets and refitted as the search goes.

    The search runs in rounds: ``real`` trials scored with the supernet (as ``supernet`` does),
    then the predictor is refitted on every subnet scored so far and scores the next
    ``predicted`` trials, and so on. ``model`` ``auto`` picks ridge regression, a random forest
    or gradient boosting by cross-validated Kendall tau on the scored subnets; at each refit a
    ``holdout`` share of them is kept out to report the predictor's Kendall tau (trial attrs
    ``predictor:tau``, ``predictor:model``). Trial attr ``scored_by`` says which scored a trial.
    """

    checkpoint: str
    model: str = "auto"
    real: int = 50
    predicted: int = 200
    holdout: float = 0.2
    bn_images: int | None = None
    seed: int = 0
    threads: int | None = None
    kind: str = field(default="predictor", init=False)

    def __post_init__(self) -> None:
        w = "evaluator"
        SupernetEvalConfig(self.checkpoint)  # the same checks of the checkpoint field
        _choice(self.model, f"{w}.model", PREDICTOR_MODELS)
        s = object.__setattr__
        s(self, "real", as_int(self.real, f"{w}.real", low=10))
        s(self, "predicted", as_int(self.predicted, f"{w}.predicted", low=0))
        holdout = as_number(self.holdout, f"{w}.holdout")
        if not 0 < holdout < 0.5:
            raise NasError(f"{w}.holdout: {self.holdout!r} must be in (0, 0.5)")
        s(self, "holdout", holdout)
        s(self, "bn_images", _optional_count(self.bn_images, f"{w}.bn_images"))
        s(self, "seed", as_int(self.seed, f"{w}.seed", low=0))
        s(self, "threads", _optional_count(self.threads, f"{w}.threads"))


EvaluatorConfig = TrainConfig | ZeroCostConfig | SupernetEvalConfig | PredictorConfig
EVALUATOR_KINDS = ("train", "zero_cost", "supernet", "predictor")
EVALUATOR_CLASSES = (TrainConfig, ZeroCostConfig, SupernetEvalConfig, PredictorConfig)
_CLASSES: dict[str, type[Any]] = dict(zip(EVALUATOR_KINDS, EVALUATOR_CLASSES, strict=True))


def evaluator_from_dict(data: Any, where: str = "evaluator") -> EvaluatorConfig:
    """``{kind: train, epochs: 2, ...}``, ``{kind: zero_cost, proxies: [synflow]}``,
    ``{kind: supernet, checkpoint: DIR}`` or ``{kind: predictor, checkpoint: DIR, ...}``."""
    f = Fields(data, where)
    kind = f.required("kind")
    _choice(kind, f.sub("kind"), EVALUATOR_KINDS)
    cls = _CLASSES[kind]
    names = [fl.name for fl in fields(cls) if fl.init]
    f.check_known(("kind", *names))
    kwargs = {k: v for k, v in f.data.items() if k != "kind" and v is not None}
    if kind == "train" and "halving" in kwargs:
        kwargs["halving"] = HalvingConfig.from_dict(kwargs["halving"], f.sub("halving"))
    if kind == "zero_cost" and "proxies" in kwargs:
        kwargs["proxies"] = tuple(f.text_list("proxies") or ())
    return cls(**kwargs)


def evaluator_to_dict(cfg: EvaluatorConfig) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": cfg.kind}
    for fl in fields(cfg):
        if not fl.init:
            continue
        value = getattr(cfg, fl.name)
        if isinstance(value, HalvingConfig):
            value = value.to_dict()
        elif isinstance(value, tuple):
            value = list(value)
        out[fl.name] = value
    return out
