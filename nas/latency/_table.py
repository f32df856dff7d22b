"""The latency table: block key -> measured latency on one device and setting, as a JSON file.

File layout (``schema_version`` 1)::

    {"format": "hwnas-latency-table", "schema_version": 1,
     "device": {name, cores, runtime, runtime_version, threads, batch, dtype, date, ...},
     "measurement": {backend, device_type, timer, warmup, rounds, ...},
     "spaces": ["mobilenet_v3"], "resolutions": [32, 224],
     "configs": [{"space", "resolution", "in_channels", "classes", "widths"}],
     "source": null, "citation": null, "notes": "",
     "entries": {"<block key>": {"n", "median", "mean", "p90", "std", "min"}},
     "calibration": null | {see nas.latency._calibration},
     "kernel_model": {see nas.latency._kernels}}   (optional)

Times are milliseconds per forward pass of one batch. The table id is the file stem; the content
hash is a hash of the canonical JSON, so it changes whenever any measured number does.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nas._errors import NasError
from nas.arch import Arch
from nas.blocks import KINDS, Block, arch_to_blocks
from nas.latency._calibration import (
    FEATURES,
    NEUTRAL,
    Calibration,
    complete_features,
    key_features,
    network_features,
    network_level,
)
from nas.latency._entry import Entry, Prediction
from nas.latency._kernels import KernelModel, fit_kernel_model
from nas.space import SearchSpace, get_space

FORMAT = "hwnas-latency-table"
SCHEMA_VERSION = 1
_LOWER_CACHE_MAX = 200_000
_WEIGHTS = FEATURES.index("mb:weights")


def _isolated_ms(rows: np.ndarray) -> np.ndarray:
    """Per feature-matrix row: the block's isolated ms (its per-kind columns hold it)."""
    return rows[:, :len(KINDS)].sum(axis=1)


class LatencyTable:
    """Block key -> latency entry, with the device it was measured on and an optional calibration.

    Build one in memory (``LatencyTable(device=...)`` then :meth:`add_entry`) or load one with
    :func:`nas.latency.load_table`. Measured keys are exact. A key the table lacks raises
    :class:`NasError` naming the table, the key and the fix unless ``approximate=True`` is
    passed; then the table's kernel model (:attr:`kernels`) prices it and the prediction lists it
    as modelled.
    """

    def __init__(
        self,
        entries: Mapping[str, Entry] | None = None,
        *,
        device: Mapping[str, Any] | None = None,
        measurement: Mapping[str, Any] | None = None,
        spaces: Iterable[str] = (),
        resolutions: Iterable[int] = (),
        configs: Iterable[Mapping[str, Any]] = (),
        calibration: Calibration | None = None,
        source: str | None = None,
        citation: str | None = None,
        notes: str = "",
        space_files: Mapping[str, str] | None = None,
        path: str | Path | None = None,
        table_id: str | None = None,
        kernel_model: KernelModel | None = None,
    ) -> None:
        self._entries: dict[str, Entry] = {}
        self.device: dict[str, Any] = dict(device or {})
        self.measurement: dict[str, Any] = dict(measurement or {})
        self.spaces: list[str] = sorted(set(spaces))
        self.resolutions: list[int] = sorted({int(r) for r in resolutions})
        self.configs: list[dict[str, Any]] = [dict(c) for c in configs]
        self.calibration = calibration
        self.source, self.citation, self.notes = source, citation, notes
        self.space_files: dict[str, str] = dict(space_files or {})
        self.path = str(path) if path is not None else None
        self.id = table_id or (Path(path).stem if path is not None else "unsaved")
        self.kernel_model = kernel_model
        self._invalidate()
        for key, entry in (entries or {}).items():
            self.add_entry(key, entry)

    # -- builder side ------------------------------------------------------------------------
    def add_entry(self, key: str | Block, entry: Entry) -> None:
        """Add or replace one entry (the key is checked and canonicalized)."""
        block = key if isinstance(key, Block) else Block.parse(key)
        self._entries[block.key] = entry
        self._invalidate()

    def add_config(self, space: str, resolution: int, *, in_channels: int, classes: int,
                   widths: Sequence[float]) -> None:
        """Record that the table covers ``space`` at ``resolution`` for these channels/classes."""
        config: dict[str, Any] = {"space": space, "resolution": int(resolution),
                                  "in_channels": int(in_channels),
                                  "classes": int(classes),
                                  "widths": sorted({float(w) for w in widths})}
        for c in self.configs:
            if {k: c.get(k) for k in ("space", "resolution", "in_channels", "classes")} == {
                    k: config[k] for k in ("space", "resolution", "in_channels", "classes")}:
                c["widths"] = sorted({*c.get("widths", []), *config["widths"]})
                break
        else:
            self.configs.append(config)
        self.spaces = sorted({*self.spaces, space})
        self.resolutions = sorted({*self.resolutions, int(resolution)})
        self._invalidate()

    def set_statistic(self, statistic: str) -> None:
        """Predict from entries' ``median`` or ``min`` (refit the calibration afterwards)."""
        if statistic not in ("median", "min"):
            raise NasError(f"statistic {statistic!r} is not one of median, min")
        self.measurement["statistic"] = statistic
        self._invalidate()

    def set_calibration(self, calibration: Calibration | None) -> None:
        self.calibration = calibration
        self._invalidate()

    def set_kernel_model(self, model: KernelModel | None) -> None:
        """Store a kernel model in the table (``None``: fit one from the entries when needed)."""
        self.kernel_model = model
        self._invalidate()

    def _invalidate(self) -> None:
        self._rows: np.ndarray | None = None
        self._index: dict[str, int] = {}
        self._keys: list[str] = []
        self._bindex: dict[Block, int] = {}
        self._body_hash: str | None = None
        self._lowered: dict[tuple[Arch, int, int], tuple[np.ndarray, tuple[str, ...]]] = {}
        self._approx: dict[str, float] = {}
        self._key_extra: dict[int, np.ndarray] = {}
        self._fitted: KernelModel | None = None
        self._fit_error: str | None = None

    # -- read side ---------------------------------------------------------------------------
    @property
    def entries(self) -> Mapping[str, Entry]:
        """Read-only view of key -> entry."""
        return dict(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        k = key.key if isinstance(key, Block) else key
        return k in self._entries

    @property
    def schema_version(self) -> int:
        return SCHEMA_VERSION

    @property
    def backend(self) -> str:
        return str(self.measurement.get("backend", self.device.get("runtime", "unknown")))

    @property
    def device_type(self) -> str:
        return str(self.measurement.get("device_type", self.device.get("kind", "unknown")))

    @property
    def threads(self) -> int | None:
        t = self.device.get("threads")
        return int(t) if t is not None else None

    @property
    def batch(self) -> int:
        return int(self.device.get("batch", 1))

    @property
    def dtype(self) -> str:
        return str(self.device.get("dtype", "float32"))

    @property
    def statistic(self) -> str:
        """Which entry statistic predictions use: ``median`` (default) or ``min``."""
        return str(self.measurement.get("statistic", "median"))

    @property
    def where(self) -> str:
        """How errors name this table."""
        name = f"latency table {self.id!r}"
        return f"{name} ({self.path})" if self.path else name

    def _meta(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "device": self.device,
            "measurement": self.measurement,
            "spaces": self.spaces,
            "resolutions": self.resolutions,
            "configs": self.configs,
            "source": self.source,
            "citation": self.citation,
            "notes": self.notes,
            "space_files": self.space_files,
        }

    def _body(self) -> dict[str, Any]:
        body = {
            "entries": {k: self._entries[k].to_dict() for k in sorted(self._entries)},
            "calibration": self.calibration.to_dict() if self.calibration else None,
        }
        # only when stored, so tables without one keep the content hash they always had
        if self.kernel_model is not None:
            body["kernel_model"] = self.kernel_model.to_dict()
        return body

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (see the module docstring)."""
        return {**self._meta(), **self._body()}

    @property
    def content_hash(self) -> str:
        """16 hex digits of SHA-256 over the canonical JSON: identifies the table in results.

        The entries and calibration part is hashed once (they change only through
        :meth:`add_entry` and :meth:`set_calibration`); the small metadata every time, since it
        is made of plain mutable attributes.
        """
        if self._body_hash is None:
            body = json.dumps(self._body(), sort_keys=True, separators=(",", ":"))
            self._body_hash = hashlib.sha256(body.encode()).hexdigest()
        meta = json.dumps(self._meta(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256((meta + self._body_hash).encode()).hexdigest()[:16]

    def write(self, path: str | Path) -> Path:
        """Write the table as JSON (atomically: a temporary file, then a rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1, sort_keys=False) + "\n")
        os.replace(tmp, path)
        self.path, self.id = str(path), path.stem
        return path

    def summary(self) -> dict[str, Any]:
        """What ``nas lut list`` shows."""
        return {
            "id": self.id,
            "path": self.path,
            "device": self.device.get("name", "unknown"),
            "device_type": self.device_type,
            "runtime": self.backend,
            "threads": self.threads,
            "batch": self.batch,
            "dtype": self.dtype,
            "spaces": self.spaces,
            "resolutions": self.resolutions,
            "entries": len(self._entries),
            "calibrated": self.calibration is not None,
            "content_hash": self.content_hash,
            "source": self.source,
        }

    # -- kernel model ------------------------------------------------------------------------
    @property
    def kernels(self) -> KernelModel | None:
        """The model that prices keys the table lacks: the stored one, else one fitted from the
        entries on first use (``None`` when the entries are too few to fit one)."""
        if self.kernel_model is not None:
            return self.kernel_model
        if self._fitted is None and self._fit_error is None:
            blocks = [Block.parse(k) for k in sorted(self._entries)]
            ms = [self._entries[b.key].value(self.statistic) for b in blocks]
            try:
                self._fitted = fit_kernel_model(blocks, ms, sources=[f"{len(blocks)} entries of "
                                                                     f"{self.id}"])
            except NasError as exc:
                self._fit_error = str(exc)
        return self._fitted

    def kernel_summary(self) -> dict[str, Any] | None:
        """The kernel model's family, held-out error on the table's keys and sources (for
        ``nas lut list``); ``None`` without one."""
        km = self.kernels
        if km is None:
            return None
        held = km.held_out.get(km.family, {})
        return {"family": km.family, "stored": self.kernel_model is not None,
                "held_out_mape_pct": held.get("mape_pct"), "held_out_wape_pct": held.get("wape_pct"),
                "held_out_within10": held.get("within10"),
                "held_out_n": held.get("n"), "sources": km.sources}

    def why_not(self, block: Block) -> str | None:
        """Why neither the entries nor the kernel model can price ``block`` (``None``: they can)."""
        if block.key in self._entries:
            return None
        km = self.kernels
        if km is None:
            return f"the table has no kernel model ({self._fit_error})"
        return km.why_not(block)

    def _fix_hint(self) -> str:
        """What would let the table price a key it cannot: measure it where it was measured."""
        method = str(self.measurement.get("method", ""))
        if method == "imported" or self.device_type not in ("cpu", "unknown"):
            return ("measure the block on the device (`nas lut kit` writes the ONNX blocks and a "
                    "runner) and merge the results (`nas lut import-kit`)")
        if method == "fit":
            return "refit the table from whole-network timings that include such blocks"
        return "build the block on this table's machine with `nas lut build`"

    def _modelled_ms(self, b: Block, context: str) -> float:
        km = self.kernels
        reason = self.why_not(b)
        if km is None or reason is not None:
            raise NasError(f"{self.where} cannot price block {b.key}{context}: {reason}; "
                           f"{self._fix_hint()}")
        return km.predict(b, self.where)

    # -- spaces ------------------------------------------------------------------------------
    def space(self, name: str) -> SearchSpace:
        """A space the table names; falls back to the space file recorded at build time."""
        try:
            return get_space(name)
        except NasError:
            if name in self.space_files and Path(self.space_files[name]).is_file():
                return get_space(self.space_files[name])
            raise

    # -- queries -----------------------------------------------------------------------------
    def missing(self, blocks: Iterable[Block]) -> list[Block]:
        """The blocks (in order, without repeats) whose keys the table lacks."""
        seen: set[str] = set()
        out = []
        for b in blocks:
            if b.key not in self._entries and b.key not in seen:
                seen.add(b.key)
                out.append(b)
        return out

    def _matrix(self) -> np.ndarray:
        if self._rows is None:
            keys = sorted(self._entries)
            self._index = {k: i for i, k in enumerate(keys)}
            self._keys = list(keys)
            # Blocks hash faster than their key text is built: look rows up by Block.
            self._bindex = {Block.parse(k): i for i, k in enumerate(keys)}
            stat = self.statistic
            rows = [key_features(Block.parse(k), self._entries[k].value(stat), batch=self.batch,
                                 dtype=self.dtype) for k in keys]
            self._rows = (np.array(rows).reshape(len(rows), -1) if rows
                          else np.zeros((0, len(NEUTRAL))))
        return self._rows

    def _row_index(self, blocks: Sequence[Block], approximate: bool, context: str = ""
                   ) -> tuple[np.ndarray, tuple[str, ...]]:
        """Row indices of ``blocks`` in the feature matrix; modelled keys get appended rows."""
        rows = self._matrix()
        idx = []
        modelled: list[str] = []
        for b in blocks:
            i = self._bindex.get(b)
            if i is None or (self._approx and b.key in self._approx):
                if not approximate:
                    can = self.why_not(b)
                    hint = (f"pass approximate=True (--approximate) to price it with the "
                            f"table's kernel model, or {self._fix_hint()}" if can is None else
                            f"the kernel model cannot price it either: {can}; "
                            f"{self._fix_hint()}")
                    raise NasError(f"{self.where} has no measured entry for block {b.key}"
                                   f"{context}; {hint}")
                if b.key not in self._approx:
                    self._approx[b.key] = self._modelled_ms(b, context)
                    self._index[b.key] = self._bindex[b] = len(rows)
                    self._keys.append(b.key)
                    row = key_features(b, self._approx[b.key], batch=self.batch,
                                       dtype=self.dtype)
                    rows = np.vstack([rows, row])
                    self._rows = rows
                i = self._index[b.key]
                modelled.append(b.key)
            idx.append(i)
        return np.asarray(idx, dtype=np.intp), tuple(dict.fromkeys(modelled))

    def _lower(self, arch: Arch, classes: int, in_channels: int, approximate: bool
               ) -> tuple[np.ndarray, tuple[str, ...]]:
        cache_key = (arch, classes, in_channels)
        hit = self._lowered.get(cache_key)
        if hit is not None and (approximate or not hit[1]):
            return hit
        if self.spaces and arch.space not in self.spaces and not approximate:
            raise NasError(f"{self.where} measured spaces {self.spaces}, not {arch.space!r}; "
                           "pass approximate=True (--approximate) to price it with the table's "
                           "kernel model (`nas lut list` shows which spaces it covers)")
        blocks = arch_to_blocks(arch, self.space(arch.space), classes=classes,
                                in_channels=in_channels)
        out = self._row_index(blocks, approximate, f" (space {arch.space}, width "
                                                   f"{arch.width:g}, resolution {arch.resolution})")
        if len(self._lowered) >= _LOWER_CACHE_MAX:
            self._lowered.clear()
        self._lowered[cache_key] = out
        return out

    def _coef(self, resolution: int) -> np.ndarray:
        return self.calibration.coef_for(resolution) if self.calibration else NEUTRAL

    def _extra(self, resolution: int) -> np.ndarray:
        """Per feature-matrix row: the ms its key scale at ``resolution`` adds (0 without one)."""
        rows = self._matrix()
        scales = self.calibration.scales_for(resolution) if self.calibration else {}
        if not scales:
            return np.zeros(len(rows))
        extra = self._key_extra.get(resolution)
        if extra is None or len(extra) != len(rows):  # rows appended for modelled keys
            g = np.array([scales.get(k, 0.0) for k in self._keys])
            extra = self._key_extra[resolution] = _isolated_ms(rows) * g
        return extra

    def _predict_rows(self, idx: np.ndarray, resolution: int, modelled: Sequence[str],
                      keys: Sequence[str]) -> Prediction:
        rows = self._matrix()[idx]
        coef = self._coef(resolution)
        # network-level columns are 0 in block rows
        per_block = rows[:, :-1] @ coef[:-1] + self._extra(resolution)[idx]
        overhead = network_level(coef, float(rows[:, _WEIGHTS].sum()))
        n_kinds = len(KINDS)
        return Prediction(
            latency_ms=float(per_block.sum() + overhead),
            blocks=list(zip(keys, per_block.tolist(), strict=True)),
            modelled=list(modelled),
            raw_sum_ms=float(rows[:, :n_kinds].sum()),
            overhead_ms=overhead,
            calibrated=self.calibration is not None,
        )

    def predict(self, arch: Arch, *, classes: int = 1000, in_channels: int = 3,
                approximate: bool = False) -> Prediction:
        """Predicted latency of ``arch`` (one forward pass of the table's batch), calibrated.

        Args:
            approximate: price keys the table lacks with its kernel model (listed in
                :attr:`Prediction.modelled`) instead of failing.

        Raises:
            NasError: a block key is missing (naming table, key, space, width, resolution and
                the fix) and ``approximate`` is False, or the kernel model cannot price it.
        """
        idx, modelled = self._lower(arch, classes, in_channels, approximate)
        keys = [self._keys[i] for i in idx.tolist()]
        return self._predict_rows(idx, arch.resolution, modelled, keys)

    def predict_blocks(self, blocks: Sequence[Block], *, approximate: bool = False) -> float:
        """Calibrated ms of a block list (the first block's input side picks the calibration)."""
        if not blocks:
            raise NasError(f"{self.where}: predict_blocks needs at least one block")
        idx, _ = self._row_index(blocks, approximate)
        hw = blocks[0].hw
        return float(network_features(self._matrix()[idx]) @ self._coef(hw)
                     + self._extra(hw)[idx].sum())

    def predict_many(self, archs: Sequence[Arch], *, classes: int = 1000, in_channels: int = 3,
                     approximate: bool = False) -> np.ndarray:
        """Calibrated latency (ms) of each arch, vectorized over archs: equal to :meth:`predict`."""
        if not archs:
            return np.zeros(0)
        lowered = [self._lower(a, classes, in_channels, approximate)[0] for a in archs]
        rows = self._matrix()
        lengths = np.fromiter((len(i) for i in lowered), dtype=np.intp, count=len(lowered))
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        flat = np.concatenate(lowered)
        feats = complete_features(np.add.reduceat(rows[flat], starts, axis=0))
        res = np.fromiter((a.resolution for a in archs), dtype=np.int64, count=len(archs))
        coefs = np.empty_like(feats)
        extra = np.zeros(len(flat))
        row_res = np.repeat(res, lengths)
        for r in np.unique(res):
            coefs[res == r] = self._coef(int(r))
            sel = row_res == r
            extra[sel] = self._extra(int(r))[flat[sel]]
        return np.einsum("ij,ij->i", feats, coefs) + np.add.reduceat(extra, starts)

    def features(self, arch: Arch, *, classes: int = 1000, in_channels: int = 3,
                 approximate: bool = False) -> np.ndarray:
        """The calibration features of ``arch`` (see :data:`nas.latency.FEATURES`)."""
        idx, _ = self._lower(arch, classes, in_channels, approximate)
        return network_features(self._matrix()[idx])

    def block_ms(self, arch: Arch, *, classes: int = 1000, in_channels: int = 3
                 ) -> tuple[list[str], np.ndarray]:
        """The block keys of ``arch`` in order and each block's isolated ms (the statistic)."""
        idx, _ = self._lower(arch, classes, in_channels, False)
        return [self._keys[i] for i in idx.tolist()], _isolated_ms(self._matrix()[idx])

    def naive_many(self, archs: Sequence[Arch], *, classes: int = 1000, in_channels: int = 3,
                   approximate: bool = False) -> np.ndarray:
        """The uncalibrated sum of isolated block timings per arch (for comparisons)."""
        rows = self._matrix()
        idx = [self._lower(a, classes, in_channels, approximate)[0] for a in archs]
        return np.array([rows[i, :len(KINDS)].sum() for i in idx])

    def __repr__(self) -> str:
        name = self.device.get("name")
        return f"LatencyTable(id={self.id!r}, entries={len(self)}, device={name!r})"

