"""The one YAML reader: space files, search configs, table imports and ``train.yaml`` all use it,
so every such file fails the same way, naming itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from nas._errors import NasError


def read_yaml(path: str | Path, what: str = "file") -> Any:
    """The parsed content of ``path``; a :class:`NasError` naming the file when it cannot be
    read or is not YAML. ``what`` says what the file was meant to be (``space file``, ...)."""
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text())
    except OSError as exc:
        raise NasError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise NasError(f"{path}: not valid YAML ({exc})") from None
