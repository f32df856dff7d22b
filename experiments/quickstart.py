"""The quickstart search written as a Python config: the same typed config as quickstart.yaml.

    python experiments/quickstart.py [RUN_DIR]          # runs the search (default runs/quickstart_py)
    nas search experiments/quickstart.py --run-dir D    # the CLI loads `config` from this file

Loading this file as a config (``nas search``) only builds ``config``; running it as a script
also runs the search through the Python API.
"""

from __future__ import annotations

import sys

from nas.search import (
    HalvingConfig,
    SamplerConfig,
    SearchConfig,
    TrainConfig,
    pareto_table,
    run_search,
)

LATENCY = "latency:cpu_torch_mobilenet_v3"

config = SearchConfig(
    name="quickstart_py",
    space="mobilenet_v3",
    resolutions=(32,),
    dataset="digits",
    objectives=("accuracy", LATENCY, "macs"),
    constraints=(f"{LATENCY} <= 12",),
    sampler=SamplerConfig("nsga2", seed=0, population_size=8),
    n_trials=24,
    evaluator=TrainConfig(
        epochs=2, batch_size=64, optimizer="adamw", lr=3e-3, lr_schedule="cosine",
        train_subset=640, seed=0, threads=1, halving=HalvingConfig(rungs=(1,), eta=2, min_trials=4)),
)

if __name__ == "__main__":
    run = run_search(config, sys.argv[1] if len(sys.argv) > 1 else None)
    print(pareto_table(run))
    print(f"report: {run.run_dir / 'report.html'}")
