"""ONNX export of a built model and its check against PyTorch with onnxruntime."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from nas._errors import NasError

ONNX_OPSET = 17
EXPORTERS = ("torchscript", "dynamo")


def export_onnx(model: nn.Module, path: Path, *, in_channels: int, resolution: int,
                opset: int = ONNX_OPSET, exporter: str = "torchscript") -> None:
    """Write ``model`` (in eval mode) to ``path`` with a dynamic batch axis.

    ``torchscript`` is torch's TorchScript-based exporter (a few seconds for a 224x224 MobileNet);
    ``dynamo`` is the torch.export-based one (several times slower for these models).
    """
    if opset < 17:
        raise NasError(f"ONNX opset {opset}: use 17 or later")
    if exporter not in EXPORTERS:
        raise NasError(f"ONNX exporter {exporter!r} is not one of {', '.join(EXPORTERS)}")
    was_training = model.training
    model.eval()
    x = torch.zeros(1, in_channels, resolution, resolution)
    try:
        with warnings.catch_warnings():
            # The TorchScript exporter announces its deprecation on every call.
            warnings.simplefilter("ignore", DeprecationWarning)
            if exporter == "torchscript":
                torch.onnx.export(model, (x,), str(path), opset_version=opset, dynamo=False,
                                  input_names=["input"], output_names=["logits"],
                                  dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
            else:
                torch.onnx.export(model, (x,), str(path), opset_version=opset, dynamo=True,
                                  input_names=["input"], output_names=["logits"],
                                  dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False)
    finally:
        model.train(was_training)


def check_onnx(model: nn.Module, path: Path, *, in_channels: int, resolution: int, batch: int = 2,
               rtol: float = 1e-3, atol: float = 0.0, seed: int = 0) -> dict[str, Any]:
    """Run the ONNX file with onnxruntime and PyTorch on the same random batch; compare outputs.

    Passes when ``max |onnx - torch| <= atol + rtol * max |torch|``: the tolerance scales with
    the logits, so an untrained network's tiny outputs (eval-mode BatchNorm with initial
    statistics shrinks them to ~1e-9) are compared as strictly as trained ones.
    Returns the figures for ``arch.json``.
    """
    import onnx
    import onnxruntime as ort

    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    opset = max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, in_channels, resolution, resolution, generator=gen)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            expected = model(x).numpy()
    finally:
        model.train(was_training)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    if got.shape != expected.shape:
        return {"passed": False, "opset": opset, "reason": f"output shape {got.shape} != {expected.shape}"}
    diff = np.abs(got - expected)
    scale = float(np.abs(expected).max())
    return {
        "passed": bool(diff.max() <= atol + rtol * scale),
        "opset": opset,
        "runtime": f"onnxruntime {ort.__version__}",
        "batch": batch,
        "max_abs_diff": float(diff.max()),
        "max_abs_output": scale,
        "rtol": rtol,
        "atol": atol,
        "argmax_agree": bool((got.argmax(1) == expected.argmax(1)).all()),
    }
