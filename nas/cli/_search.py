"""``nas search CONFIG [--ray [ADDRESS]]`` and ``nas report RUN_DIR``.

Without ``--ray`` evaluations run in this process; with it, the same search loop sends them to a
Ray instance or cluster (:class:`nas.distributed.RayExecutor`), sized by the config's ``ray:``
section. Run folder, log, progress bar, results and report are the same either way.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nas.search import Run


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="run (or resume) a multi-objective search from a config")
    p.add_argument("config", help="search config: YAML file or Python script defining `config`")
    p.add_argument("--run-dir", help="run folder (default: runs/<config name>)")
    p.add_argument("--n-trials", type=int, help="total trials the study should reach")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in the run folder (re-runs an interrupted trial)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    group = p.add_argument_group("distributed (Ray)")
    group.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                       help="evaluate trials as Ray tasks: no ADDRESS starts a local Ray instance; "
                            "'auto' or HOST:PORT joins a running cluster (see the config's ray: section)")
    group.add_argument("--workers", type=int, metavar="N",
                       help="trials evaluated at once with --ray (default: the config's ray.workers, "
                            "else as many as the cluster fits)")
    p.set_defaults(func=cmd_search)

    r = sub.add_parser("report", help="rebuild a run's CSV files, plots and report.html")
    r.add_argument("run_dir", help="run folder written by `nas search`")
    r.set_defaults(func=cmd_report)


def _quiet_optuna() -> None:
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def _print_results(run: Run, files: dict[str, Path]) -> None:
    from nas.search import pareto_table

    trials = run.trials()
    states: dict[str, int] = {}
    for t in trials:
        states[t.state] = states.get(t.state, 0) + 1
    print(f"{len(trials)} trials ({', '.join(f'{k} {v}' for k, v in sorted(states.items()))}), "
          f"{len(run.feasible(trials))} feasible and scored")
    print(pareto_table(run, run.pareto(trials)))
    print(f"report: {files['report.html']}")


def _write_and_print(run_dir: Path) -> None:
    """Results files and the summary from one read of the run's trials."""
    from nas.search import SnapshotRun, write_results

    run = SnapshotRun(run_dir)
    _print_results(run, write_results(run))


def cmd_search(args: argparse.Namespace) -> int:
    from nas._errors import NasError
    from nas.distributed import RayExecutor, load_search_config
    from nas.search import run_search

    if args.n_trials is not None and args.n_trials < 1:
        raise NasError(f"--n-trials must be >= 1, got {args.n_trials}")
    if args.ray is None and args.workers is not None:
        raise NasError("--workers: only with --ray")
    _quiet_optuna()
    config, resources, workers = load_search_config(args.config)
    executor = None
    if args.ray is not None:  # without --ray a config's ray: section does not apply
        executor = RayExecutor(args.ray or None, workers=args.workers or workers, resources=resources)
    progress = False if args.no_progress else "bar" if sys.stderr.isatty() else "lines"
    previous = signal.signal(signal.SIGTERM, _interrupt)  # a scheduler's stop, handled as Ctrl-C
    try:
        run = run_search(config, args.run_dir, executor=executor, n_trials=args.n_trials, resume=args.resume,
                         progress=progress, report=False)
    except KeyboardInterrupt:
        print("nas: interrupted: the trials being evaluated are recorded 'interrupted'; run the same "
              "command with --resume to continue", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    _write_and_print(run.run_dir)
    return 0


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def cmd_report(args: argparse.Namespace) -> int:
    from nas.search import load_run

    _quiet_optuna()
    load_run(args.run_dir)  # a clear error for a folder that is not a run
    _write_and_print(Path(args.run_dir))
    return 0
