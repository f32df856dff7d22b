"""Search runs end to end on a tiny space with a real table, real SQLite storage and real training:
cheap-first constraints, the arch cache, failures, results files, ``nas search`` / ``nas report``."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from _search_env import LAT, TABLE, config, hash_score

from nas._errors import NasError
from nas.cli._main import main
from nas.evaluators import EvalResult
from nas.search import load_run, run_search


@pytest.fixture(scope="module")
def trained_run(env: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real search: training on digits, a latency bound that rules out about half the space."""
    from nas.latency import load_table
    from nas.search import check_config

    problem = check_config(config(env))
    import numpy as np
    rng = np.random.default_rng(0)
    lat = sorted(problem.tables[TABLE].predict(problem.space.sample(rng), classes=10,
                                               in_channels=1).latency_ms for _ in range(40))
    assert load_table(TABLE).id == TABLE
    bound = lat[len(lat) // 2]
    run_dir = tmp_path_factory.mktemp("runs") / "trained"
    run_search(config(env, constraints=[f"{LAT} <= {bound!r}"], n_trials=10), run_dir,
               progress=False)
    return run_dir


@pytest.mark.slow
def test_constrained_out_candidates_are_never_trained(trained_run: Path) -> None:
    run = load_run(trained_run)
    trials = run.trials()
    assert len(trials) == 10 and all(t.state in ("COMPLETE", "PRUNED") for t in trials)
    bound = run.constraints[0].bound
    infeasible = [t for t in trials if t.values[LAT] > bound]
    feasible = [t for t in trials if t.values[LAT] <= bound]
    assert infeasible and feasible, "the bound should split the sampled candidates"
    stored = {t.number: t for t in run.study().trials}
    for t in infeasible:
        # Recorded with its constraint values, no training: no accuracy, no epochs, no eval time.
        assert t.feasible is False and t.user_attrs["trained"] is False
        assert "accuracy" not in t.values and "epochs" not in t.user_attrs
        assert "eval_s" not in t.user_attrs and stored[t.number].constraints["0"] > 0
        assert "constraints" not in t.user_attrs  # Optuna's constraint values, not a copy
    log = (trained_run / "search.log").read_text()
    for t in infeasible:  # the log says why a COMPLETE trial has no accuracy
        assert f"trial {t.number} COMPLETE infeasible ({run.constraints[0]} broken; not trained)" in log
        assert t.user_attrs["cheap_ms"] < 1000
    for t in feasible:
        if t.cached_from is None:
            assert t.user_attrs["trained"] is True and t.user_attrs["epochs"] == 1
            assert 0 <= t.values["accuracy"] <= 1 and t.user_attrs["eval_s"] > 0


@pytest.mark.slow
def test_run_json_contract_and_results_files(trained_run: Path) -> None:
    info = json.loads((trained_run / "run.json").read_text())
    for key in ("storage", "study_name", "space", "classes", "in_channels", "dataset", "objectives",
                "constraints", "tables", "config_hash", "hwnas_version", "config"):
        assert key in info, key
    assert info["objectives"][0] == {"name": "accuracy", "direction": "maximize"}
    assert info["tables"][0]["id"] == TABLE and len(info["tables"][0]["content_hash"]) == 16
    assert (info["classes"], info["in_channels"], info["space"]["resolutions"]) == (10, 1, [16])
    for name in ("trials.csv", "pareto.csv", "report.html", "hypervolume.png",
                 f"pareto_latency_{TABLE}.png", "pareto_macs.png"):
        assert (trained_run / name).stat().st_size > 0, name
    trials = pd.read_csv(trained_run / "trials.csv")
    assert list(trials["number"]) == list(range(10))
    for col in ("state", "arch", "accuracy", LAT, "macs", f"ok:{LAT} <= ", "duration_s"):
        assert any(c.startswith(col) for c in trials.columns), col
    run = load_run(trained_run)
    front = run.pareto()
    pareto = pd.read_csv(trained_run / "pareto.csv")
    assert list(pareto["number"]) == [t.number for t in front] and len(front) >= 1
    html = (trained_run / "report.html").read_text()
    assert "Pareto front" in html and all(t.arch in html for t in front)


@pytest.mark.slow
def test_pareto_front_is_feasible_and_non_dominated(trained_run: Path) -> None:
    run = load_run(trained_run)
    front, feasible = run.pareto(), run.feasible()
    assert {t.number for t in front} <= {t.number for t in feasible}
    keys = ("accuracy", LAT, "macs")

    def dominates(a: dict[str, float], b: dict[str, float]) -> bool:
        better = [a["accuracy"] >= b["accuracy"], a[LAT] <= b[LAT], a["macs"] <= b["macs"]]
        strictly = [a["accuracy"] > b["accuracy"], a[LAT] < b[LAT], a["macs"] < b["macs"]]
        return all(better) and any(strictly)

    for t in front:
        assert not any(dominates(o.values, t.values) for o in feasible), t.number
    for t in feasible:
        if t.number not in {f.number for f in front} and t.arch_hash not in {f.arch_hash for f in front}:
            assert any(dominates(f.values, t.values) for f in front) or \
                any(all(f.values[k] == t.values[k] for k in keys) for f in front)
    assert run.trial(front[0].number).arch == front[0].arch
    with pytest.raises(NasError, match="no trial 99"):
        run.trial(99)


@pytest.mark.slow
def test_nas_report_rebuilds_results_from_storage(trained_run: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("trials.csv", "pareto.csv", "report.html", "hypervolume.png"):
        (trained_run / name).unlink()
    assert main(["report", str(trained_run)]) == 0
    out = capsys.readouterr().out
    assert "Pareto front" in out and f"report: {trained_run / 'report.html'}" in out
    for name in ("trials.csv", "pareto.csv", "report.html", "hypervolume.png"):
        assert (trained_run / name).is_file(), name
    assert main(["report", str(trained_run.parent / "missing")]) == 2
    assert "not a search run folder" in capsys.readouterr().err


def test_an_arch_evaluated_before_is_not_evaluated_again(env: Path, tmp_path: Path) -> None:
    calls: list[str] = []

    def counting(arch: str, reporter: object) -> EvalResult:
        calls.append(arch)
        return hash_score(arch)

    # 40 trials over one width: the space has 320 assignments but far fewer distinct archs
    # (unused layer genes), so repeats are certain.
    run = run_search(config(env, widths=[1.0], n_trials=40), tmp_path / "c", evaluator=counting,
                     progress=False, report=False)
    trials = run.trials()
    cached = [t for t in trials if t.cached_from is not None]
    assert cached, "expected repeated archs in 40 trials"
    assert len(calls) == len(set(calls)) == len(trials) - len(cached)
    by_number = {t.number: t for t in trials}
    for t in cached:
        src = by_number[t.cached_from]
        assert src.arch == t.arch and src.cached_from is None and src.number < t.number
        assert t.values == src.values and t.state == src.state


def test_failing_evaluations_are_recorded_and_the_search_goes_on(env: Path, tmp_path: Path) -> None:
    def flaky(arch: str, reporter: object) -> EvalResult:
        if "k5" in arch:
            return EvalResult("failed", None, {"eval_s": 0.0}, "out of memory: pretend")
        return hash_score(arch)

    run = run_search(config(env, n_trials=8), tmp_path / "f", evaluator=flaky, progress=False)
    states = {t.number: t for t in run.trials()}
    assert len(states) == 8
    failed = [t for t in states.values() if t.state == "FAIL"]
    assert failed and all(t.fail_reason == "out of memory: pretend" for t in failed)
    assert all("k5" in (t.arch or "") for t in failed)
    assert all(t.state == "COMPLETE" for t in states.values() if "k5" not in (t.arch or ""))


def test_a_bug_in_the_evaluator_is_recorded_and_stops_the_search(env: Path, tmp_path: Path) -> None:
    def broken(arch: str, reporter: object) -> EvalResult:
        raise ZeroDivisionError("bug")

    with pytest.raises(ZeroDivisionError):
        run_search(config(env), tmp_path / "b", evaluator=broken, progress=False)
    (t,) = load_run(tmp_path / "b").trials()
    assert t.state == "FAIL" and t.fail_reason == "error: ZeroDivisionError: bug"


def test_run_folder_reuse_and_resume_errors(env: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "r"
    with pytest.raises(NasError, match="holds no run to resume"):
        run_search(config(env), run_dir, resume=True, evaluator=hash_score, progress=False)
    run_search(config(env, n_trials=2), run_dir, evaluator=hash_score, progress=False, report=False)
    with pytest.raises(NasError, match="already holds a run; pass --resume"):
        run_search(config(env, n_trials=2), run_dir, evaluator=hash_score, progress=False)
    with pytest.raises(NasError, match="differs from the run's in objectives"):
        run_search(config(env, objectives=["accuracy", "macs"]), run_dir, resume=True,
                   evaluator=hash_score, progress=False)
    run = run_search(config(env, n_trials=2), run_dir, n_trials=5, resume=True,
                     evaluator=hash_score, progress=False, report=False)
    assert len(run.trials()) == 5


@pytest.mark.slow
def test_cli_search_prints_the_pareto_table_and_report_path(env: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    import yaml
    from _search_env import config_dict

    cfg = tmp_path / "zc.yaml"
    cfg.write_text(yaml.safe_dump(config_dict(env, evaluator={
        "kind": "zero_cost", "proxies": ["synflow", "naswot"], "batch_size": 16, "threads": 1})))
    assert main(["search", str(cfg), "--run-dir", str(tmp_path / "run"), "--n-trials", "4"]) == 0
    out = capsys.readouterr().out
    assert "4 trials" in out and "Pareto front (" in out and "report: " in out
    t = load_run(tmp_path / "run").trials()[0]
    assert t.values["accuracy"] == t.user_attrs["zero_cost:synflow"]
    assert "zero_cost:naswot" in t.user_attrs
    assert main(["search", str(tmp_path / "nope.yaml")]) == 2
    assert "not found" in capsys.readouterr().err


def test_time_budget_and_an_external_storage_url(env: Path, tmp_path: Path) -> None:
    import time

    def slow(arch: str, reporter: object) -> EvalResult:
        time.sleep(0.2)
        return hash_score(arch)

    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    t0 = time.monotonic()
    run = run_search(config(env, n_trials=None, timeout_s=1.0, storage=url, study_name="ext"),
                     tmp_path / "t", evaluator=slow, progress=False, report=False)
    assert time.monotonic() - t0 < 30
    trials = run.trials()
    assert 1 <= len(trials) < 40
    info = json.loads((tmp_path / "t" / "run.json").read_text())
    assert info["storage"] == url and info["storage_in_run_dir"] is False
    assert info["study_name"] == "ext" and not (tmp_path / "t" / "study.db").exists()
    assert load_run(tmp_path / "t").trials()[0].arch == trials[0].arch
