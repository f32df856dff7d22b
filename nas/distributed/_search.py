"""``nas search CONFIG --ray``: the search runner with evaluations dispatched as Ray tasks.

Everything but the loop is the local runner's (:mod:`nas.search`): the checked problem, the run
folder and its lock, ``run.json``, the study and sampler, :class:`~nas.search.SearchDriver` (cheap
scores, hard constraints and the arch cache on the driver), ``search.log``, the progress bar, the
results and the report. Only candidates that need training leave the driver: each is a Ray task
``evaluator(arch_text, reporter)`` with the configured resources, up to ``workers`` at once.

Every trial this driver asks carries user attr ``ray_driver`` (this host and run folder). On
``--resume`` the RUNNING trials it left (killed driver) are recorded FAIL ``interrupted`` and their
params queued, so they run again; RUNNING trials of other drivers sharing the study are left alone.
A run folder with an external storage (``storage:`` URL) whose study already exists joins it, so
several drivers can work on one study.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import socket
import sys
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from nas._errors import NasError
from nas.distributed._cluster import LOCAL, check_reachable, parse_address, ray_cluster
from nas.distributed._dispatch import DispatchStats, Job, run_trials
from nas.distributed._resources import TrialResources
from nas.distributed._storage import open_storage

DRIVER_ATTR = "ray_driver"
CONFIG_HASH_ATTR = "hwnas_config_hash"
TABLES_ATTR = "hwnas_tables"  # table id -> content hash the study's latencies were scored with
_log = logging.getLogger("nas.search")
_dlog = logging.getLogger("nas.distributed")


class TaggingStudy(optuna.Study):
    """The run's study; each trial it asks is tagged with the driver id as its first attribute."""

    def __init__(self, study: optuna.Study, tag: str) -> None:
        super().__init__(study_name=study.study_name, storage=study._storage, sampler=study.sampler)
        self.tag = tag

    def ask(self, fixed_distributions: Any = None) -> optuna.Trial:
        trial = super().ask(fixed_distributions)
        trial.set_user_attr(DRIVER_ATTR, self.tag)
        return trial


class _ConsoleHandler(logging.Handler):
    """Log records on stderr through tqdm, so a running progress bar is redrawn below them."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:
            self.handleError(record)


def driver_tag(run_dir: Path) -> str:
    """This driver's id: stable across a resume of the same run folder on the same host."""
    return f"{socket.gethostname()}:{run_dir.resolve()}"


def recover_interrupted(study: optuna.Study, tag: str) -> list[int]:
    """Record this driver's (or untagged) RUNNING trials FAIL ``interrupted``; queue their params.

    Trials tagged by another driver are that driver's business (it may be running them now).
    """
    from nas.search import _attrs as A

    storage, recovered = study._storage, []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if t.user_attrs.get(DRIVER_ATTR, tag) != tag:
            continue
        storage.set_trial_user_attr(t._trial_id, A.FAIL_REASON, A.INTERRUPTED)
        storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        if t.params:
            study.enqueue_trial(dict(t.params), skip_if_exists=False)
        recovered.append(t.number)
    return recovered


# -- on the worker ------------------------------------------------------------------------------

# Evaluators by content, per worker process: a reused worker keeps its loaded dataset (an
# evaluator drops its data when pickled). Bounded: a few distinct evaluators at most.
_EVALUATORS: OrderedDict[str, Any] = OrderedDict()
_MAX_EVALUATORS = 4


def evaluate_candidate(evaluator: Any, arch_text: str, reporter: Any) -> Any:
    """The Ray task body: ``evaluator(arch_text, reporter)`` with the worker's cached evaluator."""
    key = hashlib.sha256(pickle.dumps(evaluator)).hexdigest()
    cached = _EVALUATORS.get(key)
    if cached is None:
        _EVALUATORS[key] = cached = evaluator
        while len(_EVALUATORS) > _MAX_EVALUATORS:
            _EVALUATORS.popitem(last=False)
    return cached(arch_text, reporter)


# -- on the driver ------------------------------------------------------------------------------

def ray_search_loop(driver: Any, evaluator: Any, *, workers: int, resources: TrialResources,
                    progress: bool = True) -> DispatchStats:
    """The local runner's ``search_loop`` with up to ``workers`` evaluations in flight on Ray.

    The budget counts finished trials plus those in flight, so ``n_trials`` is not overshot.
    A candidate whose arch is already being trained shares that result (user attr
    ``cached_from``). On an exception or interrupt here, in-flight trials are recorded
    ``interrupted`` with their params queued (a resume re-runs them) before it propagates.
    """
    from tqdm import tqdm

    from nas.search import _attrs as A
    from nas.search._driver import summary
    from nas.search._runner import _describe

    cfg = driver.problem.config
    if cfg.needs_accuracy and evaluator is None:
        raise NasError("evaluator: the config needs accuracy but no evaluator is set")
    deadline = time.monotonic() + cfg.timeout_s if cfg.timeout_s else None
    total = cfg.n_trials
    pending: dict[int, Any] = {}
    training: dict[str, int] = {}  # arch hash -> number of the trial training it
    shared_from: dict[int, int] = {}
    done = driver.counted_trials()
    bar = tqdm(total=total, initial=min(done, total or done), disable=not progress, unit="trial",
               dynamic_ncols=True, desc=cfg.name)

    def show(cand: Any) -> None:
        _log.info(_describe(cand, driver))
        finished = driver.counted_trials()
        bar.n = min(finished, total) if total else finished
        bar.set_postfix(summary(driver.study, cfg.objective_names, cfg.directions), refresh=False)
        bar.refresh()

    def budget_left() -> bool:
        if deadline is not None and time.monotonic() >= deadline:
            return False
        return total is None or driver.counted_trials() + len(pending) < total

    def prepare(_study: optuna.Study) -> Job | None:
        while budget_left():
            cand = driver.ask()
            if not cand.needs_eval:  # broke a constraint, was cached, or needs no accuracy: told
                show(cand)
                continue
            pending[cand.number] = cand
            key = cand.arch.hash
            if key in training:
                shared_from[cand.number] = training[key]
            else:
                training[key] = cand.number
            return Job(cand.trial, (evaluator, cand.arch.text, driver.reporter(cand)), key=key)
        return None

    def release(trial: optuna.Trial) -> Any:
        cand = pending.pop(trial.number)
        if training.get(cand.arch.hash) == cand.number:
            del training[cand.arch.hash]
        return cand

    def tell(_study: optuna.Study, trial: optuna.Trial, result: Any) -> None:
        cand = release(trial)
        if trial.number in shared_from:
            trial.set_user_attr(A.CACHED_FROM, shared_from.pop(trial.number))
        driver.tell(cand, result)
        show(cand)

    def fail(_study: optuna.Study, trial: optuna.Trial, reason: str) -> None:
        cand = release(trial)
        shared_from.pop(trial.number, None)
        driver.fail(cand, reason)
        show(cand)

    try:
        return run_trials(driver.study, prepare, evaluate_candidate, workers=workers, resources=resources,
                          tell=tell, fail=fail)
    except BaseException:
        for cand in list(pending.values()):
            try:
                driver.interrupt(cand)
            except Exception as exc:  # keep the original error; the resume recovers this trial
                _dlog.error("trial %d: could not record it as interrupted: %s", cand.number, exc)
        raise
    finally:
        bar.close()


def _open_or_join(problem: Any, run_path: Path, resume: bool) -> tuple[optuna.Study, str, bool]:
    """The local runner's ``open_study``; a fresh folder with an external storage joins an existing study."""
    from nas.search import open_study
    from nas.search._rundir import RUN_JSON, run_info, write_run_info

    cfg = problem.config
    external = cfg.storage is not None
    if external:
        open_storage(cfg.storage)  # creates Optuna's schema, riding out a race with another driver
    if resume or not external or (run_path / RUN_JSON).is_file():
        study, url = open_study(problem, run_path, resume=resume)
        joined = False
    else:
        try:
            study, url = open_study(problem, run_path, resume=False)
            joined = False
        except NasError:
            if cfg.study not in {s.study_name for s in optuna.get_all_study_summaries(open_storage(cfg.storage))}:
                raise
            write_run_info(run_path, run_info(problem, cfg.storage, False))
            study, url = open_study(problem, run_path, resume=True)
            joined = True
    mine = cfg.problem_hash()
    theirs = study.user_attrs.get(CONFIG_HASH_ATTR)
    if theirs is None:
        study.set_user_attr(CONFIG_HASH_ATTR, mine)
    elif theirs != mine:
        raise NasError(f"study {cfg.study!r} in {url} was created for another problem (config hash {theirs}, "
                       f"this config {mine}); set another study_name")
    _check_study_tables(study, url, problem)
    return study, url, joined


def _check_study_tables(study: optuna.Study, url: str, problem: Any) -> None:
    """Every driver of a shared study must score latency with the same tables: drivers on
    different CPUs would otherwise each pick their own CPU's host variant of a table id."""
    from nas.latency._registry import HOST_ENV

    theirs = study.user_attrs.get(TABLES_ATTR)
    if theirs is None:
        study.set_user_attr(TABLES_ATTR, {t["id"]: t["content_hash"] for t in problem.table_info()})
        return
    if changed := problem.changed_tables(theirs):
        t = changed[0]
        raise NasError(
            f"study {study.study_name!r} in {url} scores latency with table {t['id']!r} of "
            f"content hash {theirs[t['id']]}; this driver's is {t['content_hash']} "
            f"({t['path']}): a driver on another CPU picks that CPU's host variant, or the "
            f"table was rebuilt; give every driver the same table ({HOST_ENV}=NAME or "
            f"{HOST_ENV}=default)")


def run_search_on_ray(config: Any, run_dir: str | Path | None = None, *, address: str | None = None,
                      workers: int | None = None, resources: TrialResources | None = None,
                      n_trials: int | None = None, resume: bool = False, evaluator: Any = None,
                      progress: bool = True, report: bool = True, num_cpus: int | None = None) -> Any:
    """Run (or resume, or join) a search with trials evaluated on Ray; returns the :class:`~nas.search.Run`.

    The returned run holds the trials as they were when this driver finished (one consistent read,
    as other drivers of a shared study may still be working); ``nas.search.load_run`` reads anew.

    Args:
        config: The :class:`~nas.search.SearchConfig` (not modified).
        run_dir: Run folder (default ``runs/<config.name>``).
        address: ``None`` (a local Ray instance), ``"auto"`` or ``HOST:PORT``.
        workers: Trials at once (default: as many as the cluster fits with ``resources``).
        resources: Per-trial Ray resources and retry bound (default 1 CPU, 2 retries).
        n_trials, resume, evaluator, progress, report: as :func:`nas.search.run_search`.
        num_cpus: CPUs of a local instance (default: all).
    """
    from nas.evaluators import AccuracyEvaluator
    from nas.search import check_config, default_run_dir, write_results
    from nas.search._rundir import driver_lock
    from nas.search._runner import LOG_FILE

    if workers is not None and workers < 1:
        raise NasError(f"--workers must be >= 1, got {workers}")
    address = parse_address(address)  # a wrong address fails before the run folder is touched
    if address not in (LOCAL, "auto"):
        check_reachable(address)
    if n_trials is not None:
        config = config.replace(n_trials=n_trials)
    problem = check_config(config)
    resources = resources or TrialResources()
    run_path = Path(run_dir) if run_dir is not None else default_run_dir(config)
    if evaluator is None and config.evaluator is not None and config.needs_accuracy:
        evaluator = AccuracyEvaluator(config.evaluator, dataset=config.dataset, space=config.space)
    with driver_lock(run_path):
        handler = logging.FileHandler(run_path / LOG_FILE)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        console = _ConsoleHandler(logging.WARNING)  # lost workers and failed evaluations, above the bar
        console.setFormatter(logging.Formatter("nas: %(message)s"))
        for logger in (_log, _dlog):
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
        _dlog.addHandler(console)
        try:
            study, url, joined = _open_or_join(problem, run_path, resume)
            tag = driver_tag(run_path)
            if joined:
                _log.info(f"joined study {study.study_name!r} in {url} ({len(study.trials)} trials so far)")
            if resume:
                recovered = recover_interrupted(study, tag)
                if recovered:
                    _log.info(f"resume: trials {recovered} were interrupted; re-running them")
            driver = _make_driver(problem, TaggingStudy(study, tag), url)
            if config.needs_accuracy:
                _run_on_ray(driver, evaluator, url, address=address, workers=workers, resources=resources,
                            num_cpus=num_cpus, progress=progress)
            else:  # every score is cheap: nothing would ever be sent to Ray
                from nas.search import search_loop

                _log.info("ray: no objective needs an evaluation; running on the driver without Ray")
                search_loop(driver, None, progress=progress)
        finally:
            for logger in (_log, _dlog):
                logger.removeHandler(handler)
            _dlog.removeHandler(console)
            handler.close()
    from nas.distributed._snapshot import SnapshotRun

    run = SnapshotRun(run_path)  # other drivers may still be telling trials of a shared study
    if report:
        write_results(run)
    return run


def _run_on_ray(driver: Any, evaluator: Any, url: str, *, address: str, workers: int | None,
                resources: TrialResources, num_cpus: int | None, progress: bool) -> None:
    """Start or join Ray, check it can run the trials, and run the loop."""
    config = driver.problem.config
    with ray_cluster(address, resources, num_cpus=num_cpus) as info:
        _check_storage_reach(config, url, info.hosts)
        n = workers or info.capacity
        if n > info.capacity:
            _dlog.warning("--workers %d: the cluster fits %d trial(s) at once; the rest wait", n, info.capacity)
        _log.info(f"ray: {len(info.nodes)} node(s) ({info.address}), {n} worker(s), per trial "
                  f"{resources.to_dict()}")
        stats = ray_search_loop(driver, evaluator, workers=n, resources=resources, progress=progress)
    _log.info(f"ray: {stats.submitted} evaluation(s) dispatched, {stats.completed} told, {stats.failed} failed, "
              f"{stats.retries} retried after lost workers, {stats.shared} shared, {stats.wall_s:.1f}s")


def _check_storage_reach(config: Any, url: str, hosts: tuple[str, ...]) -> None:
    """Successive halving writes and reads rung values in the storage from the workers: a SQLite
    file on the driver's disk is out of reach of workers on other machines."""
    halving = getattr(config.evaluator, "halving", None)
    if halving is not None and config.needs_accuracy and url.startswith("sqlite:") and len(hosts) > 1:
        raise NasError(f"storage: the cluster spans {len(hosts)} machines ({', '.join(hosts)}) and "
                       "evaluator.halving makes workers read the study, which they cannot in a SQLite file; "
                       "set storage: to a database server URL (postgresql://...) or drop evaluator.halving")


def _make_driver(problem: Any, study: optuna.Study, url: str) -> Any:
    from nas.search import SearchDriver

    return SearchDriver(problem, study, url)
