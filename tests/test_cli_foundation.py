"""The foundation CLI commands, run as a user would (a real subprocess, JSON on stdout)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nas.arch import REFERENCES
from nas.space import get_space


def nas(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nas", *args], capture_output=True, text=True, timeout=120)


def test_spaces_lists_every_space() -> None:
    out = nas("spaces", "--json")
    assert out.returncode == 0, out.stderr
    names = {s["name"] for s in json.loads(out.stdout)}
    assert {"mobilenet_v2", "mobilenet_v3", "efficientnet", "fbnet", "mnasnet"} <= names


def test_arch_show_reference_json() -> None:
    out = nas("arch", "show", "proxylessnas_mobile", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    for key in ("arch", "space", "resolution", "macs", "params", "peak_activation_bytes"):
        assert key in data
    assert data["arch"] == REFERENCES["proxylessnas_mobile"].text
    assert data["space"] == "mobilenet_v2" and data["in_space"] is True


def test_arch_show_resolution_and_classes_change_costs() -> None:
    base = json.loads(nas("arch", "show", "mobilenet_v2_100", "--json").stdout)
    small = json.loads(nas("arch", "show", "mobilenet_v2_100", "--resolution", "112", "--classes", "10",
                           "--space", "mobilenet_v2", "--json").stdout)
    assert small["resolution"] == 112 and small["macs"] < base["macs"] / 3
    assert small["params"] == base["params"] - 1281 * 990


def test_arch_sample_prints_canonical_archs_in_space() -> None:
    out = nas("arch", "sample", "--space", "mobilenet_v3", "--n", "4", "--seed", "5")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split()
    assert len(lines) == 4
    space = get_space("mobilenet_v3")
    from nas.arch import Arch

    assert all(space.contains(Arch.parse(line)) for line in lines)
    assert nas("arch", "sample", "--space", "mobilenet_v3", "--n", "4", "--seed", "5").stdout == out.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("arch", "show", "resnet50"), "not a reference name"),
        (("arch", "show", "mobilenet_v3:r224|c16:k3e1"), "stages"),
        (("arch", "show", "mobilenet_v2_100", "--space", "mobilenet_v3"), "belongs to space"),
        (("arch", "sample", "--space", "nope"), "unknown space 'nope'"),
        (("arch", "sample", "--space", "fbnet", "--n", "0"), "--n must be >= 1"),
        (("arch", "show", "mnasnet_a1", "--dtype", "float8"), "dtype 'float8'"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(args: tuple[str, ...], fragment: str) -> None:
    out = nas(*args)
    assert out.returncode == 2
    assert fragment in out.stderr
    assert "Traceback" not in out.stderr
