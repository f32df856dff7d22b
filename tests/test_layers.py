"""Every package of ``nas`` sits in the import-linter layers contract (pyproject.toml), so a new
package cannot slip past the layering that CI's ``lint-imports`` checks."""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path

import nas

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_in_a_layer() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    (layers,) = [c["layers"] for c in contracts if c["type"] == "layers"]
    layered = {name.strip() for line in layers for name in line.split("|")}
    packages = {f"nas.{m.name}" for m in pkgutil.iter_modules(nas.__path__)
                if m.name != "__main__" and (m.ispkg or m.name.startswith("_"))}
    missing = {p for p in packages if p not in layered and p not in ("nas.search_spaces", "nas.latency_tables")}
    assert not missing, f"add {sorted(missing)} to the layers contract in pyproject.toml"
    assert layered <= packages | {"nas._errors"}, sorted(layered - packages)
