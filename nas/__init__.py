"""hwnas: hardware-aware neural architecture search.

The data flows one way: space file -> :class:`~nas.arch.Arch` -> block list
(:func:`~nas.blocks.arch_to_blocks`) -> cost model and latency tables -> search -> export.
"""

from __future__ import annotations

from nas._errors import NasError

__version__ = "0.1.0"

__all__ = ["NasError", "__version__"]
