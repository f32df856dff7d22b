"""The built wheel carries the shipped spaces and tables: `nas spaces` and `nas lut list` work
from an installed wheel, outside the checkout."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*cmd: str | Path) -> None:
    out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"{cmd}: {out.stderr[-3000:]}"


@pytest.mark.slow
def test_wheel_installs_with_spaces_and_tables(tmp_path: Path) -> None:
    # Build from a clean copy of the tracked tree, so the checkout gets no build/ folder.
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout
    src = tmp_path / "src"
    for rel in filter(None, files.decode().split("\0")):
        if (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, src / rel)
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", tmp_path / "dist", src)
    wheel = next((tmp_path / "dist").glob("hwnas-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped_spaces = {p.name for p in (ROOT / "search_spaces").glob("*.yaml")}
    shipped_tables = {str(p.relative_to(ROOT)) for p in (ROOT / "latency_tables").rglob("*.json")}
    assert {f"nas/search_spaces/{n}" for n in shipped_spaces} <= names
    assert {f"nas/{t}" for t in shipped_tables} <= names

    # A fresh environment with the wheel alone; its dependencies are this environment's, added
    # as a plain path (not a site dir, so this checkout's editable install is not picked up).
    env_dir = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", env_dir)
    py = env_dir / "bin" / "python"
    site = Path(subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(sys.executable, "-m", "pip", "--python", py, "install", "-q", "--no-deps", "--no-index", wheel)
    outside = tmp_path / "elsewhere"
    outside.mkdir()

    def nas(*args: str) -> str:
        out = subprocess.run([env_dir / "bin" / "nas", *args], cwd=outside, capture_output=True,
                             text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        return out.stdout

    where = subprocess.run([py, "-c", "import nas; print(nas.__file__)"], cwd=outside,
                           capture_output=True, text=True, check=True).stdout
    assert str(site) in where  # the wheel's copy, not the checkout
    spaces = json.loads(nas("spaces", "--json"))
    assert {s["name"] for s in spaces} == {n.removesuffix(".yaml") for n in shipped_spaces}
    tables = json.loads(nas("lut", "list", "--json"))
    assert {t["id"] for t in tables} == {Path(t).stem for t in shipped_tables if "/hosts/" not in t}
    assert not [t for t in tables if "error" in t]
