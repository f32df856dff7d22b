"""``nas search CONFIG`` and ``nas report RUN_DIR``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="run (or resume) a multi-objective search from a config")
    p.add_argument("config", help="search config: YAML file or Python script defining `config`")
    p.add_argument("--run-dir", help="run folder (default: runs/<config name>)")
    p.add_argument("--n-trials", type=int, help="total trials the study should reach")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in the run folder (re-runs an interrupted trial)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_search)

    r = sub.add_parser("report", help="rebuild a run's CSV files, plots and report.html")
    r.add_argument("run_dir", help="run folder written by `nas search`")
    r.set_defaults(func=cmd_report)


def _quiet_optuna() -> None:
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def _print_results(run_dir: Path, files: dict[str, Path]) -> None:
    from nas.search import load_run, pareto_table

    run = load_run(run_dir)
    trials = run.trials()
    states: dict[str, int] = {}
    for t in trials:
        states[t.state] = states.get(t.state, 0) + 1
    print(f"{len(trials)} trials ({', '.join(f'{k} {v}' for k, v in sorted(states.items()))}), "
          f"{len(run.feasible())} feasible and scored")
    print(pareto_table(run))
    print(f"report: {files['report.html']}")


def cmd_search(args: argparse.Namespace) -> int:
    from nas._errors import NasError
    from nas.search import load_config, run_search, write_results

    if args.n_trials is not None and args.n_trials < 1:
        raise NasError(f"--n-trials must be >= 1, got {args.n_trials}")
    _quiet_optuna()
    config = load_config(args.config)
    run = run_search(config, args.run_dir, n_trials=args.n_trials, resume=args.resume,
                     progress=not args.no_progress and sys.stderr.isatty(), report=False)
    files = write_results(run)
    _print_results(run.run_dir, files)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from nas.search import load_run, write_results

    _quiet_optuna()
    run = load_run(args.run_dir)
    files = write_results(run)
    _print_results(run.run_dir, files)
    return 0
