"""What ``nas export`` exports when it is given an arch (no run): reference name or canonical text."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from nas._errors import NasError
from nas.arch import REFERENCES, load_arch
from nas.export._export import ExportSource
from nas.space import get_space


def arch_export_source(spec: str, *, classes: int = 1000, in_channels: int = 3,
                       resolution: int | None = None, dataset: str = "",
                       tables: Sequence[str] = ()) -> ExportSource:
    """An :class:`ExportSource` for a reference name, canonical arch text or arch JSON file.

    Args:
        spec: what ``load_arch`` accepts.
        classes: classifier outputs.
        in_channels: image channels.
        resolution: input resolution (default: the arch's).
        dataset: dataset for ``train.yaml``.
        tables: latency table ids or paths whose predictions go into ``arch.json``.
    """
    if classes < 1 or in_channels < 1:
        raise NasError(f"--classes and --in-channels must be >= 1, got {classes}, {in_channels}")
    import nas.lutkit  # noqa: F401 - registers the net.config arch format with load_arch

    arch = load_arch(spec)
    if resolution is not None:
        if resolution < 8:
            raise NasError(f"--resolution must be >= 8, got {resolution}")
        arch = arch.replace(resolution=resolution)
    space = get_space(arch.space)
    scores: dict[str, float | None] = {}
    table_hashes: dict[str, str] = {}
    table_files: dict[str, str] = {}
    if tables:
        from nas.latency import load_table

        for t in tables:
            table = load_table(t)
            pred = table.predict(arch, classes=classes, in_channels=in_channels)
            scores[f"latency:{table.id}"] = pred.latency_ms
            table_hashes[table.id] = table.content_hash
            if table.path:
                table_files[table.id] = str(Path(table.path).resolve())
    provenance = {"source": "arch", "spec": spec}
    if spec.strip() in REFERENCES:
        provenance["reference"] = spec.strip()
    return ExportSource(arch=arch, space=space, classes=classes, in_channels=in_channels,
                        dataset=dataset, scores=scores, tables=table_hashes, table_files=table_files,
                        provenance=provenance)
