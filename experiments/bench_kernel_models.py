"""Kernel-level latency models: held-out error per table, and published whole-network latencies.

1. Per shipped table: the kernel model's k-fold held-out error on the table's measured keys
   (each key predicted by a model fitted without it), for every candidate family; the family
   with the lowest WAPE is the one the table uses. Phone tables fitted on nn-Meter's blocks also
   report the held-out error on those blocks.
2. Pixel 1 (TFLite fp32, one big core): the published whole-network latencies of MobileNetV2
   (22 width x resolution points), MnasNet-A1 (25) and MobileNetV3-Large (2), from
   ``experiments/data/published_latency/pixel1_tflite_fp32.csv``, predicted by each Pixel 1
   table (measured keys exact, the rest modelled), against MACs-proportional scaling anchored on
   ProxylessNAS-Mobile's published 80.67 ms (its per-op TFLite profile on the Pixel 1, one
   thread; not one of the 49).
3. Note10, resolutions the model did not see: for each of the Note10 table's five resolutions,
   a kernel model fitted on the keys of the other four prices every block of 200 random
   width-1.2 networks at the held-out one; scored against the sum of their measured keys.

Nothing is timed here: it reads shipped tables and published figures (seconds on one core).
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from _results import write_section

from nas.arch import Arch, reference
from nas.blocks import Block, arch_to_blocks
from nas.cost import arch_cost
from nas.latency import (
    FAMILIES,
    enumerate_blocks,
    error_stats,
    find_table,
    fit_kernel_model,
    list_tables,
    load_table,
    read_table,
)
from nas.lutkit import fit_table_kernels, sources_dir
from nas.space import get_space

HERE = Path(__file__).resolve().parent
PUBLISHED = HERE / "data" / "published_latency" / "pixel1_tflite_fp32.csv"
PIXEL1_TABLES = ("pixel1_cpu_tflite_proxyless_mbv2", "pixel1_cpu_tflite_nnmeter")
# ProxylessNAS-Mobile, TFLite fp32, Pixel 1, 1 thread: the whole-net figure of the per-op profile
# in ../shared/latency_sources/proxylessnas_pixel1/proxyless_mobile_tflite_per_op_profile.txt
ANCHOR_MS = 80.67
VARIANT = "proxyless_mbv2 + per-op profile (not shipped)"


def pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None or x != x else f"{x:.{digits}f}%"


def table_errors() -> list[str]:
    lines = ["| table | keys | family (chosen by WAPE) | " + " | ".join(
        f"{f} WAPE / MAPE / ±10%" for f in FAMILIES) + " | nn-Meter blocks MAPE |",
        "|---|---|---|" + "---|" * len(FAMILIES) + "---|"]
    for t in list_tables():
        km = t.kernels
        if km is None:
            lines.append(f"| `{t.id}` | {len(t)} | – (too few keys) |" + " – |" * (len(FAMILIES) + 1))
            continue
        held = km.held_out
        cells = [f"{pct(held[f].get('wape_pct'))} / {pct(held[f].get('mape_pct'))} / "
                 f"{pct(100 * held[f]['within10'] if 'within10' in held[f] else None, 0)}"
                 for f in FAMILIES]
        extra = held[km.family].get("extra_mape_pct")
        n = held[km.family].get("n", len(t))
        lines.append(f"| `{t.id}` | {n} | {km.family}{' (stored)' if t.kernel_model else ''} | "
                     + " | ".join(cells) + f" | {pct(extra)} |")
    return lines


def published_arch(row: dict[str, str]) -> Arch:
    text = reference(row["reference"]).text
    return Arch.parse(text.replace(":r224:w1|", f":r{row['resolution']}:w{row['width']}|", 1))


def pixel1() -> tuple[list[str], dict[str, Any]]:
    rows = list(csv.DictReader(PUBLISHED.open()))
    archs = [published_arch(r) for r in rows]
    y = np.array([float(r["pixel1_ms"]) for r in rows])
    fam = np.array([r["family"] for r in rows])
    macs = np.array([arch_cost(a).macs for a in archs], dtype=float)
    anchor = reference("proxylessnas_mobile").arch
    preds: dict[str, np.ndarray] = {"MACs-proportional": macs * ANCHOR_MS / arch_cost(anchor).macs}
    modelled: dict[str, int] = {}
    tables = {tid: load_table(tid) for tid in PIXEL1_TABLES}
    src = sources_dir()
    if src.is_dir():
        # a variant tried and not shipped: the per-op profile's 76 kernels as own keys too
        variant = read_table(find_table(PIXEL1_TABLES[0]))
        fit_table_kernels(variant, [src / "nnmeter_mobile_cpu" / "pixel1_lut_ln_v3.json"],
                          profiles=[(src / "proxylessnas_pixel1" /
                                     "proxyless_mobile_tflite_per_op_profile.txt", anchor)])
        tables[VARIANT] = variant
    for tid, t in tables.items():
        out = [t.predict(a, approximate=True) for a in archs]
        preds[tid] = np.array([p.latency_ms for p in out])
        modelled[tid + ":strict"] = sum(not p.modelled for p in out)
    families = [*dict.fromkeys(fam.tolist()), "all"]
    lines = ["| predictor | " + " | ".join(f"{f} (n={int((fam == f).sum()) if f != 'all' else len(y)})"
                                            " ±10% / MAPE" for f in families) + " |",
             "|---|" + "---|" * len(families)]
    data: dict[str, Any] = {}
    for name, p in preds.items():
        cells = []
        for f in families:
            sel = np.ones(len(y), bool) if f == "all" else fam == f
            s = error_stats(p[sel], y[sel])
            data[f"{name}/{f}"] = s
            cells.append(f"{pct(100 * s['within10'], 0)} / {pct(s['mape_pct'])}")
        label = f"`{name}`" if name in PIXEL1_TABLES else name
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    per_net = ["| net | width | px | published ms | " + " | ".join(f"`{n}`" if n in PIXEL1_TABLES
                                                                   else n for n in preds) + " |",
               "|---|---|---|---|" + "---|" * len(preds)]
    for i, r in enumerate(rows):
        per_net.append(f"| {r['family']} | {r['width']} | {r['resolution']} | {y[i]:g} | "
                       + " | ".join(f"{p[i]:.1f}" for p in preds.values()) + " |")
    data["strict"] = {t: modelled[t + ":strict"] for t in PIXEL1_TABLES}
    data["modelled"] = modelled
    return [*lines, "", "<details><summary>Per network</summary>", "", *per_net, "", "</details>"], data


def note10_resolutions(n_archs: int = 200, seed: int = 0) -> tuple[list[str], dict[str, Any]]:
    t = load_table("note10_cpu_tflite_ofa_mbv3_w12")
    keys = {k: e.ms for k, e in t.entries.items()}
    space = get_space("mobilenet_v3").with_resolutions(t.resolutions)
    lines = ["| held-out resolution | keys fitted on | networks | ±10% | MAPE | family |",
             "|---|---|---|---|---|---|"]
    data: dict[str, Any] = {}
    for r in sorted(t.resolutions):
        # every key a width-1.2 network at r can have is left out of the fit
        at_r = {b.key for b in enumerate_blocks(space, resolutions=[r], widths=[1.2])}
        train = {k: v for k, v in keys.items() if k not in at_r}
        km = fit_kernel_model([Block.parse(k) for k in train], list(train.values()))
        rng = np.random.default_rng(seed)
        test = [replace(space.sample(rng), resolution=r, width=1.2) for _ in range(n_archs)]
        blocks_of = [arch_to_blocks(a) for a in test]
        measured = np.array([sum(keys[b.key] for b in bl) for bl in blocks_of])
        pred = np.array([sum(km.predict(b) for b in bl) for bl in blocks_of])
        s = error_stats(pred, measured)
        data[str(r)] = s
        lines.append(f"| {r} | {len(train)} of {len(keys)} | {len(test)} | "
                     f"{pct(100 * s['within10'], 0)} | {pct(s['mape_pct'])} | {km.family} |")
    return lines, data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-results", action="store_true", help="print only; leave RESULTS.md")
    args = ap.parse_args()
    held = table_errors()
    pix, pix_data = pixel1()
    n10, _n10_data = note10_resolutions()
    body = "\n".join([
        "Kernel models (docs/kernel-models.md): per kernel group a nonnegative linear model of "
        "latency over MACs, input and output elements and count, fitted on a table's measured "
        "blocks; the family is chosen by 5-fold held-out WAPE (summed |error| over summed ms) on "
        "the table's keys. Tables without a stored model fit one from their entries at first "
        "use. Phone tables (stored models, `nas lut kernels TABLE --nnmeter FILE --write`) are "
        "fitted on nn-Meter's 1,800 measured MBConv/stem blocks of the same phone; "
        "`pixel1_cpu_tflite_proxyless_mbv2` then fits a device scale per kernel group on its 71 "
        "own keys (a TFLite of 2018, about 1.8x slower than nn-Meter's).",
        "", "### Held-out error of each table's kernel models on measured keys they did not see",
        "", *held, "",
        "Fitted tables (`*_fit_*`) hold per-block costs solved from whole networks, some near 0 "
        "ms: their MAPE is dominated by those keys, WAPE is not. The GPU batch-1 fits are "
        "launch-bound and not additive in kernels.",
        "", "### Pixel 1: published whole-network latencies (TFLite fp32, one big core)", "",
        f"Published figures: `{PUBLISHED.relative_to(HERE.parent)}` (MobileNetV2 and V3 from "
        "tensorflow/models research/slim/nets/mobilenet/README.md; MnasNet-A1 from "
        "tensorflow/tpu models/official/mnasnet/README.md). Each cell: share within ±10% / "
        "MAPE. Target ≥ 80% within ±10% and MAPE ≤ 8% over all 49. Priced strictly (every key "
        f"measured): {', '.join(f'`{k}` {v} of 49' for k, v in pix_data['strict'].items())}. "
        f"The last row, when the published data is present, is a variant not shipped: the "
        "ProxylessNAS-Mobile per-op TFLite profile's 76 kernels added to the table's own keys "
        "(`nas lut kernels ... --tflite-profile`); it did worse, on held-out keys too.",
        "", *pix, "",
        "Reading it: `pixel1_cpu_tflite_nnmeter` prices with nn-Meter's TFLite (2021), which "
        "runs these nets about 1.6x faster than the TFLite the 2018-19 figures were published "
        "with: it ranks them but is off in level, and no key of its own says otherwise. "
        "`pixel1_cpu_tflite_proxyless_mbv2` measured its keys with a TFLite of that era and "
        "sets the per-kernel-group scale from them. Its misses are mostly under-predictions at "
        "96-128 px and small widths (per-network and per-kernel fixed costs the 224 px keys do "
        "not show) and over-predictions of MobileNetV2 at width 0.75-1 at 224 px (its own "
        "measured 112 px blocks are slow).",
        "",
        "### Note10: resolutions the kernel model did not see", "",
        "The eight Once-for-All nets published for the Note10 (`note10_lat@{8..64}ms`) need "
        "their `net.config` files, which are not in the stored published data "
        "(`../shared/latency_sources`) or in han-cai/files; they are not scored here. Instead: "
        "per Note10 resolution, a kernel model fitted without any key a width-1.2 network at "
        "that resolution can have prices every block of 200 random such networks; scored "
        "against the sum of their measured keys (the Note10 table is additive: that sum is "
        "what it predicts).",
        "", *n10,
    ])
    print(body)
    if not args.no_results:
        write_section("bench_kernel_models", "Kernel-level latency models (`experiments/"
                      "bench_kernel_models.py`)", body)


if __name__ == "__main__":
    main()
