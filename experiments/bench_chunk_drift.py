"""Would dividing each build chunk's blocks by that chunk's anchor make the shipped tables better?

``nas lut build`` times the config's anchor network in every chunk of blocks (``chunk_ms``) but
stores the blocks as timed. This rebuilds each shipped CPU table's chunk order (the build's key
order is a seeded permutation, 24 keys per chunk: it reproduces the recorded chunk count), divides
every block by ``anchor in its chunk / anchor median``, refits the calibration on the stored
networks, and rescores every recorded validation (the CSVs of ``bench_latency.py``) with both
tables. No measuring; writes the ``build_chunk_drift`` section of RESULTS.md.

    python experiments/bench_chunk_drift.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from _results import write_section

from nas.latency import LatencyTable, read_table
from nas.latency._entry import Entry
from nas.latency._enumerate import enumerate_blocks
from nas.latency._networks import refit_calibration
from nas.latency._runs import score_runs
from nas.space import get_space

ROOT = Path(__file__).resolve().parent
TABLES = ["cpu_torch_mobilenet_v3", "cpu_onnxruntime_mobilenet_v3", "cpu_torch_mobilenet_v2",
          "cpu_onnxruntime_mobilenet_v2"]
RUNS = ["bench_latency_out", "bench_latency_out_2026-11-30", "bench_latency_out_passes3"]
CHUNK, SEED = 24, 0  # build_table's defaults, used by build_cpu_tables.sh


def chunk_of(table: LatencyTable) -> dict[str, tuple[int, int]]:
    """``key -> (config index, chunk index)`` in the order the build measured them."""
    seen: set[str] = set()
    out = {}
    for ci, c in enumerate(table.configs):
        blocks = enumerate_blocks(get_space(c["space"]), resolutions=[c["resolution"]],
                                  widths=c["widths"], classes=c["classes"],
                                  in_channels=c["in_channels"])
        order = np.random.default_rng(SEED).permutation(len(blocks))
        todo = [blocks[i].key for i in order if blocks[i].key not in seen]
        if -(-len(todo) // CHUNK) != len(c["anchor"]["chunk_ms"]):
            raise SystemExit(f"{table.where}: cannot reproduce config {ci}'s chunk order")
        out.update({k: (ci, j // CHUNK) for j, k in enumerate(todo)})
        seen.update(todo)
    if seen != set(table.entries):
        raise SystemExit(f"{table.where}: the reproduced keys are not the table's keys")
    return out


def normalized(path: Path) -> LatencyTable:
    table = read_table(path)
    for key, (ci, j) in chunk_of(table).items():
        a = table.configs[ci]["anchor"]
        f = a["chunk_ms"][j] / a["ms"]
        e = table.entries[key]
        table.add_entry(key, Entry(**{**e.to_dict(), **{s: getattr(e, s) / f for s in (
            "median", "mean", "p90", "std", "min") if getattr(e, s) is not None}}))
    refit_calibration(table)
    return table


def main() -> None:
    rows, deltas = [], []
    for tid in TABLES:
        path = ROOT.parent / "latency_tables" / f"{tid}.json"
        orig, norm = read_table(path), normalized(path)
        spread = {str(c["resolution"]): c["anchor"]["spread_pct"] for c in orig.configs}
        for run in RUNS:
            csv = ROOT / run / f"validate_{tid}.csv"
            if not csv.is_file():
                continue
            a, b = score_runs(orig, [csv]), score_runs(norm, [csv])
            for res, g in a["per_resolution"].items():
                x, y = g["model"], b["per_resolution"][res]["model"]
                deltas.append(y["kendall_tau"] - x["kendall_tau"])
                rows.append(f"| `{tid}` | {res} | {spread[res]:.0f} | `{run}` | "
                            f"{x['within_10pct']:.0%} / {x['kendall_tau']:.3f} | "
                            f"{y['within_10pct']:.0%} / {y['kendall_tau']:.3f} | "
                            f"{deltas[-1]:+.3f} |")
    body = "\n".join([
        "`python experiments/bench_chunk_drift.py` (no measuring): each shipped table's blocks "
        "divided by their build chunk's anchor time / the anchor's median, calibration refit on "
        "its stored networks, every recorded validation rescored. 'anchor spread' is how much "
        f"the anchor's time varied between the build's chunks. τ change over {len(deltas)} rows: "
        f"{min(deltas):+.3f} to {max(deltas):+.3f}, mean {np.mean(deltas):+.3f}. Not applied: "
        "a network's blocks come from many chunks, so their chunk drift mostly averages out; "
        "`nas lut build` warns instead when the spread passes 20%.",
        "",
        "| table | res | anchor spread during build % | validation | as shipped: within ±10% / τ "
        "| blocks divided by chunk anchor: within ±10% / τ | τ change |",
        "|---|---|---|---|---|---|---|", *rows])
    write_section("build_chunk_drift", "Build chunk drift: dividing blocks by their chunk's anchor",
                  body)
    print(body)


if __name__ == "__main__":
    main()
