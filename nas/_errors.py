"""The one exception type for user errors (bad files, fields, keys, arguments).

The CLI turns a :class:`NasError` into a one-line message and a non-zero exit; any other
exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class NasError(ValueError):
    """A user-facing error: the message names the file, field or key and what is allowed."""
