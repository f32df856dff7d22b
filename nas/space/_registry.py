"""Finding space files: the shipped ``search_spaces/`` folder plus ``$HWNAS_SPACE_PATH``."""

from __future__ import annotations

import os
from functools import cache
from importlib.resources import files
from pathlib import Path

from nas._errors import NasError
from nas.space._space import SearchSpace

# Package data mapped from the repository's top-level search_spaces/ (setup.py).
SHIPPED_SPACES = Path(str(files("nas.search_spaces")))
_LOADED: dict[str, SearchSpace] = {}


def space_dirs() -> list[Path]:
    """Folders searched for ``NAME.yaml``: ``$HWNAS_SPACE_PATH`` entries first, then the shipped ones."""
    extra = [Path(p) for p in os.environ.get("HWNAS_SPACE_PATH", "").split(os.pathsep) if p]
    return [*extra, SHIPPED_SPACES]


def list_spaces() -> list[str]:
    names = {p.stem for d in space_dirs() if d.is_dir() for p in d.glob("*.yaml")}
    return sorted(names | set(_LOADED))


@cache
def _load_file(path: str, mtime: float) -> SearchSpace:
    return SearchSpace.from_file(path)


def get_space(name_or_path: str | Path) -> SearchSpace:
    """A space by name (``mobilenet_v3``) or by the path of a YAML file.

    A space loaded from a path is remembered under its name, so archs of that space resolve too.
    """
    text = str(name_or_path)
    if text in _LOADED:
        return _LOADED[text]
    path = Path(text)
    if path.suffix in (".yaml", ".yml") or os.sep in text:
        if not path.is_file():
            raise NasError(f"space file {text}: not found")
    else:
        found = [d / f"{text}.yaml" for d in space_dirs() if (d / f"{text}.yaml").is_file()]
        if not found:
            raise NasError(f"unknown space {text!r}; known: {', '.join(list_spaces())}")
        path = found[0]
    space = _load_file(str(path.resolve()), path.stat().st_mtime)
    if path.stem != space.name and path.parent == SHIPPED_SPACES:
        raise NasError(f"{path}: field 'name' is {space.name!r} but the file is {path.name}")
    _LOADED.setdefault(space.name, space)
    return space


def register_space(space: SearchSpace) -> None:
    """Make an in-memory space (e.g. built by a config script) resolvable by name."""
    _LOADED[space.name] = space
