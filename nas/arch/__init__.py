"""Typed architectures, their canonical text form, and the registered reference networks."""

from __future__ import annotations

from nas.arch._arch import Arch, Layer, Stage, format_num
from nas.arch._load import load_arch, register_arch_file_reader
from nas.arch._references import REFERENCES, Reference, reference

__all__ = [
    "REFERENCES",
    "Arch",
    "Layer",
    "Reference",
    "Stage",
    "format_num",
    "load_arch",
    "reference",
    "register_arch_file_reader",
]
