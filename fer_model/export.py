"""The network as ONNX, for any runtime (onnxruntime in Python, C++, C#, Java, mobile and the
browser; OpenCV's DNN module), and an onnxruntime backend for :class:`EmotionRecognizer`.

    fer-model export fernet-ferplus --out exported/fernet-ferplus

The exported folder is a complete model: `model.onnx` (input `faces`, float32 (N, 1, size, size)
normalised with the config's mean and std; output `logits` (N, classes); the batch is dynamic)
beside copies of `config.json`, `preprocessor_config.json`, `model.safetensors` and the card, so
`from_pretrained` loads it as before, and `EmotionRecognizer.from_pretrained(folder,
backend="onnx")` runs the network through onnxruntime with the same crop, views, calibration and
prior. Needs the `onnx` extra: `pip install .[onnx]`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import torch

from .model import CONFIG_NAME, WEIGHTS_NAME, FERNet, ModelLoadError, atomic_write

ONNX_NAME = "model.onnx"
COPIED = (CONFIG_NAME, "preprocessor_config.json", WEIGHTS_NAME, "README.md")


def export_onnx(model: str | os.PathLike, out: str | os.PathLike, opset: int = 18) -> Path:
    """Write `out/model.onnx` and copies of the model folder's configs, weights and card; returns
    the ONNX file's path. `model`: a folder or a shipped model's short name."""
    from .inference import load_pretrained
    from .shipped import resolve_model

    source = Path(resolve_model(model))
    network, _ = load_pretrained(source)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        if (source / name).is_file() and (source / name).resolve() != (out / name).resolve():
            shutil.copyfile(source / name, out / name)
    example = torch.zeros(2, network.in_channels, network.image_size, network.image_size)
    batch = torch.export.Dim("batch", min=1)

    def write(path: str) -> None:
        program = torch.onnx.export(network.eval(), (example,), input_names=["faces"], output_names=["logits"],
                                    dynamic_shapes={"x": {0: batch}}, opset_version=opset, dynamo=True,
                                    verbose=False)
        program.save(path)

    atomic_write(out / ONNX_NAME, write)
    return out / ONNX_NAME


class OnnxNetwork:
    """An exported FERNet run by onnxruntime, standing in for the torch network in
    :func:`fer_model.inference.predict_logits` (it carries the config's labels and input size; the
    processor normalises its input as for torch)."""

    def __init__(self, folder: str | os.PathLike, threads: int = 0) -> None:
        try:
            import onnxruntime
        except ImportError as error:
            raise ModelLoadError("the onnx backend needs onnxruntime: pip install fer_model[onnx]") from error
        path = Path(folder) / ONNX_NAME
        if not path.is_file():
            raise ModelLoadError(f"{path}: no such file; write it with `fer-model export MODEL --out {folder}`")
        config = FERNet.from_pretrained(folder)  # the labels and size the file was exported with
        self.labels, self.image_size, self.in_channels = config.labels, config.image_size, config.in_channels
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3  # errors only
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def logits(self, batch: torch.Tensor) -> torch.Tensor:
        """Logits (N, classes) of normalised float faces (N, 1, size, size)."""
        (out,) = self.session.run(["logits"], {"faces": np.ascontiguousarray(batch.numpy(), dtype=np.float32)})
        return torch.from_numpy(out)
