"""``nas search CONFIG --ray [ADDRESS] [--workers N]``: the search command, evaluating on Ray.

This module adds the two options to the ``search`` command that :mod:`nas.cli._search` defines (it
is listed after it in ``COMMAND_MODULES``) and wraps that command: without ``--ray`` the local
command runs unchanged; with ``--ray`` the same run folder, log, progress bar, results and report
come from :func:`nas.distributed.run_search_on_ray`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any


def add_parsers(sub: argparse._SubParsersAction) -> None:
    search = sub.choices.get("search")
    if search is None:
        raise RuntimeError("nas.cli._search_ray must come after nas.cli._search in COMMAND_MODULES")
    group = search.add_argument_group("distributed (Ray)")
    group.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                       help="evaluate trials as Ray tasks: no ADDRESS starts a local Ray instance; "
                            "'auto' or HOST:PORT joins a running cluster (see the config's ray: section)")
    group.add_argument("--workers", type=int, metavar="N",
                       help="trials evaluated at once with --ray (default: the config's ray.workers, "
                            "else as many as the cluster fits)")
    local: Callable[[argparse.Namespace], Any] = search.get_default("func")
    search.set_defaults(func=lambda args: cmd_search(args, local))


def cmd_search(args: argparse.Namespace, local: Callable[[argparse.Namespace], Any]) -> int:
    from nas._errors import NasError
    from nas.distributed import load_search_config, read_ray_section, run_search_on_ray

    if args.ray is None:
        if args.workers is not None:
            raise NasError("--workers: only with --ray")
        if read_ray_section(args.config) is None:
            return int(local(args) or 0)  # no Ray anywhere: the local command as it is
    from nas.cli._search import _print_results, _quiet_optuna
    from nas.search import run_search, write_results

    if args.n_trials is not None and args.n_trials < 1:
        raise NasError(f"--n-trials must be >= 1, got {args.n_trials}")
    _quiet_optuna()
    config, resources, workers = load_search_config(args.config)
    progress = not args.no_progress and sys.stderr.isatty()
    if args.ray is None:  # a config with a ray: section, run locally: the section does not apply
        run = run_search(config, args.run_dir, n_trials=args.n_trials, resume=args.resume, progress=progress,
                         report=False)
    else:
        run = run_search_on_ray(config, args.run_dir, address=args.ray or None, workers=args.workers or workers,
                                resources=resources, n_trials=args.n_trials, resume=args.resume,
                                progress=progress, report=False)
    files = write_results(run)
    _print_results(run.run_dir, files)
    return 0
