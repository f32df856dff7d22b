"""A checked config with its resources resolved: the space, the dataset's shape, the tables.

:func:`check_config` is where a config meets the world: the space must exist and contain the
configured resolutions and widths, the dataset must be one we can read, and every latency table
must exist and price every block the (restricted) space can produce at each resolution, so a
search never stops halfway on a missing key: by a measured entry, or else by the table's kernel
model (such tables are listed in :attr:`Problem.modelled`, and the run says so). Cheap scores
(:meth:`Problem.cheap_scores`) come from here, on the driver, before any candidate is dispatched
for training.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from nas._errors import NasError
from nas.arch import Arch
from nas.blocks import arch_to_blocks
from nas.cost import blocks_cost
from nas.data import dataset_shape
from nas.search._config import SearchConfig
from nas.search._metrics import latency_table_id
from nas.space import SearchSpace, get_space

if TYPE_CHECKING:
    from nas.latency import LatencyTable


def restrict_space(space: SearchSpace, resolutions: tuple[int, ...] | None,
                   widths: tuple[float, ...] | None) -> SearchSpace:
    """``space`` limited to the configured resolutions and widths (field-named errors)."""
    if resolutions:
        if space.scales and len(resolutions) > 1:
            raise NasError(f"resolutions: space {space.name} is compound-scaled; give one "
                           "resolution (or none for its scaling points)")
        space = space.with_resolutions(resolutions)
    if widths is None:
        return space
    if space.scales:
        keep = tuple(s for s in space.scales if s.width in widths)
        if not keep:
            raise NasError(f"widths: no scaling point of space {space.name} has a width in "
                           f"{list(widths)}; widths: {sorted({s.width for s in space.scales})}")
        return replace(space, scales=keep, widths=tuple(sorted({s.width for s in keep})))
    bad = [w for w in widths if w not in space.widths]
    if bad:
        raise NasError(f"widths: {bad} not in space {space.name}'s widths {list(space.widths)}")
    return replace(space, widths=tuple(sorted(set(widths))))


@dataclass(frozen=True)
class Problem:
    """A checked config and what it refers to. Built by :func:`check_config`."""

    config: SearchConfig
    space: SearchSpace
    classes: int
    in_channels: int
    tables: dict[str, LatencyTable]
    # table id -> (block keys of the space it prices with its kernel model, all keys), for the
    # tables that lack measured entries for some of the space: their latencies are modelled there.
    modelled: Mapping[str, tuple[int, int]] = field(default_factory=dict)

    def cheap_scores(self, arch: Arch) -> dict[str, float]:
        """MACs, params, peak memory and each table's latency: no model is built."""
        return self.cheap_scores_many([arch])[0]

    def cheap_scores_many(self, archs: Sequence[Arch]) -> list[dict[str, float]]:
        """:meth:`cheap_scores` of each arch, each table's latencies in one vectorized call."""
        scores = []
        for arch in archs:
            blocks = arch_to_blocks(arch, self.space, classes=self.classes, in_channels=self.in_channels)
            cost = blocks_cost(blocks, batch=self.config.memory.batch, dtype=self.config.memory.dtype)
            scores.append({"macs": float(cost.macs), "params": float(cost.params),
                           "peak_memory": float(cost.peak_activation_bytes)})
        for metric in self.config.cheap_metrics:
            table_id = latency_table_id(metric)
            if table_id is not None and archs:
                latency = self.tables[table_id].predict_many(archs, classes=self.classes,
                                                             in_channels=self.in_channels,
                                                             approximate=table_id in self.modelled)
                for s, ms in zip(scores, latency.tolist(), strict=True):
                    s[metric] = float(ms)
        return scores

    def constraint_values(self, scores: dict[str, float]) -> list[float]:
        """Relative violation per constraint (<= 0: satisfied), in config order."""
        return [c.violation(scores[c.metric]) for c in self.config.constraints]

    def table_info(self) -> list[dict[str, str]]:
        """Id, content hash and device of each table (for ``run.json``)."""
        return [{"id": tid, "content_hash": t.content_hash,
                 "device": str(t.device.get("name", "unknown")), "path": str(t.path),
                 **({"modelled_keys": "{} of {}".format(*self.modelled[tid])} if tid in self.modelled else {})}
                for tid, t in self.tables.items()]

    def changed_tables(self, recorded: Mapping[str, str]) -> list[dict[str, str]]:
        """This problem's tables (:meth:`table_info`) whose content hash is not the one
        ``recorded`` (table id -> hash) gives their id; ids it lacks are not compared. A study
        scored with one table must not go on with another (rebuilt, or another host's variant)."""
        return [t for t in self.table_info()
                if t["id"] in recorded and recorded[t["id"]] != t["content_hash"]]


def _field_of_table(config: SearchConfig, table_id: str) -> str:
    for i, o in enumerate(config.objectives):
        if latency_table_id(o.metric) == table_id:
            return f"objectives[{i}]"
    for i, c in enumerate(config.constraints):
        if latency_table_id(c.metric) == table_id:
            return f"constraints[{i}]"
    return "objectives"


def _check_coverage(config: SearchConfig, space: SearchSpace, table_id: str, table: LatencyTable,
                    classes: int, in_channels: int) -> tuple[int, int]:
    """(block keys of the space the table lacks and prices with its kernel model, all keys);
    raises when the table can price neither way some block the space can produce."""
    from nas.latency import enumerate_blocks

    modelled = total = 0
    for res in space.resolutions if not space.scales else sorted({s.resolution for s in space.scales}):
        blocks = enumerate_blocks(space, resolutions=[res], widths=space.widths, classes=classes,
                                  in_channels=in_channels)
        missing = table.missing(blocks)
        total += len(blocks)
        modelled += len(missing)
        for b in missing:
            reason = table.why_not(b)
            if reason is not None:
                raise NasError(
                    f"{_field_of_table(config, table_id)}: latency table {table_id!r} cannot price "
                    f"space {space.name} at resolution {res} (classes {classes}, in_channels "
                    f"{in_channels}): {len(missing)} of {len(blocks)} block keys are not measured, and "
                    f"its kernel model cannot price e.g. {b.key}: {reason}; measure them (`nas lut "
                    f"build` on a CPU, `nas lut kit` on a device) or pick another table")
    return modelled, total


def _check_supernet(config: SearchConfig, space: SearchSpace) -> None:
    """A supernet-scored search must pose the supernet's problem: its space (the same version of
    the file), its dataset, and resolutions it was trained at."""
    checkpoint = getattr(config.evaluator, "checkpoint", None)
    if checkpoint is None:
        return
    from nas.supernet import load_supernet

    try:
        sn = load_supernet(checkpoint)
    except NasError as exc:
        raise NasError(f"evaluator.checkpoint: {exc}") from None
    if sn.space.name != space.name:
        raise NasError(f"space: {space.name!r}, but the supernet in {checkpoint} was trained on space "
                       f"{sn.space.name!r}")
    if sn.dataset != config.dataset:
        raise NasError(f"dataset: {config.dataset!r}, but the supernet in {checkpoint} was trained on "
                       f"{sn.dataset!r}; set dataset: {sn.dataset}")
    outside = sorted(set(space.resolutions) - set(sn.space.resolutions))
    if outside:
        raise NasError(f"resolutions: {outside} are outside the supernet's "
                       f"{list(sn.space.resolutions)} ({checkpoint})")


def check_config(config: SearchConfig) -> Problem:
    """Resolve and check everything ``config`` names; raise :class:`NasError` naming the field."""
    try:
        base = get_space(config.space)
    except NasError as exc:
        raise NasError(f"space: {exc}") from None
    space = restrict_space(base, config.resolutions, config.widths)
    classes, in_channels = dataset_shape(config.dataset)
    _check_supernet(config, space)
    tables: dict[str, LatencyTable] = {}
    modelled: dict[str, tuple[int, int]] = {}
    if config.table_ids:
        from nas.latency import load_table

        for table_id in config.table_ids:
            try:
                tables[table_id] = load_table(table_id)
            except NasError as exc:
                raise NasError(f"{_field_of_table(config, table_id)}: {exc}") from None
            n_modelled, n_keys = _check_coverage(config, space, table_id, tables[table_id], classes,
                                                 in_channels)
            if n_modelled:
                modelled[table_id] = (n_modelled, n_keys)
    return Problem(config, space, classes, in_channels, tables, modelled)
