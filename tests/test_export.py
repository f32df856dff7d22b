"""nas export of a given arch: the folder's files, the checks it records, and its errors.

Real models, real ONNX export checked with onnxruntime, a real (tiny) latency table built on
this machine, and ``model.py`` executed in a fresh isolated interpreter where ``nas`` cannot be
imported.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from _search_env import build_fast_table, tiny_space_yaml
from torch.utils.flop_counter import FlopCounterMode

from nas._errors import NasError
from nas.arch import Arch
from nas.cli._main import main
from nas.cost import arch_cost
from nas.export import ExportSource, arch_export_source, check_onnx, export_arch, read_export
from nas.models import build_model
from nas.space import get_space
from nas.train import TrainConfig

TINY_SPACE = tiny_space_yaml("tiny_export", "three-stage space for export and training tests",
                             width="1.0", fc_head=True)
TINY_ARCH = "tiny_export:r16:w1|c8:k3e1|c16:k5e4,skip|c24:k3e3_se,k3e3"
SMALL_V3 = ("mobilenet_v3:r32:w1|c16:k3e1|c24:k3e3,k5e4|c40:k3e3_se,k3e3_se|c80:k3e3,k3e6"
            "|c112:k3e3_se,k3e3_se|c160:k5e3_se,k3e3_se")
_BLOCK_NAS = "import sys; sys.modules['nas'] = None; sys.path.insert(0, '.');"


@pytest.fixture(scope="module")
def tiny_space(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spaces") / "tiny_export.yaml"
    path.write_text(TINY_SPACE)
    get_space(path)  # registers the name for this process
    return path


@pytest.fixture(scope="module")
def tiny_table(tiny_space: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real latency table of the tiny space, measured here with minimal timing."""
    return build_fast_table(tiny_space, tmp_path_factory.mktemp("tables") / "tiny_export_cpu.json")


@pytest.fixture(scope="module")
def small_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "small"
    src = arch_export_source(SMALL_V3, classes=10, in_channels=1, dataset="digits")
    export_arch(src, out)
    return out


def _isolated(code: str, cwd: Path) -> str:
    """Run ``code`` in a fresh isolated interpreter (no user site, no PYTHONPATH, nas blocked)."""
    proc = subprocess.run([sys.executable, "-I", "-c", _BLOCK_NAS + code], cwd=cwd,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_export_folder_has_every_file_and_records_the_arch(small_export: Path) -> None:
    for name in ("arch.json", "model.py", "model.pt", "model.onnx", "timm_arch_def.json",
                 "train.yaml"):
        assert (small_export / name).is_file(), name
    info, arch, space = read_export(small_export)
    assert arch == Arch.parse(SMALL_V3) and info["arch_hash"] == arch.hash
    assert (space.name, info["resolution"], info["classes"], info["in_channels"]) == \
        ("mobilenet_v3", 32, 10, 1)
    assert info["weights"]["state"] == "untrained_init"
    assert info["provenance"]["source"] == "arch" and info["provenance"]["hwnas_version"]
    assert TrainConfig.load(small_export / "train.yaml").dataset == "digits"


def test_exported_params_and_macs_equal_the_search_time_figures(small_export: Path) -> None:
    info, arch, space = read_export(small_export)
    cost = arch_cost(arch, space, classes=10, in_channels=1)
    state = torch.load(small_export / "model.pt", weights_only=True)
    model = build_model(arch, space, classes=10, in_channels=1, dropout=info["dropout"])
    model.load_state_dict(state)
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 1, 32, 32))
    assert sum(p.numel() for p in model.parameters()) == cost.params == info["cost"]["params"]
    assert counter.get_total_flops() == 2 * cost.macs == 2 * info["cost"]["macs"]
    assert info["checks"]["params"]["equal"] and info["checks"]["macs"]["equal"]


def test_model_py_imports_only_torch(small_export: Path) -> None:
    tree = ast.parse((small_export / "model.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= {"__future__", "sys", "torch"}


def test_model_py_standalone_matches_builder_and_loads_weights(small_export: Path) -> None:
    info, arch, space = read_export(small_export)
    out = _isolated(
        "import json, torch, model;"
        "m = model.build_model().eval();"
        "m.load_state_dict(torch.load('model.pt', map_location='cpu'));"
        "g = torch.Generator().manual_seed(3);"
        "x = torch.randn(2, 1, 32, 32, generator=g);"
        "torch.save(m(x).detach(), 'standalone_out.pt');"
        "print(json.dumps({k: list(v.shape) for k, v in m.state_dict().items()}))",
        small_export)
    shapes = json.loads(out)
    model = build_model(arch, space, classes=10, in_channels=1, dropout=info["dropout"]).eval()
    model.load_state_dict(torch.load(small_export / "model.pt", weights_only=True))
    assert shapes == {k: list(v.shape) for k, v in model.state_dict().items()}
    x = torch.randn(2, 1, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = model(x)
    assert torch.equal(torch.load(small_export / "standalone_out.pt", weights_only=True), expected)


def test_onnx_agrees_with_pytorch_and_the_check_can_fail(small_export: Path) -> None:
    info, arch, space = read_export(small_export)
    check = info["onnx"]["check"]
    assert check["passed"] and check["opset"] >= 17 and check["argmax_agree"]
    model = build_model(arch, space, classes=10, in_channels=1, dropout=info["dropout"])
    model.load_state_dict(torch.load(small_export / "model.pt", weights_only=True))
    again = check_onnx(model, small_export / "model.onnx", in_channels=1, resolution=32, seed=5)
    assert again["passed"] and again["max_abs_diff"] <= 1e-3 * again["max_abs_output"]
    other = build_model(arch, space, classes=10, in_channels=1, dropout=info["dropout"])  # new init
    assert not check_onnx(other, small_export / "model.onnx", in_channels=1, resolution=32)["passed"]


def test_timm_arch_def_file(small_export: Path) -> None:
    timm = json.loads((small_export / "timm_arch_def.json").read_text())
    assert timm["expressible"]
    assert timm["arch_def"][0] == ["ds_r1_k3_s1_c16_nre"]
    assert timm["arch_def"][-1] == ["cn_r1_k1_s1_c960"]
    assert timm["kwargs"]["num_features"] == 1280 and timm["kwargs"]["num_classes"] == 10


def test_table_prediction_is_recorded_with_its_hash(tiny_space: Path, tiny_table: Path,
                                                    tmp_path: Path) -> None:
    from nas.latency import load_table

    src = arch_export_source(TINY_ARCH, classes=10, in_channels=1, tables=[str(tiny_table)])
    info = export_arch(src, tmp_path / "e", onnx=False)
    table = load_table(tiny_table)
    score = info["scores"][f"latency:{table.id}"]
    expected = table.predict(Arch.parse(TINY_ARCH), classes=10, in_channels=1).latency_ms
    assert score["kind"] == "predicted" and score["value"] == pytest.approx(expected)
    assert score["table_hash"] == table.content_hash
    assert info["tables"][0]["here"]["content_hash"] == table.content_hash
    assert not (tmp_path / "e" / "model.onnx").exists() and info["onnx"] is None
    # the space came from a file: arch.json names it so the folder can be read again
    assert Path(info["space_file"]) == tiny_space.resolve()


def test_cli_export_reference(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "mnasnet_a1", "--out", str(tmp_path / "m"), "--classes", "10",
                 "--resolution", "64", "--no-onnx", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["params_macs_match"] and summary["model_py_ok"] and summary["timm_expressible"]
    info = json.loads((tmp_path / "m" / "arch.json").read_text())
    assert info["provenance"]["reference"] == "mnasnet_a1" and info["resolution"] == 64
    assert TrainConfig.load(tmp_path / "m" / "train.yaml").dataset == ""


@pytest.mark.parametrize(("argv", "message"), [
    (["no_such_arch"], "no_such_arch"),
    (["mnasnet_a1", "--trial", "3"], "--trial"),
    (["mnasnet_a1", "--best", "accuracy"], "--best"),
    (["mnasnet_a1", "--pareto"], "--pareto"),
    (["mnasnet_a1", "--where", "macs<=1"], "--where"),
    (["mnasnet_a1", "--classes", "0"], "--classes"),
    (["mnasnet_a1", "--resolution", "4"], "--resolution"),
    (["mnasnet_a1", "--table", "no_such_table"], "no_such_table"),
])
def test_cli_export_bad_input_names_it(argv: list[str], message: str, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", *argv, "--out", str(tmp_path / "x"), "--no-onnx"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nas: error:") and message in err


def test_folder_without_run_json_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "without run.json" in capsys.readouterr().err


def test_read_export_errors_name_the_folder(tmp_path: Path) -> None:
    with pytest.raises(NasError, match="not a directory"):
        read_export(tmp_path / "missing")
    with pytest.raises(NasError, match=r"no arch\.json"):
        read_export(tmp_path)
    (tmp_path / "arch.json").write_text("{not json")
    with pytest.raises(NasError, match=r"arch\.json: not valid JSON"):
        read_export(tmp_path)


def test_export_does_not_touch_the_global_torch_rng(tmp_path: Path) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    src = ExportSource(Arch.parse(SMALL_V3), get_space("mobilenet_v3"), classes=10, in_channels=1)
    export_arch(src, tmp_path / "e", onnx=False, seed=7)
    assert torch.equal(torch.rand(3), expected)
