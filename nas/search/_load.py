"""Reading a config file: YAML (or JSON), or a Python script that builds a :class:`SearchConfig`.

A Python config script must define a module-level ``config`` (a :class:`SearchConfig`); it may also
run the search under ``if __name__ == "__main__":`` (see ``experiments/quickstart.py``). Loading
runs the script with another ``__name__``, so only the config is built.

Beside the search config a file may carry a ``ray:`` section (a YAML key, or a module-level
``ray = {...}`` in a script): how each trial runs on a Ray cluster. It is returned as written;
``nas.distributed.parse_ray_section`` reads it.
"""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

from nas._errors import NasError
from nas._yaml import read_yaml
from nas.search._config import SearchConfig

SCRIPT_RUN_NAME = "__hwnas_config__"
RAY_KEY = "ray"


def read_config(path: str | Path) -> tuple[SearchConfig, Any]:
    """``(search config, raw ray section or None)`` of ``path``; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise NasError(f"config {path}: not found")
    if path.suffix == ".py":
        try:
            namespace = runpy.run_path(str(path), run_name=SCRIPT_RUN_NAME)
        except NasError as exc:
            raise NasError(f"{path.name}: {exc}") from None
        config = namespace.get("config")
        if not isinstance(config, SearchConfig):
            raise NasError(f"{path.name}: a Python config must define `config = SearchConfig(...)`, "
                           f"found {type(config).__name__}")
        return config, namespace.get(RAY_KEY)
    if path.suffix not in (".yaml", ".yml", ".json"):
        raise NasError(f"config {path}: expected a .yaml, .yml, .json or .py file")
    data = read_yaml(path, "config")
    ray = data.get(RAY_KEY) if isinstance(data, dict) else None
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k != RAY_KEY}
    try:
        return SearchConfig.from_dict(data, default_name=path.stem), ray
    except NasError as exc:
        raise NasError(f"{path.name}: {exc}") from None


def load_config(path: str | Path) -> SearchConfig:
    """The search config in ``path`` (``.yaml``/``.yml``/``.json`` or ``.py``); errors name the file."""
    return read_config(path)[0]
