"""Running a search: run folder, study, resume, the loop on an executor, results.

``run_search`` keeps everything in the run folder (``run.json``, the SQLite study unless another
storage is configured, ``search.log``, results). Each trial is committed to the storage when it is
told, so a driver killed with SIGKILL loses only the trials it was evaluating; ``resume=True``
marks those FAIL ``interrupted``, queues their params, and goes on until the study has
``n_trials`` counted trials (interrupted ones do not count). Evaluations run in this process
unless an executor says otherwise (``nas.distributed.RayExecutor``: on Ray).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

from nas._errors import NasError
from nas.evaluators import AccuracyEvaluator
from nas.search._config import SearchConfig
from nas.search._driver import SearchDriver
from nas.search._executor import Evaluator, Executor, InProcessExecutor
from nas.search._loop import search_loop
from nas.search._problem import check_config
from nas.search._results import Run, SnapshotRun, load_run
from nas.search._rundir import RUN_JSON, driver_lock
from nas.search._study import driver_tag, open_study

LOG_FILE = "search.log"
_log = logging.getLogger("nas.search")


def default_run_dir(config: SearchConfig) -> Path:
    return Path("runs") / config.name


class _ConsoleHandler(logging.Handler):
    """Log records on stderr through tqdm, so a running progress bar is redrawn below them."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def _run_log(run_dir: Path) -> Iterator[None]:
    """Every ``nas.*`` record to ``search.log``; warnings and errors also on stderr, above the bar."""
    root = logging.getLogger("nas")
    to_file = logging.FileHandler(run_dir / LOG_FILE)
    to_file.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    console = _ConsoleHandler(logging.WARNING)
    console.setFormatter(logging.Formatter("nas: %(message)s"))
    level = root.level
    root.addHandler(to_file)
    root.addHandler(console)
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(to_file)
        root.removeHandler(console)
        root.setLevel(level)
        to_file.close()


def run_search(
    config: SearchConfig,
    run_dir: str | Path | None = None,
    *,
    executor: Executor | None = None,
    n_trials: int | None = None,
    resume: bool = False,
    evaluator: Evaluator | None = None,
    progress: bool | str = True,
    report: bool = True,
) -> Run:
    """Run (or resume, or join) a search and write its results; returns the :class:`Run`.

    With an external ``storage:`` other drivers may share the study; the returned run then holds
    the trials as they were when this driver finished (one consistent read), and
    :func:`load_run` reads anew.

    Args:
        config: the search config (not modified; ``n_trials`` makes a copy with that budget).
        run_dir: the run folder (default ``runs/<config.name>``).
        executor: where evaluations run (default: in this process, one at a time).
        n_trials: total trials the study should reach (overrides ``config.n_trials``).
        resume: continue the run in ``run_dir``, re-running interrupted trials.
        evaluator: ``(arch_text, reporter) -> EvalResult``; default: the configured evaluator.
        progress: a progress bar (``True``), one line per trial on stderr (``"lines"``), or nothing.
        report: write ``trials.csv``, ``pareto.csv``, plots and ``report.html`` at the end.
    """
    if n_trials is not None:
        config = config.replace(n_trials=n_trials)
    problem = check_config(config)
    run_path = Path(run_dir) if run_dir is not None else default_run_dir(config)
    if resume and not (run_path / RUN_JSON).is_file():  # before the lock makes the folder
        raise NasError(f"--resume: {run_path} holds no run to resume (no {RUN_JSON})")
    if evaluator is None and config.evaluator is not None and config.needs_accuracy:
        evaluator = AccuracyEvaluator(config.evaluator, dataset=config.dataset, space=config.space)
    shared = config.storage is not None  # other drivers may work on the study too
    with driver_lock(run_path), _run_log(run_path):
        for table_id, (n_modelled, n_keys) in problem.modelled.items():
            wape = (problem.tables[table_id].kernel_summary() or {}).get("held_out_wape_pct")
            held = "" if wape is None else f" (held-out error {wape:.1f}% WAPE on measured keys)"
            _log.warning(f"latency table {table_id}: {n_modelled} of the {n_keys} block keys this space can "
                         f"produce are not measured; their latency comes from the table's kernel model{held}")
        halving = getattr(config.evaluator, "halving", None) is not None
        workers_read_study = halving and executor is not None and not executor.in_process
        study, url, joined = open_study(problem, run_path, resume=resume, workers_read_study=workers_read_study)
        if joined:
            _log.info(f"joined study {study.study_name!r} in {url} ({len(study.trials)} trials so far)")
        driver = SearchDriver(problem, study, url, tag=driver_tag(run_path) if shared else None)
        if resume and (recovered := driver.recover_interrupted()):
            _log.info(f"resume: trials {recovered} were interrupted; re-running them")
        if not config.needs_accuracy or executor is None:
            if executor is not None:
                _log.info("no objective needs an evaluation: running on the driver alone")
            search_loop(driver, evaluator, InProcessExecutor(), progress=progress)
        else:
            with executor.started(problem, url):
                search_loop(driver, evaluator, executor, progress=progress)
    run = SnapshotRun(run_path) if shared else load_run(run_path)
    if report:
        from nas.search._report import write_results

        write_results(run)
    return run
