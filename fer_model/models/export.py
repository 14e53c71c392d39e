"""The network as ONNX, for any runtime (onnxruntime in Python, C++, C#, Java, mobile and the
browser; OpenCV's DNN module), and an onnxruntime backend for :class:`EmotionRecognizer`.

    fer-model export fernet-ferplus --out exported/fernet-ferplus

The exported folder is a complete model: `model.onnx`, self-contained (input `faces`, float32
(N, 1, size, size) normalised as preprocessor_config.json says; output `logits` (N, classes); the
batch is dynamic), beside copies of `config.json`, `preprocessor_config.json`, `model.safetensors`
and the card, so `from_pretrained` loads it as before, and `EmotionRecognizer.from_pretrained(folder,
backend="onnx")` runs it through onnxruntime (fer_model.models.onnx_runtime) with the same crop, views,
calibration and prior. Every model folder already holds a `model.onnx` whose tensors are read from
its model.safetensors (fer_model.models.graph); this file is for runtimes that want one file. Needs torch.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

from ..folder import CARD_NAME, CONFIG_NAME, GRAPH_NAME, PROCESSOR_NAME, WEIGHTS_NAME, atomic_write
OPSET = 18
COPIED = (CONFIG_NAME, PROCESSOR_NAME, WEIGHTS_NAME, CARD_NAME)


def export_onnx(model: str | os.PathLike, out: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write `out/model.onnx` and copies of the model folder's configs, weights and card; returns
    the ONNX file's path. `model`: a folder or a shipped model's short name. Refuses a non-empty
    `out` unless `overwrite`, as the other exports do."""
    from ..folder import resolve_model
    from .fernet import FERNet

    source = Path(resolve_model(model))
    network = FERNet.from_pretrained(source)
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} is not empty; choose another folder or pass --overwrite")
    out.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        if (source / name).is_file() and (source / name).resolve() != (out / name).resolve():
            shutil.copyfile(source / name, out / name)
    example = torch.zeros(2, network.in_channels, network.image_size, network.image_size)
    batch = torch.export.Dim("batch", min=1)

    def write(path: str) -> None:
        program = torch.onnx.export(network.eval(), (example,), input_names=["faces"], output_names=["logits"],
                                    dynamic_shapes={"x": {0: batch}}, opset_version=OPSET, dynamo=True,
                                    verbose=False)
        program.save(path)

    atomic_write(out / GRAPH_NAME, write)
    return out / GRAPH_NAME
