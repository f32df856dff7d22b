"""Metrics a search optimizes or bounds: names, directions, hard constraints.

Metric names (the same names are trial user attributes, CSV columns and ``run.json`` entries):

- ``accuracy`` (maximize): the accuracy evaluator's score (top-1 on a held-out split for
  ``train``; the first proxy's score for ``zero_cost``). Needs training, so never a hard constraint.
- ``latency:TABLE_ID`` (minimize): a latency table's prediction in milliseconds.
- ``macs``, ``params`` (minimize): from the analytic cost model.
- ``peak_memory`` (minimize): peak activation bytes at the configured batch and dtype.

A hard constraint is ``METRIC <= BOUND`` or ``METRIC >= BOUND`` on a cheap metric (everything but
``accuracy``); the bound may carry a ``k``/``M``/``G`` suffix (``300M`` = ``300e6``).

:func:`display` gives the name and unit a reader sees on plot axes and report tables: latency in
ms, MACs and params in millions, peak memory in MiB, and ``accuracy`` under what the evaluator
actually measured (a zero-cost proxy's score is not an accuracy).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nas._errors import NasError
from nas._fields import as_number
from nas.arch import format_num
from nas.evaluators import EvaluatorConfig, ZeroCostConfig

ACCURACY = "accuracy"
COST_METRICS = ("macs", "params", "peak_memory")
LATENCY_PREFIX = "latency:"
_SUFFIX = {"k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}
_CONSTRAINT_RE = re.compile(r"^\s*(?P<metric>[^\s<>=]+)\s*(?P<op><=|>=)\s*(?P<bound>\S+)\s*$")
_TABLE_ID_RE = re.compile(r"^[A-Za-z0-9_.\-/]+$")
ALLOWED_TEXT = f"{ACCURACY}, {LATENCY_PREFIX}TABLE_ID, {', '.join(COST_METRICS)}"


def check_metric(name: object, where: str) -> str:
    """``name`` if it is a known metric name, else a :class:`NasError` naming ``where``."""
    if not isinstance(name, str):
        raise NasError(f"{where}: {name!r} is not a metric name; allowed: {ALLOWED_TEXT}")
    if name == ACCURACY or name in COST_METRICS:
        return name
    if name.startswith(LATENCY_PREFIX):
        table = name[len(LATENCY_PREFIX):]
        if not table or not _TABLE_ID_RE.match(table):
            raise NasError(f"{where}: {name!r} needs a table id after 'latency:' "
                           "(letters, digits, _ . - /), e.g. latency:cpu_torch_mobilenet_v3")
        return name
    raise NasError(f"{where}: unknown metric {name!r}; allowed: {ALLOWED_TEXT}")


def latency_table_id(metric: str) -> str | None:
    """The table id of a ``latency:TABLE_ID`` metric, else ``None``."""
    return metric[len(LATENCY_PREFIX):] if metric.startswith(LATENCY_PREFIX) else None


def direction(metric: str) -> str:
    """``maximize`` for accuracy, ``minimize`` for every cost."""
    return "maximize" if metric == ACCURACY else "minimize"


@dataclass(frozen=True)
class Objective:
    """One objective: a metric and its (fixed) direction."""

    metric: str

    def __post_init__(self) -> None:
        check_metric(self.metric, "objective")

    @property
    def direction(self) -> str:
        return direction(self.metric)

    @property
    def maximize(self) -> bool:
        return self.direction == "maximize"

    def __str__(self) -> str:
        return self.metric


def parse_bound(text: str, where: str) -> float:
    """``12``, ``300e6``, ``1.5M``, ``2G`` -> float."""
    text = text.strip()
    scale = 1.0
    if text and text[-1] in _SUFFIX:
        scale, text = _SUFFIX[text[-1]], text[:-1]
    try:
        return as_number(text, where) * scale
    except NasError:
        raise NasError(f"{where}: bound {text!r} is not a number (e.g. 12, 300e6, 300M)") from None


@dataclass(frozen=True)
class Constraint:
    """A hard constraint ``metric <= bound`` (``op`` ``<=``) or ``metric >= bound``."""

    metric: str
    op: str
    bound: float

    def __post_init__(self) -> None:
        check_metric(self.metric, "constraint")
        if self.metric == ACCURACY:
            raise NasError(f"constraint {self}: accuracy needs training, so it cannot be a hard "
                           f"constraint; constrain a cheap metric: {LATENCY_PREFIX}TABLE_ID, "
                           f"{', '.join(COST_METRICS)}")
        if self.op not in ("<=", ">="):
            raise NasError(f"constraint on {self.metric}: operator {self.op!r} is not <= or >=")

    @classmethod
    def parse(cls, text: str, where: str = "constraint") -> Constraint:
        """``"latency:cpu_torch_mobilenet_v3 <= 12"``, ``"macs <= 300e6"``, ``"params >= 1M"``."""
        if not isinstance(text, str):
            raise NasError(f"{where}: {text!r} is not a string like 'macs <= 300e6'")
        m = _CONSTRAINT_RE.match(text)
        if m is None:
            raise NasError(f"{where}: {text!r} is not METRIC <= BOUND or METRIC >= BOUND "
                           "(e.g. 'latency:cpu_torch_mobilenet_v3 <= 12', 'macs <= 300e6')")
        metric = check_metric(m["metric"], where)
        bound = parse_bound(m["bound"], where)
        try:
            return cls(metric, m["op"], bound)
        except NasError as exc:
            raise NasError(f"{where}: {exc}") from None

    def violation(self, value: float) -> float:
        """Relative violation: <= 0 when satisfied, else how far past the bound (1.0 = 100%).

        Relative, so that a MACs constraint and a millisecond constraint weigh alike when the
        sampler sums violations of infeasible candidates.
        """
        scale = abs(self.bound) if self.bound != 0 else 1.0
        excess = value - self.bound if self.op == "<=" else self.bound - value
        return excess / scale

    def satisfied(self, value: float) -> bool:
        return self.violation(value) <= 0

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {format_num(self.bound)}"


# Display names of the zero-cost proxies; synflow is recorded as its natural log (see
# ZeroCostConfig), so its axis must say so.
_PROXY_NAMES = {"synflow": "log SynFlow", "naswot": "NASWOT", "grad_norm": "grad-norm"}


@dataclass(frozen=True)
class Display:
    """How a metric is shown: ``short`` name, ``unit``, and ``scale`` (shown value = value / scale).

    ``label`` (the axis label and table header) is ``short`` with the unit or, for ``accuracy``,
    with what was measured: ``accuracy (top-1, held-out split)``, ``NASWOT score (zero-cost proxy)``.
    """

    short: str
    unit: str
    scale: float
    label: str

    def bound_text(self, op: str, bound: float) -> str:
        """A constraint in display units: ``latency ≤ 12 ms``, ``MACs ≤ 300 M``."""
        symbol = {"<=": "\u2264", ">=": "\u2265"}[op]
        return f"{self.short} {symbol} {bound / self.scale:.4g} {self.unit}".rstrip()


def _accuracy_display(evaluator: EvaluatorConfig | None) -> Display:
    if isinstance(evaluator, ZeroCostConfig):
        proxy = evaluator.proxies[0]  # the first proxy is the score
        short = f"{_PROXY_NAMES.get(proxy, proxy)} score"
        return Display(short, "", 1.0, f"{short} (zero-cost proxy)")
    detail = {"train": "top-1, held-out split",
              "supernet": "top-1, minival, supernet weights",
              "predictor": "top-1, minival; supernet or predictor"}.get(
                  evaluator.kind if evaluator is not None else "")
    return Display(ACCURACY, "", 1.0, f"{ACCURACY} ({detail})" if detail else ACCURACY)


def display(metric: str, evaluator: EvaluatorConfig | None = None) -> Display:
    """The :class:`Display` of ``metric``; ``evaluator`` names what ``accuracy`` measured."""
    if metric == ACCURACY:
        return _accuracy_display(evaluator)
    table = latency_table_id(metric)
    if table is not None:
        return Display("latency", "ms", 1.0, f"predicted latency, {table} (ms)")
    if metric == "macs":
        return Display("MACs", "M", 1e6, "MACs (M)")
    if metric == "params":
        return Display("params", "M", 1e6, "params (M)")
    if metric == "peak_memory":
        return Display("peak memory", "MiB", 2.0**20, "peak activation memory (MiB)")
    return Display(metric, "", 1.0, metric)
