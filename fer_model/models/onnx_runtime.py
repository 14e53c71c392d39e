"""A model folder's network run by onnxruntime, with no torch: what `backend="onnx"` uses, and
the runtime of a torch-free install.

It runs the folder's `model.onnx`: the graph whose tensors are read from the folder's
model.safetensors (fer_model.models.graph), or the self-contained file `fer-model export` writes. Labels
and input size come from the folder's config.json, as for the torch network.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import ModelLoadError
from ..folder import CONFIG_NAME, GRAPH_NAME



class OnnxNetwork:
    """The network of a model folder through onnxruntime, standing in for the torch network in
    :func:`fer_model.pipelines.inference.predict_logits` (the processor normalises its input as for torch)."""

    def __init__(self, folder: str | os.PathLike) -> None:
        try:
            import onnxruntime
        except ImportError as error:
            raise ModelLoadError("the onnx backend needs onnxruntime: pip install onnxruntime") from error
        folder = Path(folder)
        path = folder / GRAPH_NAME
        if not path.is_file():
            raise ModelLoadError(f"{path}: no such file; a folder saved by this release has it (FERNet.save_pretrained "
                                 f"writes it), or write one with `fer-model export MODEL --out {folder}`")
        try:
            config = json.loads((folder / CONFIG_NAME).read_text())
            self.labels, self.image_size = list(config["labels"]), int(config.get("image_size", 48))
            self.in_channels = int(config.get("in_channels", 1))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ModelLoadError(f"{folder / CONFIG_NAME}: not a readable FERNet config ({error})") from error
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only
        try:
            self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own types for a broken graph or weights file
            raise ModelLoadError(f"{path}: onnxruntime cannot load it ({str(error).splitlines()[0]})") from error

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """Logits (N, classes) of normalised float faces (N, 1, size, size)."""
        (out,) = self.session.run(["logits"], {"faces": np.ascontiguousarray(batch, dtype=np.float32)})
        return out
