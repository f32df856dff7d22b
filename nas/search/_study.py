"""Creating, resuming or joining a run's Optuna study, and writing ``run.json``.

A run folder holds one run. Its study lives in the folder's SQLite file unless the config names a
``storage:`` URL; a fresh folder whose external storage already has the study *joins* it, so
several drivers (on several machines) can work on one study. Every driver of a study must pose
the same problem (config hash) and score latency with the same tables (content hashes): both are
recorded on the study and checked by each driver that opens it.
"""

from __future__ import annotations

import socket
import warnings
from dataclasses import replace
from pathlib import Path

import optuna

from nas._errors import NasError
from nas.latency import HOST_ENV, host_of
from nas.search import _attrs as A
from nas.search._config import BUDGET_FIELDS
from nas.search._journal import JOURNAL_SCHEME, DurableMemoryStorage, journal_path, open_journal
from nas.search._problem import Problem
from nas.search._rundir import RUN_JSON, default_storage, read_run_info, run_info, storage_url, write_run_info
from nas.search._samplers import make_sampler
from nas.search._storage import open_storage


def driver_tag(run_dir: Path) -> str:
    """This driver's id: stable across a resume of the same run folder on the same host."""
    return f"{socket.gethostname()}:{run_dir.resolve()}"


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


def _check_study(study: optuna.Study, url: str, problem: Problem) -> None:
    """Record (first driver) or check (later ones) the problem and tables the study is for."""
    mine = problem.config.problem_hash()
    theirs = study.user_attrs.get(A.CONFIG_HASH)
    if theirs is None:
        study.set_user_attr(A.CONFIG_HASH, mine)
    elif theirs != mine:
        raise NasError(f"study {study.study_name!r} in {url} was created for another problem (config hash "
                       f"{theirs}, this config {mine}); set another study_name")
    tables = study.user_attrs.get(A.TABLES)
    if tables is None:
        study.set_user_attr(A.TABLES, {t["id"]: t["content_hash"] for t in problem.table_info()})
    elif changed := problem.changed_tables(tables):
        t = changed[0]
        raise NasError(
            f"study {study.study_name!r} in {url} scores latency with table {t['id']!r} of "
            f"content hash {tables[t['id']]}; this driver's is {t['content_hash']} "
            f"({t['path']}): a driver on another CPU picks that CPU's host variant, or the "
            f"table was rebuilt; give every driver the same table ({HOST_ENV}=NAME or "
            f"{HOST_ENV}=default)")


def open_study(problem: Problem, run_dir: Path, *, resume: bool, workers_read_study: bool = False
               ) -> tuple[optuna.Study, str, bool]:
    """Create, resume or join the run's study and write ``run.json``.

    The run folder's own study is held in memory and journaled (:mod:`nas.search._journal`),
    unless ``workers_read_study`` (evaluations in other processes read it: successive halving on
    Ray), which keeps it in the folder's SQLite file. Returns the study (with the configured
    sampler, its seed moved on by the trials already in the study), its storage URL, and whether
    this fresh folder joined another driver's study.
    """
    cfg = problem.config
    run_dir.mkdir(parents=True, exist_ok=True)
    has_run = (run_dir / RUN_JSON).is_file()
    joined = False
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
    elif has_run:
        raise NasError(f"{run_dir} already holds a run; pass --resume to continue it, or "
                       "choose another --run-dir")
    elif cfg.storage:
        url, in_dir = cfg.storage, False
    else:
        url, in_dir = default_storage(run_dir, journal=not workers_read_study), True
    storage: optuna.storages.BaseStorage
    if url.startswith(JOURNAL_SCHEME):
        if not resume:  # left by a start killed before run.json was written: no trial in it
            journal_path(url).unlink(missing_ok=True)
        storage = DurableMemoryStorage(open_journal(url, writer=True))
    else:
        storage = open_storage(url)  # creates Optuna's schema, riding out a race with another driver
    if not resume and not in_dir:
        joined = cfg.study in {s.study_name for s in optuna.get_all_study_summaries(storage)}
    directions = [optuna.study.StudyDirection.MAXIMIZE if d == "maximize"
                  else optuna.study.StudyDirection.MINIMIZE for d in cfg.directions]
    placeholder = optuna.samplers.RandomSampler()
    try:
        if resume and isinstance(storage, DurableMemoryStorage):
            storage.replay(cfg.study)
        if resume or joined:
            study = optuna.load_study(study_name=cfg.study, storage=storage, sampler=placeholder)
        else:
            study = optuna.create_study(study_name=cfg.study, storage=storage, directions=directions,
                                        sampler=placeholder)
            with warnings.catch_warnings():  # experimental in Optuna, stable in its storages
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.set_metric_names(list(cfg.objective_names))  # named in optuna-dashboard
    except KeyError:
        raise NasError(f"--resume: storage {url} has no study {cfg.study!r}") from None
    except optuna.exceptions.DuplicatedStudyError:  # another driver created it a moment ago
        study, joined = optuna.load_study(study_name=cfg.study, storage=storage, sampler=placeholder), True
    _check_study(study, url, problem)
    # A resumed sampler must not replay the first run's random stream (its candidates would all
    # be cache hits), so its seed moves on by the number of trials already in the study.
    n_existing = len(study.get_trials(deepcopy=False))
    study.sampler = make_sampler(replace(cfg.sampler, seed=cfg.sampler.seed + n_existing))
    write_run_info(run_dir, run_info(problem, url, in_dir))
    return study, url, joined
