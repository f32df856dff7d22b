"""The local search loop: run folder, study, resume, progress bar, results.

``run_search`` keeps everything in the run folder (``run.json``, the SQLite study unless another
storage is configured, ``search.log``, results). Each trial is committed to the storage when it is
told, so a driver killed with SIGKILL loses only the trial it was running; ``resume=True`` marks
that trial FAIL ``interrupted``, queues its params, and goes on until the study has ``n_trials``
counted trials (interrupted ones do not count).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import optuna
from tqdm import tqdm

from nas._errors import NasError
from nas.evaluators import EvalResult, RungReporter
from nas.latency._registry import HOST_ENV, host_of
from nas.search._config import BUDGET_FIELDS, SearchConfig
from nas.search._driver import Candidate, SearchDriver, summary
from nas.search._evaluate import evaluate
from nas.search._problem import Problem, check_config
from nas.search._results import Run, load_run
from nas.search._rundir import (
    RUN_JSON,
    default_storage,
    driver_lock,
    read_run_info,
    run_info,
    storage_url,
    write_run_info,
)
from nas.search._samplers import make_sampler

Evaluator = Callable[[str, "RungReporter | None"], EvalResult]
LOG_FILE = "search.log"
_log = logging.getLogger("nas.search")


def default_run_dir(config: SearchConfig) -> Path:
    return Path("runs") / config.name


def make_storage(url: str) -> optuna.storages.BaseStorage:
    """An Optuna storage for ``url``.

    SQLite gets a write-ahead log with ``synchronous=NORMAL``: a commit is then a write to the
    log, not an fsync (Optuna commits every suggested parameter and attribute, and an fsync costs
    ~15 ms here), and a committed trial still survives the process being killed -- only a power
    cut or kernel crash could lose the last commits. It also waits for locks instead of failing
    at once, so a report can read the file while the search writes it.
    """
    if not url.startswith("sqlite:"):
        return optuna.storages.get_storage(url)
    from sqlalchemy import event

    storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})

    def pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    event.listen(storage.engine, "connect", pragmas)
    storage.engine.dispose()  # pooled connections were opened before the listener existed
    return storage


def _changed_fields(old: dict, new: dict) -> list[str]:
    return sorted(k for k in set(old) | set(new)
                  if k not in BUDGET_FIELDS and old.get(k) != new.get(k))


def _check_same_tables(problem: Problem, recorded: list[dict]) -> None:
    """A resumed run must score latency with the tables its trials were scored with: another
    table (rebuilt, recalibrated, or another host's variant of the id) would mix two devices'
    figures in one study."""
    old = {t["id"]: t for t in recorded}
    if changed := problem.changed_tables({i: t["content_hash"] for i, t in old.items()}):
        cur = changed[0]
        t = old[cur["id"]]
        fix = (f"this machine picks another host's variant of the id: resume with "
               f"{HOST_ENV}={host_of(t['path'])}" if t["path"] != cur["path"] else
               "the file changed since (rebuilt or recalibrated): restore it")
        raise NasError(
            f"--resume: latency table {t['id']!r} is not the one the run used (content hash "
            f"{t['content_hash']} from {t['path']}, now {cur['content_hash']} from "
            f"{cur['path']}); {fix}")


def open_study(problem: Problem, run_dir: Path, *, resume: bool) -> tuple[optuna.Study, str]:
    """Create (or, resuming, load) the study and write ``run.json``."""
    cfg = problem.config
    run_dir.mkdir(parents=True, exist_ok=True)
    has_run = (run_dir / RUN_JSON).is_file()
    if resume:
        if not has_run:
            raise NasError(f"--resume: {run_dir} holds no run to resume (no {RUN_JSON})")
        old = read_run_info(run_dir)
        changed = _changed_fields(old["config"], cfg.to_dict())
        if changed:
            raise NasError(f"--resume: the config differs from the run's in {', '.join(changed)}; "
                           f"only {', '.join(BUDGET_FIELDS)} may change when resuming")
        _check_same_tables(problem, old.get("tables", []))
        url, in_dir = storage_url(old, run_dir), bool(old.get("storage_in_run_dir"))
    else:
        if has_run:
            raise NasError(f"{run_dir} already holds a run; pass --resume to continue it, or "
                           "choose another --run-dir")
        url, in_dir = (cfg.storage, False) if cfg.storage else (default_storage(run_dir), True)
    storage = make_storage(url)
    directions = [optuna.study.StudyDirection.MAXIMIZE if d == "maximize"
                  else optuna.study.StudyDirection.MINIMIZE for d in cfg.directions]
    placeholder = optuna.samplers.RandomSampler()
    try:
        if resume:
            study = optuna.load_study(study_name=cfg.study, storage=storage, sampler=placeholder)
        else:
            study = optuna.create_study(study_name=cfg.study, storage=storage, directions=directions,
                                        sampler=placeholder)
    except KeyError:
        raise NasError(f"--resume: storage {url} has no study {cfg.study!r}") from None
    except optuna.exceptions.DuplicatedStudyError:
        raise NasError(f"storage {url} already has a study {cfg.study!r}; pass --resume, set "
                       "study_name, or use a fresh run folder") from None
    # A resumed sampler must not replay the first run's random stream (its candidates would all
    # be cache hits), so its seed moves on by the number of trials already in the study.
    n_existing = len(study.get_trials(deepcopy=False))
    sampler_cfg = replace(cfg.sampler, seed=cfg.sampler.seed + n_existing)
    study.sampler = make_sampler(sampler_cfg)
    write_run_info(run_dir, run_info(problem, url, in_dir))
    return study, url


def _describe(cand: Candidate, driver: SearchDriver) -> str:
    t = driver.study._storage.get_trial(cand.trial._trial_id)
    parts = [f"trial {t.number} {t.state.name}", f"arch={cand.arch.text}"]
    for name in driver.problem.config.objective_names:
        if name in t.user_attrs:
            parts.append(f"{name}={t.user_attrs[name]:.6g}")
    for key in ("cached_from", "stopped_at_epoch", "fail_reason"):
        if key in t.user_attrs:
            parts.append(f"{key}={t.user_attrs[key]}")
    parts.append(f"{time.perf_counter() - cand.started:.2f}s")
    return " ".join(parts)


def search_loop(driver: SearchDriver, evaluator: Evaluator | None, *, progress: bool = True) -> int:
    """Ask/evaluate/tell until the budget is spent; returns the number of trials run here."""
    cfg = driver.problem.config
    deadline = time.monotonic() + cfg.timeout_s if cfg.timeout_s else None
    done = driver.counted_trials()
    total = cfg.n_trials
    ran = 0
    bar = tqdm(total=total, initial=min(done, total or done), disable=not progress, unit="trial",
               dynamic_ncols=True, desc=cfg.name)
    try:
        while (total is None or done < total) and (deadline is None or time.monotonic() < deadline):
            cand = driver.ask()
            if cand.needs_eval:
                if evaluator is None:
                    raise NasError("evaluator: the config needs accuracy but no evaluator is set")
                try:
                    result = evaluator(cand.arch.text, driver.reporter(cand))
                except KeyboardInterrupt:
                    driver.interrupt(cand)
                    raise
                except BaseException as exc:
                    # A bug, not a property of the candidate: record it, then stop the search.
                    driver.fail(cand, f"error: {type(exc).__name__}: {exc}")
                    raise
                driver.tell(cand, result)
            ran += 1
            trials = driver.study.get_trials(deepcopy=False)  # one read for the budget and the bar
            done = driver.counted_trials(trials)
            _log.info(_describe(cand, driver))
            if progress:
                bar.n = min(done, total) if total else done
                bar.set_postfix(summary(driver.study, cfg.objective_names, cfg.directions, trials),
                                refresh=False)
                bar.refresh()
    finally:
        bar.close()
    return ran


def run_search(
    config: SearchConfig,
    run_dir: str | Path | None = None,
    *,
    n_trials: int | None = None,
    resume: bool = False,
    evaluator: Evaluator | None = None,
    progress: bool = True,
    report: bool = True,
) -> Run:
    """Run (or resume) a search and write its results; returns the :class:`Run`.

    Args:
        config: the search config (not modified; ``n_trials`` makes a copy with that budget).
        run_dir: the run folder (default ``runs/<config.name>``).
        n_trials: total trials the study should reach (overrides ``config.n_trials``).
        resume: continue the run in ``run_dir``, re-running an interrupted trial.
        evaluator: ``(arch_text, reporter) -> EvalResult``; default: the configured evaluator.
        progress: show a progress bar.
        report: write ``trials.csv``, ``pareto.csv``, plots and ``report.html`` at the end.
    """
    if n_trials is not None:
        config = config.replace(n_trials=n_trials)
    problem = check_config(config)
    run_path = Path(run_dir) if run_dir is not None else default_run_dir(config)
    if evaluator is None and config.evaluator is not None and config.needs_accuracy:
        evaluator = functools.partial(evaluate, config)
    with driver_lock(run_path):
        handler = logging.FileHandler(run_path / LOG_FILE)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        _log.addHandler(handler)
        _log.setLevel(logging.INFO)
        try:
            study, url = open_study(problem, run_path, resume=resume)
            driver = SearchDriver(problem, study, url)
            if resume:
                recovered = driver.recover_interrupted()
                if recovered:
                    _log.info(f"resume: trials {recovered} were interrupted; re-running them")
            search_loop(driver, evaluator, progress=progress)
        finally:
            _log.removeHandler(handler)
            handler.close()
    run = load_run(run_path)
    if report:
        from nas.search._report import write_results

        write_results(run)
    return run
