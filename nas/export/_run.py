"""Export trials of a search run folder (``run.json`` + the Optuna storage it names)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nas._errors import NasError
from nas.arch import Arch
from nas.export._export import ExportSource, export_arch
from nas.export._select import (
    RunView,
    TrialView,
    parse_where,
    select_best,
    select_pareto,
    select_trial,
)
from nas.space import get_space


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and (path / "run.json").is_file()


_PROVENANCE_ATTRS = ("trained", "cached_from", "eval_s", "epochs", "stopped_at_epoch",
                     "cheap_ms", "epoch_accuracy")


def load_run_view(run_dir: str | Path) -> RunView:
    """Read a run folder (``run.json`` and its study) through :func:`nas.search.load_run`."""
    from nas.search import load_run

    run = load_run(run_dir)
    info = run.info
    trials = tuple(
        TrialView(number=t.number, state=t.state, arch=t.arch, values=dict(t.values),
                  feasible=t.feasible is not False, fail_reason=t.fail_reason,
                  attrs={k: t.user_attrs[k] for k in _PROVENANCE_ATTRS if k in t.user_attrs})
        for t in run.trials())
    tables = [t for t in info.get("tables", []) if isinstance(t, dict) and "id" in t]
    meta = {
        "study_name": run.study_name,
        "storage": run.storage_url,
        "config_hash": info.get("config_hash"),
        "version": info.get("hwnas_version"),
        "evaluator": info.get("evaluator"),
        "dataset": info.get("dataset"),
        "classes": info.get("classes", 1000),
        "in_channels": info.get("in_channels", 3),
        "space_file": (info.get("space") or {}).get("path"),
        "resolutions": (info.get("space") or {}).get("resolutions"),
        "tables": {t["id"]: t.get("content_hash") for t in tables},
        "table_files": {t["id"]: t["path"] for t in tables if t.get("path")},
    }
    return RunView(
        run_dir=str(run_dir),
        objectives={o["name"]: o["direction"] for o in info.get("objectives", [])},
        constraints=tuple(c["text"] for c in info.get("constraints", [])),
        trials=trials,
        pareto=tuple(t.number for t in run.pareto()),
        meta=meta,
    )


def export_source(run: RunView, trial: TrialView) -> ExportSource:
    """Everything ``arch.json`` records for one trial of ``run``."""
    meta = run.meta
    assert trial.arch is not None  # select_* only return trials with an arch
    arch = Arch.parse(trial.arch)
    space_file = str(meta.get("space_file") or "")
    space = get_space(space_file) if space_file and Path(space_file).is_file() else get_space(arch.space)
    if meta.get("resolutions"):  # the run searched the space at these input sizes
        space = space.with_resolutions(meta["resolutions"])
    provenance: dict[str, Any] = {
        "source": "run",
        "run_dir": str(Path(run.run_dir).resolve()),
        "trial": trial.number,
        "trial_state": trial.state,
        "feasible": trial.feasible,
        "pareto": trial.number in run.pareto,
        "study": meta.get("study_name"),
        "storage": meta.get("storage"),
        "config_hash": meta.get("config_hash"),
        "search_hwnas_version": meta.get("version"),
        "evaluator": meta.get("evaluator"),
        "trial_attrs": dict(trial.attrs),
    }
    return ExportSource(
        arch=arch, space=space, classes=int(meta.get("classes", 1000)),
        in_channels=int(meta.get("in_channels", 3)), dataset=str(meta.get("dataset") or ""),
        scores=dict(trial.values), directions=dict(run.objectives),
        constraints=tuple(run.constraints), tables=dict(meta.get("tables", {})),
        table_files=dict(meta.get("table_files", {})), provenance=provenance,
    )


def export_run(run_dir: str | Path, out: str | Path, *, trial: int | None = None,
               pareto: bool = False, best: str | None = None, where: Sequence[str] = (),
               onnx: bool = True, onnx_exporter: str = "torchscript", seed: int = 0
               ) -> list[tuple[Path, dict[str, Any]]]:
    """Export the chosen trials of a run; one folder (``out``) or ``out/trial_N`` for several.

    Exactly one of ``trial``, ``pareto`` and ``best`` chooses; ``where`` filters ``best`` and
    ``pareto``. Returns ``(folder, arch.json content)`` per exported trial.
    """
    if sum((trial is not None, pareto, best is not None)) != 1:
        raise NasError("choose exactly one of --trial N, --pareto, --best OBJECTIVE")
    run = load_run_view(run_dir)
    filters = [parse_where(w, run.value_names()) for w in where]
    if trial is not None:
        if filters:
            raise NasError("--where filters --best and --pareto, not --trial")
        chosen = [select_trial(run, trial)]
    elif pareto:
        chosen = select_pareto(run, filters)
    else:
        assert best is not None
        chosen = [select_best(run, best, filters)]
    out = Path(out)
    results = []
    for t in chosen:
        folder = out / f"trial_{t.number}" if pareto else out
        info = export_arch(export_source(run, t), folder, onnx=onnx, onnx_exporter=onnx_exporter,
                           seed=seed)
        results.append((folder, info))
    if pareto:
        import json

        out.mkdir(parents=True, exist_ok=True)
        index = [{"trial": t.number, "dir": f"trial_{t.number}", "arch": t.arch,
                  "values": dict(t.values)} for t in chosen]
        (out / "pareto.json").write_text(json.dumps(index, indent=2) + "\n")
    return results
