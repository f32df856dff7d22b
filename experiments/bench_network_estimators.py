"""How a whole network's latency is estimated on a shared machine: the fastest run against the
machine's typical state, on the same timings.

``nas lut validate`` and ``nas lut calibrate`` take a network's fastest sample over all its
rounds and divide it by the drift its chunk's anchor showed (fastest anchor sample now / at
build). That is the uncontended latency, which the tables' blocks are (``min`` statistic), but it
is an extreme value: it is only reached in the short spells when other tenants leave the core's
resources alone, and how many such spells a network happens to be timed in varies.

Here every burst of a network is paired with a burst of its config's anchor timed just before
it, so each round gives one network/anchor ratio at whatever state the machine was in. On the
same bursts, per network:

- ``min / all anchor bursts``: the network's fastest sample over all its rounds, divided by
  (the fastest anchor sample of its chunk / the anchor's time at build); the anchor here is
  timed before every network's burst, so 8 times as often as a network;
- ``paired median``: the median over rounds of (network burst min / anchor burst min), times the
  anchor's time at build: the network at the machine's typical state, relative to the anchor;
- ``min / own anchor bursts``: the network's fastest burst over the fastest of its own paired
  anchor bursts (as many as its own; ``nas lut validate`` times the anchor as one more network
  of the chunk, so this is the closest to it);
- ``p10 / p10``: the 10th percentile of the network's burst mins over that of its anchors'.

Each is scored for repeatability (pass against pass, every pass with freshly built sessions in a
new order) and against the shipped table (predicting the uncontended latency), plus the slope of
log measured on log predicted (1 when the estimate moves in proportion to the table). The first
table of the section needs no measuring: each shipped table's calibration networks, how much
slower their median sample is than their fastest (the machine's contention, as each runtime and
resolution feels it).

    python experiments/bench_network_estimators.py --tables cpu_onnxruntime_mobilenet_v3 \\
        cpu_onnxruntime_mobilenet_v2 cpu_torch_mobilenet_v2 --resolution 32 --n 32 --passes 3

(``--from-saved`` scores the saved bursts again without measuring; ``--note`` adds a paragraph.)

The networks are validation-stream networks of seed 555: neither set A (seed 1) nor set B
(seed 2026). Writes ``experiments/data/network_estimators/<table>.npz`` and the
``network_estimators`` section of ``experiments/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
from _results import write_section
from bench_network_rounds import pair_agreement

from nas.blocks import arch_to_blocks
from nas.latency import load_table
from nas.latency._anchor import table_anchors
from nas.latency._backends import burst_reps, make_runner, pinned, time_calls
from nas.latency._networks import (
    STREAM_VALIDATION,
    NetItem,
    network_timing,
    sample_items,
    table_settings,
)
from nas.latency._settings import Settings
from nas.latency._validate import accuracy

OUT = Path(__file__).resolve().parent / "data" / "network_estimators"
TABLES = ("cpu_torch_mobilenet_v3", "cpu_onnxruntime_mobilenet_v3", "cpu_torch_mobilenet_v2",
          "cpu_onnxruntime_mobilenet_v2")
CHUNK = 8


def contention_rows() -> list[str]:
    """Median / fastest sample of each shipped table's calibration networks (no measuring)."""
    lines = ["| table | res | calibration networks | measured at | median / fastest sample: "
             "p10 / p50 / p90 |", "|---|---|---|---|---|"]
    for tid in TABLES:
        table = load_table(tid)
        cal = table.calibration
        if cal is None:
            continue
        for res in sorted({int(s["resolution"]) for s in cal.samples}):
            ratio = [s["measured"]["median"] / s["measured"]["min"] for s in cal.samples
                     if int(s["resolution"]) == res]
            q = np.percentile(ratio, [10, 50, 90])
            lines.append(f"| `{tid}` | {res} | {len(ratio)} | {cal.meta.get('date', '?')} | "
                         f"{q[0]:.2f} / {q[1]:.2f} / {q[2]:.2f} |")
    return lines


def paired_bursts(items: list[NetItem], anchor: Any, settings: Settings, rounds: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One pass: per network and round, its burst's fastest sample and that of the anchor burst
    just before it; and per network, the fastest anchor sample of its chunk."""
    def runner(arch: Any) -> Any:
        return make_runner(arch_to_blocks(arch, classes=items[0].classes,
                                          in_channels=items[0].in_channels), settings)

    net = np.zeros((len(items), rounds))
    anc = np.zeros((len(items), rounds))
    chunk_min = np.zeros(len(items))
    order = rng.permutation(len(items))
    for start in range(0, len(order), CHUNK):
        idx = order[start:start + CHUNK]
        fns = [runner(items[i].arch) for i in idx]
        fa = runner(anchor)
        reps = [burst_reps(f, settings) for f in fns]
        reps_a = max(settings.min_reps, burst_reps(fa, settings) // 2)
        for r in range(rounds):
            for j in rng.permutation(len(idx)):
                anc[idx[j], r] = time_calls(fa, reps_a, settings).min()
                net[idx[j], r] = time_calls(fns[j], reps[j], settings).min()
        chunk_min[idx] = anc[idx].min()
    return net, anc, chunk_min


def estimators(net: np.ndarray, anc: np.ndarray, chunk_min: np.ndarray, at_build: float
               ) -> dict[str, np.ndarray]:
    """Each estimate of every network's latency from one pass's bursts (ms at build speed)."""
    return {
        "min / all anchor bursts": net.min(1) / (chunk_min / at_build),
        "paired median": np.median(net / anc, axis=1) * at_build,
        "min / own anchor bursts (closest to validate)": net.min(1) / anc.min(1) * at_build,
        "p10 / p10": np.percentile(net, 10, axis=1) / np.percentile(anc, 10, axis=1) * at_build,
    }


def score(tid: str, resolution: int, n: int, passes: int, rounds: int, seed: int
          ) -> dict[str, Any]:
    """Measure ``n`` networks of ``tid`` at ``resolution`` in ``passes`` passes; score each
    estimator."""
    table = load_table(tid)
    base = table_settings(table)
    settings = Settings(**{**base.to_dict(), **network_timing({"rounds": rounds})})
    items = [it for it in sample_items(table, n, seed, STREAM_VALIDATION)
             if it.arch.resolution == resolution]
    anchor, at_build = table_anchors(table.configs)[items[0].config]
    pred = table.predict_many([it.arch for it in items], classes=items[0].classes,
                              in_channels=items[0].in_channels)
    t0 = time.perf_counter()
    bursts = []
    with pinned(base):
        for p in range(passes):
            bursts.append(paired_bursts(items, anchor, settings, rounds,
                                        np.random.default_rng([seed, p])))
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{tid}_{resolution}.npz"
    np.savez(path, pred=pred, at_build=at_build, seconds=time.perf_counter() - t0,
             rounds=rounds, net=np.array([b[0] for b in bursts]),
             anc=np.array([b[1] for b in bursts]), chunk_min=np.array([b[2] for b in bursts]),
             archs=np.array([it.arch.text for it in items]))
    return summarize(tid, resolution, path)


def summarize(tid: str, resolution: int, path: Path) -> dict[str, Any]:
    """Score each estimator on the bursts one measurement saved (no measuring)."""
    data = np.load(path)
    pred, at_build = data["pred"], float(data["at_build"])
    bursts = list(zip(data["net"], data["anc"], data["chunk_min"], strict=True))
    per_pass = [estimators(*b, at_build) for b in bursts]
    rows = {}
    for name in per_pass[0]:
        est = [pp[name] for pp in per_pass]
        pass_tau, pass_diff = pair_agreement(est)
        combined = np.exp(np.mean(np.log(est), axis=0))
        acc = accuracy(pred, combined)
        rows[name] = {
            "pass_tau": pass_tau, "pass_diff_pct": pass_diff,
            "within_10pct": acc["within_10pct"], "kendall_tau": acc["kendall_tau"],
            "bias_pct": float((np.exp(np.median(np.log(pred / combined))) - 1) * 100),
            "slope": float(np.polyfit(np.log(pred), np.log(combined), 1)[0])}
    anc_all = data["anc"].ravel()
    return {"table": tid, "resolution": resolution, "n": len(pred), "passes": len(bursts),
            "rounds": int(data["rounds"]), "seconds": float(data["seconds"]), "rows": rows,
            "anchor_now_over_build": [float(anc_all.min() / at_build),
                                      float(np.median(anc_all) / at_build)]}


def render(results: list[dict[str, Any]], note: str = "") -> str:
    lines = ["Contention as each table's calibration networks felt it (how much slower a "
             "network's median sample was than its fastest):", "", *contention_rows(), "",
             f"Estimators on the same paired bursts ({results[0]['rounds']} rounds of 40 ms per "
             "network, each after a 20 ms burst of the anchor; chunks of 8). 'Pass vs pass': "
             "mean over pairs of "
             "passes. 'Against the table': the passes combined per network (geometric mean); "
             "bias is the median of predicted / measured − 1; slope is that of log measured "
             "on log predicted.", "",
             "| table | res | n × passes | anchor now / at build: fastest, median burst | "
             "estimator | pass vs pass: diff % / τ | **against the table: within ±10% / τ** "
             "| bias % | slope |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        drift = r["anchor_now_over_build"]
        for name, v in r["rows"].items():
            lines.append(
                f"| `{r['table']}` | {r['resolution']} | {r['n']} × {r['passes']} | "
                f"{drift[0]:.2f}, {drift[1]:.2f} | {name} | {v['pass_diff_pct']:.1f} / "
                f"{v['pass_tau']:.3f} | {100 * v['within_10pct']:.0f}% / "
                f"{v['kendall_tau']:.3f} | {v['bias_pct']:+.1f} | {v['slope']:.2f} |")
    took = ", ".join(f"{r['table']} {r['seconds']:.0f} s" for r in results)
    return "\n".join(lines) + f"\n\nMeasuring took {took}." + (f"\n\n{note}" if note else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tables", nargs="+", default=["cpu_onnxruntime_mobilenet_v3"])
    ap.add_argument("--resolution", type=int, default=32)
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--seed", type=int, default=555)
    ap.add_argument("--from-saved", action="store_true",
                    help="no measuring: score the bursts saved in data/network_estimators/")
    ap.add_argument("--note", default="", help="a paragraph appended to the section")
    args = ap.parse_args()
    if args.passes < 2:
        ap.error("--passes must be >= 2 (repeatability compares passes)")
    if args.from_saved:
        missing = [t for t in args.tables if not (OUT / f"{t}_{args.resolution}.npz").exists()]
        if missing:
            ap.error(f"--from-saved: no saved bursts for {', '.join(missing)} at "
                     f"{args.resolution} px in {OUT}")
        results = [summarize(t, args.resolution, OUT / f"{t}_{args.resolution}.npz")
                   for t in args.tables]
    else:
        results = [score(t, args.resolution, args.n, args.passes, args.rounds, args.seed)
                   for t in args.tables]
    text = render(results, args.note)
    write_section("network_estimators", "Whole-network estimators on a shared machine "
                  "(`experiments/bench_network_estimators.py`)", text)
    print(text)


if __name__ == "__main__":
    main()
