"""The run folder's study: in memory for the sampler, every finished trial journaled in Optuna's
journal format, which Optuna (and optuna-dashboard) read as they read any journal file."""

from __future__ import annotations

from pathlib import Path

import optuna
from _search_env import LAT, config
from optuna.storages.journal import JournalFileBackend, JournalStorage

from nas.search import SearchConfig, load_run, run_search
from nas.search._journal import DurableMemoryStorage, journal_url, open_journal, read_trials


def table_only(env: Path, n_trials: int = 40) -> SearchConfig:
    return config(env, objectives=[LAT, "macs"], evaluator=None, n_trials=n_trials,
                  sampler={"name": "nsga2", "seed": 0, "population_size": 10})


def optuna_view(run_dir: Path, name: str) -> optuna.Study:
    storage = JournalStorage(JournalFileBackend(str(run_dir / "study.journal")))
    return optuna.load_study(study_name=name, storage=storage)


def test_optuna_reads_the_run_as_hwnas_does(env: Path, tmp_path: Path) -> None:
    run = run_search(table_only(env), tmp_path / "run", progress=False, report=False)
    ours = run.trials()
    study = optuna_view(tmp_path / "run", run.study_name)
    assert [t.number for t in study.trials] == [t.number for t in ours] == list(range(40))
    assert [t.params for t in study.trials] == [t.params for t in ours]
    assert [t.values for t in study.trials] == [[t.values[LAT], t.values["macs"]] for t in ours]
    assert study.metric_names == [LAT, "macs"]
    assert study.user_attrs["hwnas_config_hash"] == run.config.problem_hash()
    assert not (tmp_path / "run" / "study.db").exists()


def test_resume_replays_the_journal_and_goes_on(env: Path, tmp_path: Path) -> None:
    run_search(table_only(env, n_trials=15), tmp_path / "run", progress=False, report=False)
    first = {t.number: t.values for t in load_run(tmp_path / "run").trials()}
    run = run_search(table_only(env, n_trials=30), tmp_path / "run", resume=True, progress=False, report=False)
    trials = run.trials()
    assert [t.number for t in trials] == list(range(30))
    assert {t.number: t.values for t in trials[:15]} == first
    assert len(optuna_view(tmp_path / "run", run.study_name).trials) == 30


def test_trials_finishing_out_of_order_keep_their_numbers(tmp_path: Path) -> None:
    """On Ray a later trial can finish first: earlier ones get a placeholder, filled in later."""
    url = journal_url(tmp_path / "study.journal")
    storage = DurableMemoryStorage(open_journal(url, writer=True))
    study = optuna.create_study(study_name="s", storage=storage, directions=["minimize"])
    trials = [study.ask() for _ in range(3)]
    for t in trials:
        t.suggest_int("x", 0, 9)
    study.tell(trials[2], 2.0)
    study.tell(trials[0], 0.0)
    loaded = optuna_view(tmp_path, "s").trials
    assert [t.state for t in loaded] == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.RUNNING,
                                         optuna.trial.TrialState.COMPLETE]
    assert loaded[1].params == trials[1].params  # a resume after a kill now re-runs it from these
    study.tell(trials[1], 1.0)
    loaded = optuna_view(tmp_path, "s").trials
    assert [(t.number, t.value, t.params) for t in loaded] == [
        (t.number, float(t.number), t.params) for t in trials]
    assert read_trials(url) is None  # placeholders: not the one-line-per-trial form; Optuna reads it


def test_a_torn_last_line_is_cut_on_resume(tmp_path: Path) -> None:
    url = journal_url(tmp_path / "study.journal")
    storage = DurableMemoryStorage(open_journal(url, writer=True))
    study = optuna.create_study(study_name="s", storage=storage)
    for x in range(3):
        study.optimize(lambda t, x=x: t.suggest_float("x", 0, 1) + x, n_trials=1)
    with (tmp_path / "study.journal").open("ab") as f:
        f.write(b'{"op_code": 4, "worker_id": "killed mid-wr')  # a write cut short by SIGKILL
    fast = read_trials(url)
    assert fast is not None and len(fast[0]) == 3
    again = DurableMemoryStorage(open_journal(url, writer=True))
    again.replay("s")
    resumed = optuna.load_study(study_name="s", storage=again)
    resumed.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    assert len(optuna_view(tmp_path, "s").trials) == 4
