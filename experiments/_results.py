"""Write one benchmark's section of experiments/RESULTS.md, with the machine it ran on.

Each script owns the text between ``<!-- BEGIN name -->`` and ``<!-- END name -->``; rerunning
it replaces only that section. Also here: :func:`cached_rows`, the resumable per-item CSV that
keeps what a benchmark scored so a rerun (or a run after a crash) scores only what is missing.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import os
import platform
import re
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
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


def read_csv(path: Path) -> list[dict[str, str]]:
    """The rows of the CSV at ``path``; none if it does not exist yet."""
    if not path.is_file():
        return []
    with path.open() as fh:
        return list(csv.DictReader(fh))


def cached_rows(path: Path, columns: Sequence[str], keys: Sequence[str],
                row_of: Callable[[str], Mapping[str, object]]) -> dict[str, dict[str, str]]:
    """key -> its row of the CSV at ``path`` (keyed by its first column, ``columns[0]``). Keys
    not in it yet are scored by ``row_of`` and appended one by one, flushed, so an interrupted
    run resumes where it stopped. Values come back as the CSV's strings."""
    key = columns[0]
    done = {r[key]: r for r in read_csv(path)}
    todo = [k for k in keys if k not in done]
    if not todo:
        return done
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.is_file() or path.stat().st_size == 0
    with path.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns))
        if new:
            writer.writeheader()
        for i, k in enumerate(todo):
            row = {**row_of(k), key: k}
            writer.writerow(row)
            fh.flush()
            done[k] = {c: str(v) for c, v in row.items()}
            shown = {c: v for c, v in row.items() if c != key}
            print(f"scored {i + 1}/{len(todo)} into {path.name}: {shown}", flush=True)
    return done
