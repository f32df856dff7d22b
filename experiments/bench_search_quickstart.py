"""Wall time of the quickstart search (the README's first command, after installation).

Runs ``nas search experiments/quickstart.yaml`` in a fresh run folder as a subprocess, times it,
and records what the run found.

    python experiments/bench_search_quickstart.py
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_section

from nas.search import load_run

SECTION = "search_quickstart"
ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="experiments/quickstart.yaml")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "quickstart"
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "nas", "search", args.config, "--run-dir",
                               str(run_dir), "--no-progress"], cwd=ROOT, capture_output=True,
                              text=True, check=False)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"quickstart failed ({proc.returncode}):\n{proc.stderr}")
        run = load_run(run_dir)
        trials = run.trials()
        states: dict[str, int] = {}
        for t in trials:
            states[t.state] = states.get(t.state, 0) + 1
        trained = [t for t in trials if t.user_attrs.get("trained") and t.cached_from is None]
        eval_s = sum(t.user_attrs.get("eval_s", 0.0) for t in trained)
        front = run.pareto()
        best = max((t.values["accuracy"] for t in run.feasible()), default=float("nan"))
        untrained = [t for t in trials if t.user_attrs.get("trained") is False]
    cmd = "python experiments/bench_search_quickstart.py" + (
        f" --config {args.config}" if args.config != "experiments/quickstart.yaml" else "")
    body = (
        f"`{cmd}` runs `nas search {args.config} --run-dir DIR --no-progress` (the README's first "
        "command after installation) in a fresh folder. 1-min load average at start: "
        f"{load:.1f} (above ~0.5 other jobs shared the cores).\n\n"
        "| wall (s) | trials | states | trained | untrained (constraint) | training total (s) | "
        "Pareto front | best feasible accuracy |\n|---|---|---|---|---|---|---|---|\n"
        f"| {wall:.0f} | {len(trials)} | {', '.join(f'{k} {v}' for k, v in sorted(states.items()))} "
        f"| {len(trained)} | {len(untrained)} | {eval_s:.0f} | {len(front)} | {best:.3f} |")
    if not args.no_write:
        write_section(SECTION, "Quickstart wall time", body)
    print(proc.stdout)
    print(body)


if __name__ == "__main__":
    main()
