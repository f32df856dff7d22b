"""nas export RUN_DIR: real tiny search runs (nas.search.run_search, SQLite storage, a latency
table built on this machine, zero-cost accuracy), exported by trial, Pareto front and best score."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from _search_env import build_fast_table, tiny_space_yaml

from nas._errors import NasError
from nas.cli._main import main
from nas.export import export_run, read_export
from nas.search import SearchConfig, load_run, run_search

TINY_SPACE = tiny_space_yaml("tiny_run", "three-stage space for run-export tests")
TABLE = "tiny_run_cpu"
LAT = f"latency:{TABLE}"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A space file and a real latency table of it, found through $HWNAS_TABLE_PATH."""
    root = tmp_path_factory.mktemp("runenv")
    (root / "tiny_run.yaml").write_text(TINY_SPACE)
    (root / "tables").mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HWNAS_TABLE_PATH", str(root / "tables"))
        build_fast_table(root / "tiny_run.yaml", root / "tables" / f"{TABLE}.json")
        yield root


def _run(env: Path, name: str, constraints: list[str], n_trials: int = 10) -> Path:
    config = SearchConfig.from_dict({
        "name": name, "space": str(env / "tiny_run.yaml"), "dataset": "digits",
        "objectives": ["accuracy", LAT, "macs"], "constraints": constraints,
        "sampler": {"name": "random", "seed": 0}, "n_trials": n_trials,
        "evaluator": {"kind": "zero_cost", "proxies": ["synflow"], "batch_size": 16, "threads": 1},
    })
    run_dir = env / name
    run_search(config, run_dir, progress=False, report=False)
    return run_dir


@pytest.fixture(scope="module")
def run_dir(env: Path) -> Path:
    return _run(env, "feasible", ["macs <= 110000"])


@pytest.mark.slow
def test_export_trial_records_every_score_table_and_provenance(run_dir: Path, tmp_path: Path) -> None:
    run = load_run(run_dir)
    trial = next(t for t in run.trials(["COMPLETE"]) if "accuracy" in t.values)
    ((out, info),) = export_run(run_dir, tmp_path / "t", trial=trial.number, onnx=False)
    assert out == tmp_path / "t"
    _, arch, _ = read_export(out)
    assert arch.text == trial.arch and info["arch_hash"] == trial.arch_hash
    assert (info["classes"], info["in_channels"], info["resolution"]) == (10, 1, 16)
    assert info["in_space"]  # judged against the space as the run searched it
    scores = info["scores"]
    assert scores["accuracy"] == {"value": trial.values["accuracy"], "kind": "measured",
                                  "role": "objective", "direction": "maximize"}
    lat = scores[LAT]
    assert lat["value"] == trial.values[LAT] and lat["kind"] == "predicted"
    table_hash = {t["id"]: t["content_hash"] for t in run.info["tables"]}[TABLE]
    assert lat["table"] == TABLE and lat["table_hash"] == table_hash
    assert scores["macs"]["role"] == "objective" and scores["macs"]["constraints"] == ["macs <= 110000"]
    assert info["tables"][0]["here"]["content_hash"] == table_hash
    # the exported module's figures equal the ones the search recorded
    assert info["checks"]["params"]["search"] == trial.values["params"]
    assert info["checks"]["macs"]["search"] == trial.values["macs"]
    assert info["checks"]["params"]["equal"] and info["checks"]["macs"]["equal"]
    prov = info["provenance"]
    assert prov["trial"] == trial.number and prov["config_hash"] == run.info["config_hash"]
    assert prov["study"] == run.study_name and Path(prov["run_dir"]) == run_dir.resolve()
    assert prov["hwnas_version"] and prov["trial_state"] == "COMPLETE"


@pytest.mark.slow
def test_export_pareto_and_best_with_where(run_dir: Path, tmp_path: Path) -> None:
    run = load_run(run_dir)
    front = {t.number for t in run.pareto()}
    results = export_run(run_dir, tmp_path / "front", pareto=True, onnx=False)
    assert {info["provenance"]["trial"] for _, info in results} == front
    assert all(out == tmp_path / "front" / f"trial_{info['provenance']['trial']}"
               for out, info in results)
    index = json.loads((tmp_path / "front" / "pareto.json").read_text())
    assert {row["trial"] for row in index} == front

    feasible = run.feasible()
    bound = sorted(t.values[LAT] for t in feasible)[len(feasible) // 2]
    ((_, best),) = export_run(run_dir, tmp_path / "best", best="accuracy",
                              where=[f"{LAT}<={bound}"], onnx=False)
    eligible = [t for t in feasible if t.values[LAT] <= bound]
    top = max(eligible, key=lambda t: (t.values["accuracy"], -t.number))
    assert best["provenance"]["trial"] == top.number
    ((_, smallest),) = export_run(run_dir, tmp_path / "small", best="macs", onnx=False)
    assert smallest["cost"]["macs"] == min(t.values["macs"] for t in feasible)
    # bounds take the search config's suffixes: 0.09M = 90000
    ((_, under),) = export_run(run_dir, tmp_path / "under", best="accuracy", where=["macs<0.09M"],
                               onnx=False)
    assert under["scores"]["macs"]["value"] < 90000


@pytest.mark.slow
def test_cli_export_run_and_its_errors(run_dir: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(run_dir), "--best", LAT, "--out", str(tmp_path / "b"), "--json"]) == 0
    (summary,) = json.loads(capsys.readouterr().out)
    assert summary["onnx_ok"] and summary["params_macs_match"] and summary["model_py_ok"]
    n = len(load_run(run_dir).trials())
    cases = [
        (["--trial", "999"], f"--trial 999: no such trial in run {run_dir} (trials: 0..{n - 1})"),
        (["--best", "speed"], "--best 'speed': the run has no such objective or value"),
        (["--best", "accuracy", "--where", "macs<=1"], "--where 'macs<=1': none of the"),
        (["--pareto", "--where", "macs<=1"], "--pareto --where 'macs<=1': none of the"),
        (["--best", "accuracy", "--where", "nope<=1"], "the run has no value 'nope'"),
        (["--best", "accuracy", "--where", "macs=1"], "expected NAME OP NUMBER"),
        ([], "choose with --trial N, --pareto or --best OBJECTIVE"),
        (["--trial", "0", "--classes", "3"], "--classes: a run fixes it"),
        (["--trial", "0", "--where", "macs<=1"], "--where filters --best and --pareto"),
    ]
    for argv, message in cases:
        assert main(["export", str(run_dir), "--out", str(tmp_path / "x"), *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("nas: error:") and message in err, (argv, err)


@pytest.mark.slow
def test_empty_pareto_front_is_named(env: Path, tmp_path: Path) -> None:
    run_dir = _run(env, "infeasible", ["macs <= 1"], n_trials=3)
    with pytest.raises(NasError, match=r"--pareto: the feasible Pareto front is empty .*0 feasible"):
        export_run(run_dir, tmp_path / "p", pareto=True)
    with pytest.raises(NasError, match="--best accuracy: no feasible completed trial"):
        export_run(run_dir, tmp_path / "b", best="accuracy")
    # an infeasible trial can still be exported on purpose, and says so
    ((_, info),) = export_run(run_dir, tmp_path / "t", trial=0, onnx=False)
    assert info["provenance"]["feasible"] is False
