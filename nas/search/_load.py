"""Reading a config file: YAML (or JSON), or a Python script that builds a :class:`SearchConfig`.

A Python config script must define a module-level ``config`` (a :class:`SearchConfig`); it may also
run the search under ``if __name__ == "__main__":`` (see ``experiments/quickstart.py``). Loading
runs the script with another ``__name__``, so only the config is built.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import yaml

from nas._errors import NasError
from nas.search._config import SearchConfig

SCRIPT_RUN_NAME = "__hwnas_config__"


def load_config(path: str | Path) -> SearchConfig:
    """The config in ``path`` (``.yaml``/``.yml``/``.json`` or ``.py``); errors name the file."""
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
        return config
    if path.suffix not in (".yaml", ".yml", ".json"):
        raise NasError(f"config {path}: expected a .yaml, .yml, .json or .py file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise NasError(f"{path.name}: not valid YAML ({exc})") from None
    try:
        return SearchConfig.from_dict(data, default_name=path.stem)
    except NasError as exc:
        raise NasError(f"{path.name}: {exc}") from None
