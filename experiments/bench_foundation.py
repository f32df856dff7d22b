"""Throughput of the foundation: cost model (archs/s) and arch encode/decode (archs/s).

Run: ``python experiments/bench_foundation.py`` (writes its section of experiments/RESULTS.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

import numpy as np
from _results import write_section

from nas.arch import Arch
from nas.blocks import arch_to_blocks
from nas.cost import arch_cost
from nas.space import get_space

SPACES = ("mobilenet_v3", "mobilenet_v2", "efficientnet", "fbnet")
N = 2000


def rate(fn: Callable[[Arch], object], archs: list[Arch], repeats: int = 3) -> float:
    """Best-of-``repeats`` items per second."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for a in archs:
            fn(a)
        best = min(best, time.perf_counter() - t0)
    return len(archs) / best


def main() -> None:
    rows = []
    for name in SPACES:
        space = get_space(name)
        rng = np.random.default_rng(0)
        archs = [space.sample(rng) for _ in range(N)]
        texts = [a.text for a in archs]
        jsons = [a.to_json() for a in archs]
        t0 = time.perf_counter()
        for _ in range(N):
            space.sample(rng)
        sample_rate = N / (time.perf_counter() - t0)
        rows.append((
            name,
            rate(partial(arch_cost, space=space), archs),
            rate(partial(arch_to_blocks, space=space), archs),
            rate(str, archs),
            len(texts) / _time(partial(_parse_all, texts)),
            len(jsons) / _time(partial(_from_json_all, jsons)),
            sample_rate,
        ))
    lines = ["| space | cost model (archs/s) | arch→blocks (archs/s) | encode text (archs/s) | "
             "decode text (archs/s) | decode JSON (archs/s) | sample (archs/s) |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r[0]} | " + " | ".join(f"{v:,.0f}" for v in r[1:]) + " |" for r in rows]
    body = (f"{N} sampled archs per space, single process, best of 3 passes. The cost model includes "
            "lowering the arch to its block list (MACs, params, peak activation memory).\n\n" + "\n".join(lines))
    write_section("foundation", "Foundation throughput (cost model, encode/decode)", body)
    print("\n".join(lines))


def _parse_all(texts: list[str]) -> list[Arch]:
    return [Arch.parse(t) for t in texts]


def _from_json_all(texts: list[str]) -> list[Arch]:
    return [Arch.from_json(t) for t in texts]


def _time(fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


if __name__ == "__main__":
    main()
