"""FERNet as an ONNX graph that reads its weights from the folder's own `model.safetensors`.

Every model folder holds `model.onnx`: the network's few dozen operators, with each tensor stored
as ONNX external data (`location` model.safetensors, `offset`, `length`) that points at that
tensor's bytes in the safetensors file. Both formats keep float32 little-endian, row-major, so
PyTorch (safetensors), onnxruntime and onnxruntime-web (ONNX) read the same bytes and no second
copy of the weights ships or is pushed. The graph's `metadata_props` carry the labels, the input
size and the model's name, for runtimes that see only the graph.

    reference: faces (N, 1, size, size) -> [Conv3x3 -> BatchNorm -> ReLU -> MaxPool2] x blocks
      -> Flatten -> Gemm (hidden) -> ReLU -> Gemm -> logits (N, classes)

Every variant's nodes come from the same plan of layers as FERNet's modules
(fer_model.models.architecture.layer_plan). Dropout is the identity at inference and has no node. Building the graph needs the `onnx` package
only (no torch); running it needs onnxruntime. `fer-model export` still writes a self-contained
ONNX file for runtimes that want one file.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

from .architecture import Layer, layer_plan
from ..errors import ModelLoadError
from ..folder import CONFIG_NAME, GRAPH_NAME, WEIGHTS_NAME

OPSET = 17
IR_VERSION = 8  # read by every onnxruntime since 1.10 and by onnxruntime-web
BN_EPSILON = 1e-5  # torch.nn.BatchNorm2d's default, which FERNet uses


def safetensors_layout(path: str | os.PathLike) -> dict[str, dict]:
    """Each tensor of a safetensors file: {"dtype", "shape", "offset", "length"}, the offset counted
    from the start of the file (the 8-byte header length and the JSON header come first)."""
    path = Path(path)
    try:
        with open(path, "rb") as file:
            (size,) = struct.unpack("<Q", file.read(8))
            header = json.loads(file.read(size))
    except (OSError, struct.error, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelLoadError(f"{path}: not a readable safetensors file ({error})") from error
    start = 8 + size
    return {name: {"dtype": entry["dtype"], "shape": entry["shape"], "offset": start + entry["data_offsets"][0],
                   "length": entry["data_offsets"][1] - entry["data_offsets"][0]}
            for name, entry in header.items() if name != "__metadata__"}


def build_graph(folder: str | os.PathLike, name: str | None = None):
    """The ONNX ModelProto of the FERNet in `folder` (config.json and model.safetensors), its
    tensors external data into model.safetensors. `name`: the model's name in the metadata
    (default: the folder's name)."""
    import onnx
    from onnx import TensorProto, helper

    folder = Path(folder)
    try:
        config = json.loads((folder / CONFIG_NAME).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ModelLoadError(f"{folder / CONFIG_NAME}: not a readable model config ({error})") from error
    layout = safetensors_layout(folder / WEIGHTS_NAME)
    labels, size = list(config["labels"]), int(config.get("image_size", 48))
    try:
        plan = layer_plan(config)
    except (ValueError, KeyError, TypeError) as error:
        raise ModelLoadError(f"{folder / CONFIG_NAME}: not a FERNet config ({error})") from error

    def weight(key: str) -> TensorProto:
        if key not in layout:
            raise ModelLoadError(f"{folder / WEIGHTS_NAME}: no tensor {key!r}; not a FERNet of this config")
        entry = layout[key]
        if entry["dtype"] != "F32":
            raise ModelLoadError(f"{folder / WEIGHTS_NAME}: {key} is {entry['dtype']}; the graph reads float32 only")
        tensor = TensorProto(name=key, data_type=TensorProto.FLOAT, dims=entry["shape"],
                             data_location=TensorProto.EXTERNAL)
        for field, value in (("location", WEIGHTS_NAME), ("offset", entry["offset"]), ("length", entry["length"])):
            tensor.external_data.add(key=field, value=str(value))
        return tensor

    nodes, tensors, x = [], [], "faces"
    layers = [*plan["stem"], *[layer for block in plan["features"] for layer in block], *plan["head"]]
    for index, layer in enumerate(layers):
        if layer.op in ("dropout", "dropout2d"):  # the identity at inference
            continue
        out = "logits" if index == len(layers) - 1 else f"{layer.op}{index}"
        tensors += [weight(key) for key in layer.tensors]
        nodes.append(_node(helper, layer, x, out))
        x = out
    channels = int(config.get("in_channels", 1))
    graph = helper.make_graph(
        nodes, "fernet",
        [helper.make_tensor_value_info("faces", TensorProto.FLOAT, ["batch", channels, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", len(labels)])],
        initializer=tensors)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION,
                              producer_name="fer_model", doc_string="FERNet; weights: external data in "
                              f"{WEIGHTS_NAME}")
    helper.set_model_props(model, {"labels": json.dumps(labels), "image_size": str(size),
                                   "in_channels": str(channels), "name": name or folder.name})
    return model


def _node(helper, layer: Layer, x: str, out: str):
    """The ONNX node of one planned layer (fer_model.models.architecture), reading `x`, writing `out`."""
    a = layer.attrs
    if layer.op == "conv":
        pad = a["kernel"] // 2
        return helper.make_node("Conv", [x, *layer.tensors], [out], kernel_shape=[a["kernel"]] * 2,
                                pads=[pad] * 4, group=a["groups"])
    if layer.op == "bn":
        return helper.make_node("BatchNormalization", [x, *layer.tensors], [out], epsilon=BN_EPSILON)
    if layer.op == "act":
        if a["kind"] == "relu":
            return helper.make_node("Relu", [x], [out])
        return helper.make_node("LeakyRelu", [x], [out], alpha=a["slope"])
    if layer.op == "linear":
        return helper.make_node("Gemm", [x, *layer.tensors], [out], transB=1)
    if layer.op == "maxpool":
        return helper.make_node("MaxPool", [x], [out], kernel_shape=[2, 2], strides=[2, 2])
    if layer.op == "gap":
        return helper.make_node("GlobalAveragePool", [x], [out])
    if layer.op == "flatten":
        return helper.make_node("Flatten", [x], [out], axis=1)
    raise ValueError(f"no ONNX node for layer {layer.op!r}")


def write_graph(folder: str | os.PathLike, name: str | None = None) -> Path:
    """Write `folder/model.onnx` over the folder's model.safetensors (atomically, checked by onnx's
    checker against the file); returns its path."""
    from ..folder import atomic_write

    import onnx

    model = build_graph(folder, name)
    path = Path(folder) / GRAPH_NAME

    def write(target: str) -> None:
        Path(target).write_bytes(model.SerializeToString())
        onnx.checker.check_model(target)  # beside model.safetensors: the offsets and lengths are checked too

    atomic_write(path, write)
    return path
