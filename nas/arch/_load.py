"""Resolve what a user typed into an :class:`Arch`: a reference name, canonical text, or a file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from nas._errors import NasError
from nas.arch._arch import Arch
from nas.arch._references import REFERENCES

# Extra file formats: a predicate on the parsed JSON and a converter. Importers in higher layers
# register theirs (``nas.lutkit`` adds Once-for-All / ProxylessNAS net.config files on import).
ArchFileReader = Callable[[dict, str], "Arch | None"]
_FILE_READERS: list[ArchFileReader] = []


def register_arch_file_reader(reader: ArchFileReader) -> None:
    """Add a reader for another arch file format; it returns None for files it does not know."""
    _FILE_READERS.append(reader)


def load_arch(spec: str) -> Arch:
    """A reference name (``mobilenet_v2_100``), a canonical arch string, or a JSON file path."""
    spec = spec.strip()
    if spec in REFERENCES:
        return REFERENCES[spec].arch
    if "|" in spec:
        return Arch.parse(spec)
    path = Path(spec)
    if not path.is_file():
        raise NasError(f"arch {spec!r}: not a reference name ({', '.join(REFERENCES)}), "
                       "not canonical arch text (SPACE:rRES:wW|...), and no such file")
    import json

    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise NasError(f"arch file {path}: cannot read JSON ({exc})") from None
    if isinstance(data, dict) and "arch" in data and isinstance(data["arch"], str):
        return Arch.parse(data["arch"])  # e.g. an exported arch.json
    for reader in _FILE_READERS:
        arch = reader(data, str(path))
        if arch is not None:
            return arch
    return Arch.from_dict(data, source=f"arch file {path}")

