"""Conformance of every registered sampler: all genes in every trial, seeds reproduce, hard
constraints reach the sampler as Optuna trial constraints."""

from __future__ import annotations

from pathlib import Path

import pytest
from _search_env import TINY_SPACE, config, hash_score

from nas.search import SAMPLERS, load_run, run_search
from nas.space import get_space


def _run(tmp_path: Path, name: str, sampler: str, seed: int) -> list[str]:
    space_file = tmp_path / "tiny_search.yaml"
    space_file.write_text(TINY_SPACE)
    cfg = config(tmp_path, space=str(space_file), objectives=["accuracy", "macs"],
                 constraints=["macs <= 150k"], n_trials=12,
                 sampler={"name": sampler, "seed": seed,
                          **({"population_size": 4} if sampler.startswith("nsga") else {}),
                          **({"n_startup_trials": 4} if sampler == "tpe" else {})})
    run = run_search(cfg, tmp_path / name, evaluator=hash_score, progress=False, report=False)
    space = get_space(space_file)
    genes = {g.name for g in space.genes}
    study_trials = {t.number: t for t in run.study().trials}
    archs = []
    for t in run.trials():
        assert set(t.params) == genes, f"trial {t.number} lacks genes {genes - set(t.params)}"
        assert space.decode(t.params).text == t.arch
        stored = study_trials[t.number]
        assert len(stored.system_attrs["constraints"]) == 1  # the list optuna-dashboard reads
        assert (stored.constraints["0"] <= 0) == t.feasible  # and Optuna's own view of it
        archs.append(t.arch)
    assert len(archs) == 12
    return archs


@pytest.mark.slow
@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_sampler_suggests_every_gene_and_reproduces_with_its_seed(sampler: str, tmp_path: Path) -> None:
    first = _run(tmp_path, "a", sampler, seed=7)
    again = _run(tmp_path, "b", sampler, seed=7)
    other = _run(tmp_path, "c", sampler, seed=8)
    assert first == again
    assert first != other
    assert load_run(tmp_path / "a").config.sampler.name == sampler
