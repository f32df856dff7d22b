"""Write one benchmark's section of experiments/RESULTS.md, with the machine it ran on.

Each script owns the text between ``<!-- BEGIN name -->`` and ``<!-- END name -->``; rerunning
it replaces only that section.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def cpu_model() -> str:
    """The CPU's name and design: a hypervisor may call CPUs two generations apart "AMD EPYC"."""
    from nas.latency._fingerprint import cpu_identity
    from nas.latency._fingerprint import cpu_model as name

    ident = cpu_identity()
    design = " ".join(f"{k} {ident[k]}" for k in ("family", "model", "implementer", "part")
                      if k in ident)
    return f"{name()} ({design})" if design else name()


def machine_line() -> str:
    import torch

    return (f"Machine: {cpu_model()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, torch {torch.__version__}; "
            f"run {_dt.datetime.now(_dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}.")


def use_host1_tables() -> None:
    """Pin table lookups by id to the shipped ``latency_tables/ID.json`` (built on host 1) rather
    than this machine's host variant (``latency_tables/hosts/``): for scripts that rescore
    timings recorded against those tables, whatever machine rescores them."""
    from nas.latency._registry import HOST_ENV

    os.environ[HOST_ENV] = "default"


def section_args(doc: str | None) -> argparse.Namespace:
    """The command line of a script that only scores recorded runs: ``--note`` (a paragraph
    appended to its section) and ``--no-results`` (print, leave RESULTS.md alone)."""
    ap = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    ap.add_argument("--note", default="", help="a paragraph appended to the section")
    ap.add_argument("--no-results", action="store_true", help="do not touch RESULTS.md")
    return ap.parse_args()


def publish(args: argparse.Namespace, name: str, title: str, data: object, *parts: str) -> None:
    """What a scoring script ends with: print ``data`` as JSON and, unless ``--no-results``,
    write section ``name`` from ``parts`` (blank lines between) and the ``--note`` paragraph."""
    import json

    print(json.dumps(data, indent=1))
    if not args.no_results:
        write_section(name, title, "\n\n".join([*parts, *([args.note] if args.note else [])]))


def write_section(name: str, title: str, body: str) -> None:
    """Replace (or append) section ``name`` of RESULTS.md with ``title``, the machine line and ``body``."""
    replace_section(name, f"<!-- BEGIN {name} -->\n## {title}\n\n{machine_line()}\n\n{body.strip()}\n"
                          f"<!-- END {name} -->")


def replace_section(name: str, block: str) -> None:
    """Replace (or append) section ``name`` of RESULTS.md with ``block``, its BEGIN/END markers included."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"<!-- BEGIN {re.escape(name)} -->.*?<!-- END {re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text)
