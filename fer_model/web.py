"""The page's side of the package: what the browser pipeline (page/fer/) needs from Python, and
`fer-model export-web`, a folder any static web server can host.

The browser runs the same two networks as Python: FERNet through the model folder's `model.onnx`
(whose weights are the folder's model.safetensors, fer_model.graph) and YuNet through
`detector/face_detection_yunet_2023mar_dynamic.onnx`, the shipped detector's graph with its input
dimensions made dynamic (`dynamic_yunet`; same weights, any input size, as OpenCV's
FaceDetectorYN feeds it). The detector settings come from Python (`detector_settings`), the model's
from its config.json and preprocessor_config.json.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from .detect import YUNET_FILE, YuNetFaceDetector

DYNAMIC_YUNET_FILE = YUNET_FILE.with_name("face_detection_yunet_2023mar_dynamic.onnx")
PAGE = Path(__file__).resolve().parent.parent / "page"  # in a checkout; an installed package carries it in web/


def dynamic_yunet(source: str | os.PathLike = YUNET_FILE):
    """The YuNet graph of `source` with its input's height and width and its outputs' anchor counts
    made symbolic, so that onnxruntime takes any input size (a multiple of 32, as FaceDetectorYN
    pads to). Nodes and initializers are untouched; the stored intermediate shapes (inferred for
    640x640) are dropped."""
    import onnx

    model = onnx.load(str(source))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    for output in model.graph.output:
        output.type.tensor_type.shape.dim[1].dim_param = f"anchors_{output.name.split('_')[1]}"
    del model.graph.value_info[:]
    onnx.checker.check_model(model)
    return model


def write_dynamic_yunet(target: str | os.PathLike = DYNAMIC_YUNET_FILE) -> Path:
    """Write :func:`dynamic_yunet` of the shipped detector to `target` (atomically)."""
    from .files import atomic_write

    data = dynamic_yunet().SerializeToString()
    atomic_write(target, lambda path: Path(path).write_bytes(data))
    return Path(target)


def detector_settings(max_side: int, retry_pad: float) -> dict:
    """What the page's detector does as :class:`YuNetFaceDetector` (its defaults) with `max_side`
    and `retry_pad`: the page reads these instead of copies of the numbers."""
    import inspect

    defaults = {name: p.default for name, p in inspect.signature(YuNetFaceDetector).parameters.items()}
    return {"score_threshold": defaults["score_threshold"], "nms_threshold": defaults["nms_threshold"],
            "top_k": defaults["top_k"], "max_side": max_side, "retry_pad": retry_pad}
