"""Host variants of a table id (``hosts/NAME/ID.json``): the one measured on a machine like this
one is chosen, ``$HWNAS_TABLE_HOST`` overrides, and neither a resumed search nor a driver joining
a shared study may score with another variant than the study's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from _search_env import TABLE, config, hash_score, make_env

from nas._errors import NasError
from nas.cli._main import main
from nas.latency import load_table
from nas.latency._registry import (
    HOST_ENV,
    SHIPPED_TABLES,
    find_table,
    machine_matches,
    table_choices,
    this_machine,
)
from nas.search import run_search


def _variant(src: Path, dest: Path, device: dict[str, Any], scale: float = 1.0) -> Path:
    """A copy of table ``src`` at ``dest`` recorded as measured on ``device``, its entries'
    times multiplied by ``scale`` (so that it predicts, and hashes, differently)."""
    data = json.loads(src.read_text())
    data["device"] = {**data["device"], **device}
    for entry in data["entries"].values():
        for stat in ("median", "mean", "p90", "min", "std"):
            if stat in entry:
                entry[stat] *= scale
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(data))
    return dest


@pytest.fixture()
def folder(tiny_lut_table: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A table folder: ``tiny.json`` from another CPU, a variant measured here, and one from
    a third CPU."""
    root = tmp_path / "tables"
    _variant(tiny_lut_table, root / "tiny.json", {"name": "Some Other CPU"}, 1.0)
    _variant(tiny_lut_table, root / "hosts" / "elsewhere" / "tiny.json",
             {"name": "Yet Another CPU"}, 3.0)
    _variant(tiny_lut_table, root / "hosts" / "here" / "tiny.json", this_machine(), 2.0)
    monkeypatch.setenv("HWNAS_TABLE_PATH", str(root))
    monkeypatch.delenv(HOST_ENV, raising=False)
    return root


def test_the_variant_measured_here_wins(folder: Path) -> None:
    assert find_table("tiny") == folder / "hosts" / "here" / "tiny.json"
    assert sorted(table_choices()["tiny"]) == ["default", "elsewhere", "here"]
    key, entry = next(iter(load_table("tiny").entries.items()))
    shutil.rmtree(folder / "hosts" / "here")
    assert find_table("tiny") == folder / "tiny.json"  # no variant matches: the default
    assert load_table("tiny").entries[key].value("min") == pytest.approx(entry.value("min") / 2)


@pytest.mark.parametrize(("host", "expect"), [("default", "tiny.json"),
                                              ("elsewhere", "hosts/elsewhere/tiny.json")])
def test_the_environment_forces_a_host(folder: Path, monkeypatch: pytest.MonkeyPatch,
                                       host: str, expect: str) -> None:
    monkeypatch.setenv(HOST_ENV, host)
    assert find_table("tiny") == folder / expect


def test_an_unknown_forced_host_is_a_clear_error(folder: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HOST_ENV, "nowhere")
    with pytest.raises(NasError, match=r"HWNAS_TABLE_HOST='nowhere'.*known: default, elsewhere, here"):
        find_table("tiny")
    assert main(["lut", "list", "--json"]) == 2


def test_machine_matching_compares_the_cpu_identity_where_both_have_it() -> None:
    here = {"kind": "cpu", "name": "X", "cpu": {"vendor": "V", "family": "6", "model": "167"}}
    assert machine_matches({"kind": "cpu", "name": "X", "runtime": "torch"}, here)  # no identity
    assert machine_matches({**here, "cpu": {"vendor": "V", "family": "6", "model": "167"}}, here)
    assert not machine_matches({**here, "cpu": {"vendor": "V", "family": "6", "model": "143"}},
                               here)
    assert not machine_matches({"kind": "cpu", "name": "Y"}, here)
    assert not machine_matches({"kind": "cuda", "name": "X"}, here)
    assert not machine_matches({}, here)


def test_list_shows_the_chosen_host_and_the_others(folder: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lut", "list", "--json"]) == 0
    row = {r["id"]: r for r in json.loads(capsys.readouterr().out)}["tiny"]
    assert row["host"] == "here" and row["hosts"] == ["default", "elsewhere", "here"]
    assert row["path"] == str(folder / "hosts" / "here" / "tiny.json")


def test_every_shipped_host_variant_covers_what_its_default_covers() -> None:
    """A variant replaces the default on its host, so it must answer the same queries."""
    variants = sorted((SHIPPED_TABLES / "hosts").glob("*/*.json"))
    assert variants, "the shipped tables include host variants"
    for path in variants:
        table, base = load_table(path), load_table(SHIPPED_TABLES / path.name)
        assert table.id == base.id and table.device["kind"] == base.device["kind"] == "cpu"
        assert table.backend == base.backend and table.threads == base.threads
        assert table.spaces == base.spaces and table.resolutions == base.resolutions
        assert set(base.entries) <= set(table.entries), path
        assert table.calibration is not None
        assert not machine_matches(table.device, base.device), "a variant of another machine"


def test_resume_refuses_another_hosts_variant(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    env = make_env(tmp_path)
    monkeypatch.setenv("HWNAS_TABLE_PATH", str(tmp_path / "tables"))
    monkeypatch.delenv(HOST_ENV, raising=False)
    run_dir = tmp_path / "run"
    run_search(config(env, n_trials=2), run_dir, evaluator=hash_score, progress=False,
               report=False)
    _variant(tmp_path / "tables" / f"{TABLE}.json",
             tmp_path / "tables" / "hosts" / "here" / f"{TABLE}.json", this_machine(), 2.0)
    with pytest.raises(NasError, match=rf"{TABLE}.*not the one the run used.*"
                                       rf"{HOST_ENV}=default"):
        run_search(config(env, n_trials=2), run_dir, n_trials=3, resume=True,
                   evaluator=hash_score, progress=False, report=False)
    monkeypatch.setenv(HOST_ENV, "default")
    run = run_search(config(env, n_trials=2), run_dir, n_trials=3, resume=True,
                     evaluator=hash_score, progress=False, report=False)
    assert len(run.trials()) == 3


def test_folders_add_variants_to_each_other(folder: Path, tiny_lut_table: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A user's folder holding only their machine's variant still finds the other folder's
    default elsewhere, and its variant wins here over the other folder's."""
    mine = tmp_path / "mine"
    _variant(tiny_lut_table, mine / "hosts" / "my-box" / "tiny.json", this_machine(), 5.0)
    monkeypatch.setenv("HWNAS_TABLE_PATH", f"{mine}:{folder}")
    assert list(table_choices()["tiny"]) == ["my-box", "default", "elsewhere", "here"]
    assert find_table("tiny") == mine / "hosts" / "my-box" / "tiny.json"
    monkeypatch.setenv(HOST_ENV, "default")
    assert find_table("tiny") == folder / "tiny.json"


def test_a_driver_with_another_table_cannot_join_a_shared_study(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two drivers of one study (here on one SQLite file) on different CPUs would each pick their
    own CPU's variant of a table id; the second is refused, and joins once it is given the same
    table."""
    from nas.search import STUDY_TABLES_ATTR, check_config, open_study

    env = make_env(tmp_path)
    monkeypatch.setenv("HWNAS_TABLE_PATH", str(tmp_path / "tables"))
    monkeypatch.delenv(HOST_ENV, raising=False)
    cfg = config(env, storage=f"sqlite:///{tmp_path / 'shared.db'}", study_name="shared")
    study, _, joined = open_study(check_config(cfg), tmp_path / "a", resume=False)
    assert not joined and set(study.user_attrs[STUDY_TABLES_ATTR]) == {TABLE}
    _variant(tmp_path / "tables" / f"{TABLE}.json",
             tmp_path / "tables" / "hosts" / "here" / f"{TABLE}.json", this_machine(), 2.0)
    with pytest.raises(NasError, match=rf"scores latency with table '{TABLE}'.*{HOST_ENV}"):
        open_study(check_config(cfg), tmp_path / "b", resume=False)
    monkeypatch.setenv(HOST_ENV, "default")
    _, _, joined = open_study(check_config(cfg), tmp_path / "c", resume=False)
    assert joined
