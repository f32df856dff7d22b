"""Reading one mapping of a config file, naming the field in every error.

YAML 1.1 reads ``3e-3`` and ``300e6`` as strings, so number fields also accept numeric strings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from nas._errors import NasError


def as_number(value: Any, where: str) -> float:
    """``value`` as a finite float (ints, floats and numeric strings such as ``"3e-3"``)."""
    if isinstance(value, bool):
        raise NasError(f"{where}: {value!r} is not a number")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise NasError(f"{where}: {value!r} is not a number") from None
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise NasError(f"{where}: {value!r} is not a finite number")
    return float(value)


def as_int(value: Any, where: str, low: int | None = None) -> int:
    """``value`` as an integer (``3.0`` and ``"1e3"`` are fine; ``2.5`` is not), optionally >= low."""
    number = as_number(value, where)
    if not number.is_integer():
        raise NasError(f"{where}: {value!r} is not an integer")
    if low is not None and number < low:
        raise NasError(f"{where}: {value!r} must be an integer >= {low}")
    return int(number)


class Fields:
    """A mapping read field by field; ``where`` prefixes every error (``evaluator.epochs``)."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, Mapping):
            raise NasError(f"{where or 'config'}: expected a mapping, got {type(data).__name__}")
        self.data, self.where = data, where

    def sub(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def check_known(self, allowed: Sequence[str]) -> None:
        unknown = sorted(str(k) for k in self.data if k not in allowed)
        if unknown:
            raise NasError(f"{self.sub(unknown[0])}: unknown field; allowed: {', '.join(allowed)}")

    def has(self, key: str) -> bool:
        return key in self.data and self.data[key] is not None

    def get(self, key: str, default: Any = None) -> Any:
        value = self.data.get(key)
        return default if value is None else value

    def required(self, key: str) -> Any:
        if not self.has(key):
            raise NasError(f"{self.sub(key)}: missing (required field)")
        return self.data[key]

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self.get(key, default)
        if value is not None and not isinstance(value, str):
            raise NasError(f"{self.sub(key)}: {value!r} is not a string")
        return value

    def text_list(self, key: str) -> tuple[str, ...] | None:
        """A list of strings; a single string counts as a one-item list."""
        value = self.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise NasError(f"{self.sub(key)}: expected a list of strings, got {value!r}")
        return tuple(value)

    def number_list(self, key: str) -> tuple[float, ...] | None:
        value = self.get(key)
        if value is None:
            return None
        items = value if isinstance(value, list) else [value]
        return tuple(as_number(v, f"{self.sub(key)}[{i}]") for i, v in enumerate(items))
