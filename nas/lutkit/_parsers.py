"""Readers of the published per-block tables: each turns a file into :class:`SourceRecord` s.

Formats (see ``../shared/latency_sources/README.md``):

* ``ofa``: Once-for-All's Note10 YAML tables (``<R>_lookup_table.yaml``), keys such as
  ``expanded_conv-input:56x56x32-output:28x28x48-expand:128-kernel:3-stride:2-idskip:0-se:1-hs:0``
  whose ``expand`` is the absolute middle-channel count.
* ``proxylessnas``: ProxylessNAS's ``mobile_trim.yaml``, the same grammar with ``expand`` the
  ratio to the input channels and no SE or h-swish fields; its ``Logits`` key times the average
  pool and the classifier together and is split by the per-op TFLite profile next to it.
* ``dpu-csv``: the Xilinx DPU block CSV (one row per block, repeats allowed).
* ``nnmeter``: nn-Meter's flat JSON ``key -> ms``.
"""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path
from typing import Any

from nas._errors import NasError
from nas._yaml import read_yaml
from nas.lutkit._mapping import Candidate, SourceRecord, Stats
from nas.space import make_divisible

_SHAPE = re.compile(r"^(\d+)x(\d+)x(\d+)$")
PROFILE_NAME = "proxyless_mobile_tflite_per_op_profile.txt"


def _fields(key: str) -> tuple[str, dict[str, str]] | None:
    """``Name-a:1-b:2`` -> ("Name", {"a": "1", "b": "2"}); None when the key has another shape."""
    name, *rest = key.split("-")
    out = {}
    for part in rest:
        k, sep, v = part.partition(":")
        if not sep:
            return None
        out[k] = v
    return name, out


def _shape(text: str | None) -> tuple[int, int] | None:
    """``7x7x1152`` -> (side, channels)."""
    m = _SHAPE.match(text or "")
    if m is None or m[1] != m[2]:
        return None
    return int(m[1]), int(m[3])


def read_yaml_table(path: Path) -> dict[str, dict[str, Any]]:
    data = read_yaml(path, "table")
    if not isinstance(data, dict) or not data:
        raise NasError(f"{path}: expected a YAML mapping of block keys to {{count, mean, ...}}")
    for key, value in data.items():
        if not isinstance(value, dict) or not isinstance(value.get("mean"), int | float):
            raise NasError(f"{path}: key {key!r} has no numeric 'mean' (got {value!r})")
    return data


def _hancai_stats(value: dict[str, Any]) -> Stats:
    std = value.get("std")
    if std is None and isinstance(value.get("var"), int | float):
        std = math.sqrt(max(float(value["var"]), 0.0))
    return Stats(float(value["mean"]), int(value.get("count", 1) or 1),
                 float(std) if std is not None else None)


def hancai_records(path: Path, *, ratio_expand: bool, act: str, head_act: str,
                   logits_split: float | None) -> list[SourceRecord]:
    """Records of a han-cai style YAML table (Once-for-All or ProxylessNAS)."""
    out = []
    for key, value in read_yaml_table(path).items():
        rec = SourceRecord(str(key))
        stats = _hancai_stats(value)
        parsed = _fields(str(key))
        shapes = (None, None) if parsed is None else (_shape(parsed[1].get("input")),
                                                      _shape(parsed[1].get("output")))
        if parsed is None or shapes[0] is None:
            rec.reason = "unrecognized key (expected Name-input:HxWxC-output:...)"
            out.append(rec)
            continue
        name, f = parsed
        (hw, cin), outp = shapes[0], shapes[1]
        logits_out = f.get("output", "")
        if name == "expanded_conv" and outp is not None:
            try:
                k, s = int(f["kernel"]), int(f["stride"])
                e = float(f["expand"])
                residual = f["idskip"] == "1"
            except (KeyError, ValueError):
                rec.reason = "expanded_conv key lacks kernel, stride, expand or idskip"
                out.append(rec)
                continue
            mid = (cin if e == 1 else make_divisible(cin * e, 8)) if ratio_expand else int(e)
            block_act = ("hswish" if f.get("hs") == "1" else "relu") if "hs" in f else act
            se = f.get("se") == "1" if "se" in f else False
            rec.parts.append((Candidate("mbconv", cin, outp[1], hw, k, s, block_act, mid, se,
                                        residual), stats))
        elif name == "Conv" and outp is not None:
            stride = round(hw / outp[0])
            rec.parts.append((Candidate("conv", cin, outp[1], hw, 3, stride, head_act), stats))
        elif name in ("Conv_1", "Conv_2") and outp is not None:
            kind = "fc" if hw == 1 else "conv"
            rec.parts.append((Candidate(kind, cin, outp[1], hw, 1, 1, head_act), stats))
        elif name == "AvgPool2D":
            rec.parts.append((Candidate("pool", cin, cin, hw), stats))
        elif name == "Logits" and logits_out.isdigit():
            classes = int(logits_out)
            if hw == 1:
                rec.parts.append((Candidate("fc", cin, classes, 1, act="none"), stats))
            elif logits_split is None:
                rec.reason = (f"Logits at {hw}x{hw} times pool and classifier together; the per-op "
                              f"profile {PROFILE_NAME} needed to split it is not next to {path.name}")
            else:
                rec.parts.append((Candidate("pool", cin, cin, hw), stats.scaled(logits_split)))
                rec.parts.append((Candidate("fc", cin, classes, 1, act="none"),
                                  stats.scaled(1 - logits_split)))
                rec.note = (f"one source key timing pool + classifier, split {logits_split:.4f} / "
                            f"{1 - logits_split:.4f} in the ratio of the per-op profile "
                            f"({PROFILE_NAME})")
        else:
            rec.reason = f"unknown block name {name!r}"
        out.append(rec)
    if not any(r.parts for r in out):
        raise NasError(f"{path}: no key in the han-cai lookup-table grammar "
                       "(e.g. 'expanded_conv-input:56x56x24-output:...'); is --format right?")
    return out


def profile_pool_share(path: Path) -> float | None:
    """Average pool's share of (pool + classifier) in a TFLite per-op profile; None if absent."""
    if not path.is_file():
        return None
    times: dict[str, float] = {}
    for line in path.read_text().splitlines():
        cols = line.split()
        for tag, name in (("Logits/AvgPool]", "pool"), ("Logits/Conv2d_1c_1x1/BiasAdd]", "fc")):
            if cols and cols[-1].endswith(tag) and name not in times:
                try:
                    times[name] = float(cols[3])  # [node type] [start] [first] [avg ms] ...
                except (IndexError, ValueError):
                    raise NasError(f"{path}: cannot read the avg ms of {cols[-1]}") from None
    if set(times) != {"pool", "fc"} or times["pool"] + times["fc"] <= 0:
        raise NasError(f"{path}: no Logits/AvgPool and Logits/Conv2d_1c_1x1 rows in the run order")
    return times["pool"] / (times["pool"] + times["fc"])


DPU_COLUMNS = ("block", "type", "in_hw", "in_c", "out_hw", "out_c", "kernel", "expand", "stride",
               "idskip", "se", "act", "runs", "min_ms", "avg_ms")
_DPU_ACT = {"relu": "relu", "h_swish": "hswish", "": "none"}


def dpu_records(path: Path) -> list[SourceRecord]:
    """Records of the Xilinx DPU block CSV; repeated rows of one block are kept (merged later)."""
    try:
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise NasError(f"{path}: cannot read ({exc.strerror})") from None
    missing = [c for c in DPU_COLUMNS if not rows or c not in rows[0]]
    if missing:
        raise NasError(f"{path}: not a DPU block CSV; missing column(s) {missing}")
    out = []
    for i, row in enumerate(rows):
        rec = SourceRecord(f"{row['block']} (row {i + 2}, {row.get('source_dir', '')})")
        try:
            stats = Stats(float(row["avg_ms"]), int(row["runs"]), None, float(row["min_ms"]))
            kind, cin = row["type"], int(row["in_c"])
            cout = int(row["out_c"])
            hw = int(row["in_hw"]) if row["in_hw"] else 1
            act = _DPU_ACT.get(row["act"])
        except ValueError as exc:
            raise NasError(f"{path}: row {i + 2}: {exc}") from None
        if act is None:
            rec.reason = f"unknown activation {row['act']!r}"
        elif kind == "linear":
            rec.parts.append((Candidate("fc", cin, cout, 1, act="none"), stats))
        elif kind == "conv" and hw == 1:
            rec.parts.append((Candidate("fc", cin, cout, 1, act=act), stats))
        elif kind == "conv":
            k = int(row["kernel"])
            stride = 2 if k == 3 and cin == 3 else 1  # the stem halves the input side
            stem = cin == 3
            rec.parts.append((Candidate("conv", cin, cout, hw, k, stride, None if stem else act),
                              stats))
            if stem and act != "hswish":
                rec.note = (f"the source labels the stem activation {row['act']!r}; mapped onto "
                            "the space's stem, whose activation is h-swish")
        elif kind == "mbconv":
            e = float(row["expand"])
            mid = cin if e == 1 else make_divisible(cin * e, 8)
            rec.parts.append((Candidate("mbconv", cin, cout, hw, int(row["kernel"]),
                                        int(row["stride"]), act, mid, row["se"] == "1",
                                        row["idskip"] == "1"), stats))
        else:
            rec.reason = f"unknown block type {kind!r}"
        out.append(rec)
    if not any(r.parts for r in out):
        raise NasError(f"{path}: no row describes a block; is --format right?")
    return out


_NN_CONV = re.compile(r"^conv_(\d+)_(\d+)_(\d+)_(\d+)_(\d+)_hard_swish_(\d+)_(se|nose)$")
_NN_FIRST = re.compile(r"^firstconv_(\d+)_(\d+)_(\d+)_(\d+)_(\d+)$")
_NN_OTHER = {"transds": "transformer downsampling block", "transattn": "transformer attention",
             "transffn": "transformer feed-forward", "mbpool": "MBConv + pool + 1984-wide head"}


def nnmeter_records(path: Path, runs: int) -> list[SourceRecord]:
    """Records of an nn-Meter ``key -> ms`` JSON table."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise NasError(f"{path}: cannot read ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise NasError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not data:
        raise NasError(f"{path}: expected a JSON object mapping block keys to milliseconds")
    out = []
    for key, ms in data.items():
        rec = SourceRecord(str(key))
        if isinstance(ms, bool) or not isinstance(ms, int | float) or not ms >= 0:
            raise NasError(f"{path}: key {key!r} has {ms!r}, not a latency in ms")
        stats = Stats(float(ms), runs)
        if m := _NN_FIRST.match(key):
            hw, cin, cout, s, k = map(int, m.groups())
            rec.parts.append((Candidate("conv", cin, cout, hw, k, s, "hswish"), stats))
        elif m := _NN_CONV.match(key):
            hw, cin, cout, e, s, k = map(int, m.groups()[:6])
            mid = cin if e == 1 else make_divisible(cin * e, 8)
            rec.parts.append((Candidate("mbconv", cin, cout, hw, k, s, "hswish", mid,
                                        m[7] == "se"), stats))
        else:
            kind = key.split("_")[0]
            rec.reason = (f"{_NN_OTHER[kind]}: no such block kind in hwnas" if kind in _NN_OTHER
                          else "unrecognized key")
        out.append(rec)
    if not any(r.parts for r in out):
        raise NasError(f"{path}: no nn-Meter conv_* or firstconv_* key; is --format right?")
    return out
