"""What a FERNet config builds, as a plan of layers that needs no torch.

FERNet (PyTorch) and the ONNX graph (fer_model.models.graph, read by onnxruntime and the page) are both
built from `layer_plan(config)`: one list of layers, each with the state-dict name of its tensors,
so the two runtimes cannot disagree about a variant. A config.json names only what differs from
the reference network; every key below has the reference's value as its default, so a folder
saved before a key existed loads unchanged.

    reference (FERNet()):  [Conv3x3 -> BN -> ReLU -> MaxPool2] x 3 (64, 128, 256) -> Dropout2d(0.25)
                           -> Flatten (9216) -> Linear 512 -> ReLU -> Dropout(0.5) -> Linear 7
    a compact variant:     stem Conv3x3 -> BN -> act, then per block `convs_per_block` x
                           [depthwise 3x3 -> pointwise 1x1 -> BN -> act] -> MaxPool2 -> Dropout2d,
                           then Dropout2d -> Conv1x1 to the classes -> global average pool
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Every key a variant may set, with the reference network's value (FERNet's constructor defaults).
ARCHITECTURE_DEFAULTS: dict[str, Any] = {
    "channels": [64, 128, 256],
    "conv": "plain",  # plain: Conv3x3 (+bias) -> BN | separable: depthwise 3x3 -> pointwise 1x1 -> BN
    "convs_per_block": 1,  # convolutions before each block's max pool
    "stem": 0,  # channels of a plain Conv3x3-BN-act before the blocks, at full resolution (0: none)
    "activation": "relu",  # relu | leaky_relu
    "negative_slope": 0.01,  # leaky_relu's slope for negative inputs
    "block_dropout": 0.0,  # Dropout2d after each block's pool (spatial dropout)
    "head": "dense",  # dense: Flatten -> Linear hidden -> act -> Dropout -> Linear | gap: Conv1x1 -> global average
    "hidden_size": 512,  # the dense head's hidden width
    "conv_dropout": 0.25,  # Dropout2d before the head
    "fc_dropout": 0.5,  # dense head: dropout before the output layer
}
CONV_KINDS = ("plain", "separable")
ACTIVATIONS = ("relu", "leaky_relu")
HEADS = ("dense", "gap")


@dataclass(frozen=True)
class Layer:
    """One step of the network. `name`: the state-dict prefix of its tensors (None: no tensors);
    op: conv | bn | act | maxpool | dropout2d | dropout | flatten | linear | gap."""

    op: str
    name: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def tensors(self) -> list[str]:
        """The state-dict keys this layer reads (inference: BN's running statistics included)."""
        if self.op == "bn":
            return [f"{self.name}.{k}" for k in ("weight", "bias", "running_mean", "running_var")]
        if self.op in ("conv", "linear"):
            return [f"{self.name}.weight"] + ([f"{self.name}.bias"] if self.attrs.get("bias", True) else [])
        return []


def check_architecture(config: dict[str, Any]) -> dict[str, Any]:
    """The config's architecture keys with defaults filled in; a ValueError names a wrong value."""
    arch = {key: config.get(key, default) for key, default in ARCHITECTURE_DEFAULTS.items()}
    for key, allowed in (("conv", CONV_KINDS), ("activation", ACTIVATIONS), ("head", HEADS)):
        if arch[key] not in allowed:
            raise ValueError(f"{key} must be one of {', '.join(allowed)}, not {arch[key]!r}")
    if not arch["channels"] or any(int(c) < 1 for c in arch["channels"]):
        raise ValueError(f"channels must be a non-empty list of positive widths, not {arch['channels']!r}")
    if int(arch["convs_per_block"]) < 1:
        raise ValueError(f"convs_per_block must be at least 1, not {arch['convs_per_block']!r}")
    for key in ("block_dropout", "conv_dropout", "fc_dropout"):
        if not 0 <= float(arch[key]) < 1:
            raise ValueError(f"{key} must be in [0, 1), not {arch[key]!r}")
    size, blocks = int(config.get("image_size", 48)), len(arch["channels"])
    if size % 2 ** blocks:
        raise ValueError(f"image_size {size} must be divisible by {2 ** blocks} ({blocks} pooling blocks)")
    return arch


def _conv(name: str, c_in: int, c_out: int, kernel: int = 3, groups: int = 1, bias: bool = True) -> Layer:
    return Layer("conv", name, {"in": c_in, "out": c_out, "kernel": kernel, "groups": groups, "bias": bias})


def layer_plan(config: dict[str, Any]) -> dict[str, list[Layer]]:
    """{"stem": [...], "features": [[block 0's layers], ...], "head": [...]}: the network of a
    config.json, each layer named by its place in FERNet's modules (stem.i, features.b.i, head.i)."""
    arch = check_architecture(config)
    in_channels, classes = int(config.get("in_channels", 1)), len(config["labels"])
    size = int(config.get("image_size", 48))
    act = Layer("act", None, {"kind": arch["activation"], "slope": float(arch["negative_slope"])})
    stem: list[Layer] = []
    width = in_channels
    if arch["stem"]:
        stem = [_conv("stem.0", width, int(arch["stem"])), Layer("bn", "stem.1"), act]
        width = int(arch["stem"])
    features = []
    for b, c_out in enumerate(int(c) for c in arch["channels"]):
        block: list[Layer] = []
        for _ in range(int(arch["convs_per_block"])):
            prefix = f"features.{b}.{len(block)}"
            if arch["conv"] == "plain":
                block += [_conv(prefix, width, c_out), Layer("bn", f"features.{b}.{len(block) + 1}"), act]
            else:
                block += [_conv(prefix, width, width, groups=width, bias=False),
                          _conv(f"features.{b}.{len(block) + 1}", width, c_out, kernel=1, bias=False),
                          Layer("bn", f"features.{b}.{len(block) + 2}"), act]
            width = c_out
        block.append(Layer("maxpool"))
        if arch["block_dropout"]:
            block.append(Layer("dropout2d", attrs={"p": float(arch["block_dropout"])}))
        features.append(block)
    side = size // 2 ** len(arch["channels"])
    if arch["head"] == "dense":
        head = [Layer("dropout2d", attrs={"p": float(arch["conv_dropout"])}), Layer("flatten"),
                Layer("linear", "head.2", {"in": width * side * side, "out": int(arch["hidden_size"])}), act,
                Layer("dropout", attrs={"p": float(arch["fc_dropout"])}),
                Layer("linear", "head.5", {"in": int(arch["hidden_size"]), "out": classes})]
    else:
        head = [Layer("dropout2d", attrs={"p": float(arch["conv_dropout"])}),
                _conv("head.1", width, classes, kernel=1), Layer("gap"), Layer("flatten")]
    return {"stem": stem, "features": features, "head": head}


def describe(config: dict[str, Any]) -> str:
    """One line naming the network a config builds, for cards and help."""
    arch = check_architecture(config)
    conv = "depthwise-separable" if arch["conv"] == "separable" else "plain"
    stem = f"a {arch['stem']}-channel stem, " if arch["stem"] else ""
    per = f"{arch['convs_per_block']} {conv} 3x3 convolutions" if arch["convs_per_block"] > 1 else f"one {conv} 3x3 convolution"
    head = (f"flatten + dense {arch['hidden_size']}" if arch["head"] == "dense"
            else "1x1 convolution to the classes + global average pooling")
    return (f"{stem}{len(arch['channels'])} blocks of {'/'.join(str(c) for c in arch['channels'])} channels "
            f"({per} each, batch norm, {arch['activation'].replace('_', ' ')}, 2x2 max pool), head: {head}")
