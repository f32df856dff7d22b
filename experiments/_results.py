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
import shlex
import sys
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


def command_line() -> str:
    """The command that is running, as one would type it from the repository root."""
    script = Path(sys.argv[0]).resolve()
    try:
        script = script.relative_to(Path.cwd())
    except ValueError:
        script = Path("experiments") / script.name
    args = list(sys.argv[1:])
    if "--note" in args:  # the note is in the section already
        i = args.index("--note")
        del args[i:i + 2]
    return shlex.join(["python", str(script), *args])


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
    """Replace (or append) section ``name`` of RESULTS.md with ``title``, the command that is
    running, the machine line and ``body``."""
    replace_section(name, f"<!-- BEGIN {name} -->\n## {title}\n\nCommand: `{command_line()}`\n\n"
                          f"{machine_line()}\n\n{body.strip()}\n<!-- END {name} -->")


def replace_section(name: str, block: str) -> None:
    """Replace (or append) section ``name`` of RESULTS.md with ``block``, its BEGIN/END markers included."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"<!-- BEGIN {re.escape(name)} -->.*?<!-- END {re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text)
