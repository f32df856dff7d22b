"""``nas lut import-kit``: a kit runner's results CSV -> a table with the runner's fingerprint."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from nas._errors import NasError
from nas.latency import Entry, LatencyTable
from nas.lutkit._kit import read_manifest

RESULTS_FORMAT = "hwnas-kit-results"
_STATS = {"n": "n", "median": "median_ms", "mean": "mean_ms", "p90": "p90_ms", "std": "std_ms",
          "min": "min_ms"}


def read_results(path: str | Path) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """(fingerprint, rows) of a results CSV written by ``run_kit.py``."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise NasError(f"{path}: cannot read ({exc.strerror})") from None
    if not lines or not lines[0].startswith(f"# {RESULTS_FORMAT} "):
        raise NasError(f"{path}: not a kit results CSV (first line should be "
                       f"'# {RESULTS_FORMAT} 1', as run_kit.py writes)")
    fp: dict[str, Any] | None = None
    body = []
    for line in lines[1:]:
        if line.startswith("# fingerprint "):
            try:
                fp = json.loads(line.removeprefix("# fingerprint "))
            except json.JSONDecodeError as exc:
                raise NasError(f"{path}: corrupt fingerprint line ({exc})") from None
        elif not line.startswith("#"):
            body.append(line)
    if fp is None:
        raise NasError(f"{path}: no '# fingerprint' line")
    rows = list(csv.DictReader(body))
    need = {"key", *_STATS.values()}
    if not rows or not need <= set(rows[0]):
        raise NasError(f"{path}: results need columns {sorted(need)}")
    return fp, rows


def import_kit_results(results: str | Path, kit: str | Path, *, device_name: str | None = None,
                       statistic: str = "median") -> tuple[LatencyTable, dict[str, Any]]:
    """The table of a kit run (entries keyed by the kit's block keys) and a summary.

    ``statistic`` is what the table predicts from (``median`` or ``min`` of each block's
    timings); calibration and validation then use the same statistic of whole networks.
    """
    manifest = read_manifest(kit)
    fp, rows = read_results(results)
    if fp.get("kit_id") != manifest["kit_id"]:
        raise NasError(f"{results}: measured kit {fp.get('kit_id')!r}, but {kit} is kit "
                       f"{manifest['kit_id']!r}")
    keys = {b["key"] for b in manifest["blocks"]}
    provider = str(fp.get("provider", "unknown"))
    cpu = provider == "CPUExecutionProvider"
    device = {"name": device_name or fp.get("android_model") or fp.get("cpu_model") or "unknown",
              "kind": "cpu" if cpu else provider.removesuffix("ExecutionProvider").lower(),
              "runtime": "onnxruntime", "runtime_version": fp.get("onnxruntime"),
              "provider": provider, "provider_options": fp.get("provider_options", {}),
              "cores": fp.get("cores"), "threads": fp.get("threads"), "batch": manifest["batch"],
              "dtype": manifest.get("dtype", "float32"), "platform": fp.get("platform"),
              "machine": fp.get("machine"), "processor": fp.get("processor"),
              "cpu_model": fp.get("cpu_model"), "date": fp.get("date")}
    measurement: dict[str, Any] = {
        "backend": "onnxruntime", "device_type": device["kind"], "method": "kit",
        "kit_id": manifest["kit_id"], "repeats": fp.get("repeats"), "rounds": fp.get("rounds"),
        "warmup": fp.get("warmup")}
    if cpu:  # what `nas lut validate` needs to re-measure whole networks the same way
        measurement.update(device="cpu", threads=int(fp.get("threads", 1)),
                           batch=int(manifest["batch"]), dtype=device["dtype"], timer="wall")
    table = LatencyTable(device=device, measurement=measurement,
                         source=f"nas lut kit {manifest['kit_id']} timed by run_kit.py",
                         notes=f"Block models run with onnxruntime {fp.get('onnxruntime')} "
                               f"({provider}, {fp.get('threads')} threads).")
    table.set_statistic(statistic)
    fallbacks = []
    for i, row in enumerate(rows):
        if row["key"] not in keys:
            raise NasError(f"{results}: row {i + 2}: key {row['key']!r} is not in kit {kit}")
        try:
            values = {k: float(row[c]) for k, c in _STATS.items()}
            entry = Entry(median=values["median"], n=int(values["n"]), mean=values["mean"],
                          p90=values["p90"], std=values["std"], min=values["min"])
        except (ValueError, NasError) as exc:
            raise NasError(f"{results}: row {i + 2} ({row['key']}): {exc}") from None
        table.add_entry(row["key"], entry)
        if not cpu and row.get("providers", "").split("+")[0] != provider:
            fallbacks.append(row["key"])
    for cfg in manifest["configs"]:
        table.add_config(cfg["space"], cfg["resolution"], in_channels=cfg["in_channels"],
                         classes=cfg["classes"], widths=cfg["widths"])
    if manifest.get("space_file"):
        table.space_files[manifest["space"]] = manifest["space_file"]
    missing = sorted(keys - set(table.entries))
    summary = {"device": device["name"], "provider": provider, "entries": len(table),
               "kit_keys": len(keys), "missing": missing,
               "provider_fallbacks": fallbacks}
    return table, summary
