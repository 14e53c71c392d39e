"""FERNet: the reference FER-2013 CNN, with Hub-style save/load whose config travels with the weights."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import ModelCard, PyTorchModelHubMixin, hf_hub_download
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from .architecture import Layer, layer_plan
from ..labels import FER2013_LABELS
from ..errors import ModelLoadError
from ..folder import CARD_NAME, CONFIG_NAME, PROCESSOR_NAME, WEIGHTS_NAME, atomic_write, portable, read_config, resolve_model, write_config
from .graph import write_graph

PICKLE_NAMES = ("pytorch_model.bin", "model.bin", "model.pt", "model.pth")


def _module(layer: Layer) -> nn.Module:
    """The PyTorch module of one planned layer (fer_model.models.architecture)."""
    a = layer.attrs
    if layer.op == "conv":
        return nn.Conv2d(a["in"], a["out"], a["kernel"], padding=a["kernel"] // 2, groups=a["groups"], bias=a["bias"])
    if layer.op == "act":
        return nn.ReLU(inplace=True) if a["kind"] == "relu" else nn.LeakyReLU(a["slope"], inplace=True)
    if layer.op == "linear":
        return nn.Linear(a["in"], a["out"])
    return {"maxpool": lambda: nn.MaxPool2d(2), "dropout2d": lambda: nn.Dropout2d(a["p"]),
            "dropout": lambda: nn.Dropout(a["p"]), "flatten": nn.Flatten,
            "gap": lambda: nn.AdaptiveAvgPool2d(1)}[layer.op]()


def _sequential(layers: list[Layer]) -> nn.Sequential:
    """The layers in order, so each module's index is the one its planned name gives; a batch
    norm takes the width of the convolution before it."""
    modules, width = [], None
    for layer in layers:
        if layer.op == "bn":
            modules.append(nn.BatchNorm2d(width))
            continue
        if layer.op == "conv":
            width = layer.attrs["out"]
        modules.append(_module(layer))
    return nn.Sequential(*modules)


# What a model hub shows about FERNet: declared once, used by the mixin and by the model card.
HUB_METADATA = {
    "library_name": "fer_model",
    "tags": ("image-classification", "facial-expression-recognition", "emotion-recognition", "fer2013"),
    "pipeline_tag": "image-classification",
    "license": "mit",
}


class FERNet(nn.Module, PyTorchModelHubMixin, **{**HUB_METADATA, "tags": list(HUB_METADATA["tags"])}):
    """The FER CNN: the reference network by default, and the variants its config describes.

    `FERNet()` builds exactly the reference network (5,093,255 parameters):
    (N, 1, 48, 48) -> blocks of 64, 128, 256 channels (48 -> 24 -> 12 -> 6) -> Dropout2d(0.25)
    -> Flatten (9216) -> Linear 512 -> ReLU -> Dropout(0.5) -> Linear 7 logits.

    Variants are built the way transformers' configs build variants of one architecture: the
    keys below (fer_model.models.architecture, one plan of layers shared with the ONNX graph) choose
    the convolution kind, convolutions per block, a stem, the activation, spatial dropout and the
    head, each defaulting to the reference's value, so every folder saved before loads unchanged.
    Every constructor argument is plain JSON and is written to `config.json`.

    Args:
        labels: class names in output order (FER-2013's order by default).
        image_size: side of the square input; the one record of the size (the processor reads it).
        in_channels: channels of the input (1: grayscale).
        channels: output channels of the conv blocks (each ends in a 2x2 max pool).
        hidden_size: width of the dense head's hidden layer.
        conv_dropout: Dropout2d probability before the head.
        fc_dropout: dense head: dropout probability before the output layer.
        conv: "plain" (Conv3x3 with bias, BN) or "separable" (depthwise 3x3, pointwise 1x1, BN).
        convs_per_block: convolutions in each block before its pool.
        stem: channels of a plain Conv3x3-BN-activation before the blocks (0: none).
        activation: "relu" or "leaky_relu" (with `negative_slope`).
        negative_slope: leaky_relu's slope.
        block_dropout: Dropout2d after each block (0: none).
        head: "dense" (flatten, hidden layer, output layer) or "gap" (1x1 convolution to the
            classes, then global average pooling: no dense layer).

    The whole input transform (crop, views, normalisation) and what becomes of the logits
    (temperature, class prior) belong to :class:`fer_model.processing.processor.FaceProcessor`, saved beside
    the weights as `preprocessor_config.json`.
    """

    def __init__(
        self,
        labels: list[str] = list(FER2013_LABELS),
        image_size: int = 48,
        in_channels: int = 1,
        channels: list[int] = [64, 128, 256],
        hidden_size: int = 512,
        conv_dropout: float = 0.25,
        fc_dropout: float = 0.5,
        conv: str = "plain",
        convs_per_block: int = 1,
        stem: int = 0,
        activation: str = "relu",
        negative_slope: float = 0.01,
        block_dropout: float = 0.0,
        head: str = "dense",
    ) -> None:
        super().__init__()
        self.labels = list(labels)
        self.image_size, self.in_channels = image_size, in_channels
        plan = layer_plan({"labels": self.labels, "image_size": image_size, "in_channels": in_channels,
                           "channels": list(channels), "hidden_size": hidden_size, "conv_dropout": conv_dropout,
                           "fc_dropout": fc_dropout, "conv": conv, "convs_per_block": convs_per_block, "stem": stem,
                           "activation": activation, "negative_slope": negative_slope,
                           "block_dropout": block_dropout, "head": head})
        if plan["stem"]:
            self.stem = _sequential(plan["stem"])
        self.features = nn.Sequential(*[_sequential(block) for block in plan["features"]])
        self.head = _sequential(plan["head"])

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, 48, 48) normalised faces -> last conv block's maps (N, channels[-1], 6, 6 for three blocks)."""
        return self.features(self.stem(x) if hasattr(self, "stem") else x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Last block's maps -> logits (N, classes)."""
        return self.head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments as saved to `config.json`."""
        return dict(self._hub_mixin_config or {})

    def _save_pretrained(self, save_directory: Path) -> None:
        """huggingface_hub's hook, called by `save_pretrained` (and so by `push_to_hub`): write
        `model.safetensors`, `config.json`, `model.onnx` (the graph whose tensors are read from
        model.safetensors: fer_model.models.graph) and, where the folder has none, the processor the
        network was loaded with (`preprocessor_config.json` of the folder `from_pretrained` read: its
        crop, views, temperature and priors), or FaceProcessor's defaults for a network built here, so
        that every saved or pushed folder loads back whole and predicts as its source. Each file is written beside its target and
        renamed into place: a crash never leaves a half-written file or a mismatched pair. The
        mixin then writes the card where none is there (:meth:`generate_model_card`)."""
        from ..processing.processor import FaceProcessor

        save_directory = Path(save_directory)
        state = {name: tensor.detach().cpu().contiguous() for name, tensor in self.state_dict().items()}
        atomic_write(save_directory / WEIGHTS_NAME, lambda path: save_file(state, path, metadata={"format": "pt"}))
        write_config(save_directory, self.config)
        write_graph(save_directory)  # model.onnx over those weights: onnxruntime and the browser read them
        if not (save_directory / PROCESSOR_NAME).exists():  # the folder it was loaded from, else the defaults
            source = getattr(self, "processor_source", None)
            processor = (FaceProcessor.from_pretrained(source) if source is not None
                         else FaceProcessor(image_size=self.image_size, labels=self.labels))
            processor.save_pretrained(save_directory)

    def generate_model_card(self, *args: Any, folder: str | os.PathLike = "MODEL_FOLDER", **kwargs: Any) -> ModelCard:
        """The card of a freshly saved model (huggingface_hub's hook): its metadata, network and
        labels, and how to measure it; evaluate.py replaces it with the full card (fer_model.card).
        `model_card_kwargs` of save_pretrained/push_to_hub are its card data (license, tags...)."""
        return ModelCard(unevaluated_card(self, folder, **kwargs))

    def save_pretrained(self, save_directory: str | os.PathLike, *, config: dict | None = None,
                        repo_id: str | None = None, push_to_hub: bool = False,
                        model_card_kwargs: dict | None = None, **push_to_hub_kwargs: Any) -> str | None:
        """The mixin's save_pretrained through its hooks (:meth:`_save_pretrained`, then
        :meth:`generate_model_card` where the folder has no README.md), except that an earlier
        config.json is replaced, never deleted first: a save that dies half-way leaves the previous
        model whole. `config`, if given, must be this network's (the one the weights fit)."""
        if config is not None and config != self.config:
            raise ValueError(f"config {config} is not this network's ({self.config}); build the FERNet from it instead")
        save_directory = Path(save_directory)
        self._save_pretrained(save_directory)
        if not (save_directory / CARD_NAME).exists():
            card = self.generate_model_card(folder=portable(str(save_directory)), **(model_card_kwargs or {}))
            atomic_write(save_directory / CARD_NAME, lambda path: Path(path).write_text(str(card)))
        if push_to_hub:
            return self.push_to_hub(repo_id or save_directory.name, config=self.config, **push_to_hub_kwargs)
        return None

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        revision: str | None,
        cache_dir: str | Path | None,
        force_download: bool,
        local_files_only: bool,
        token: str | bool | None,
        map_location: str = "cpu",
        strict: bool = True,
        proxies: dict | None = None,  # passed by huggingface_hub < 1.0 (unused: downloads go through hf_hub_download)
        resume_download: bool | None = None,  # passed by huggingface_hub < 1.0 (unused)
        **model_kwargs: Any,
    ) -> "FERNet":
        if not strict:
            raise ValueError("FERNet loads strictly: strict=False is not supported (a model whose tensors do not "
                             "match its config is refused, naming them)")
        model = cls(**model_kwargs)
        if os.path.isdir(model_id):
            weights = _local_weights(Path(model_id))
        else:
            weights = hf_hub_download(
                model_id, WEIGHTS_NAME, revision=revision, cache_dir=cache_dir,
                force_download=force_download, local_files_only=local_files_only, token=token,
            )
        load_weights_strict(model, weights, map_location)
        model.processor_source = _processor_folder(model_id, Path(weights).parent)
        return model.eval()

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any) -> "FERNet":
        """Load a model saved by :meth:`save_pretrained`: a local folder, a Hub repo id, or the
        short name of a model shipped in the package (fer_model.folder.SHIPPED_MODELS).

        Loading is strict and reads only safetensors: a missing file, a pickle, or tensors that do
        not match the config raise :class:`ModelLoadError` naming them. The model is returned in
        eval mode.
        """
        resolved = resolve_model(pretrained_model_name_or_path)  # a folder, or a Hub id; wrong names refused
        if isinstance(resolved, Path):
            read_config(resolved)  # a folder without a readable config.json is named
        try:
            return super().from_pretrained(str(resolved), **kwargs)
        except (json.JSONDecodeError, TypeError, ValueError) as error:
            if isinstance(error, ModelLoadError):
                raise
            raise ModelLoadError(f"{resolved}/{CONFIG_NAME}: not a valid FERNet config ({error})") from error


def unevaluated_card(model: FERNet, folder: str | os.PathLike = "MODEL_FOLDER", **card_data: Any) -> str:
    """The card of a freshly saved model: its metadata, network and labels, and how to measure it.
    evaluate.py replaces it with the full card (fer_model.card)."""
    from huggingface_hub import ModelCardData

    data = ModelCardData(**{"license": HUB_METADATA["license"], "library_name": HUB_METADATA["library_name"],
                            "pipeline_tag": HUB_METADATA["pipeline_tag"], "tags": list(HUB_METADATA["tags"]),
                            "datasets": ["fer2013"], **card_data})
    parameters = sum(p.numel() for p in model.parameters())
    body = (
        "# FERNet: facial expression recognition\n\n"
        f"A {parameters:,}-parameter CNN that reads a {model.image_size}x{model.image_size} grayscale face as one of: "
        f"{', '.join(model.labels)}. Load it with `FERNet.from_pretrained` or "
        "`EmotionRecognizer.from_pretrained` from the fer_model package.\n\n"
        "**Not evaluated yet.** Measure it, and replace this card with one that reports the figures, with\n\n"
        f"    python evaluate.py --model {folder} --update-model\n"
    )
    return f"---\n{data.to_yaml()}\n---\n\n{body}"


def _processor_folder(model_id: str, weights_folder: Path) -> Path | None:
    """The folder holding the processor of the model loaded from `model_id` (None: it has none),
    so that saving or pushing the network alone keeps the way its faces are read."""
    if not (weights_folder / PROCESSOR_NAME).is_file() and not os.path.isdir(model_id):
        from huggingface_hub.errors import EntryNotFoundError

        try:
            hf_hub_download(model_id, PROCESSOR_NAME)
        except EntryNotFoundError:
            return None
    return weights_folder if (weights_folder / PROCESSOR_NAME).is_file() else None


def _local_weights(folder: Path) -> Path:
    weights = folder / WEIGHTS_NAME
    if weights.is_file():
        return weights
    pickles = [name for name in PICKLE_NAMES if (folder / name).exists()]
    if pickles:
        raise ModelLoadError(
            f"{folder}: found {pickles[0]} but no {WEIGHTS_NAME}; pickled weights are never loaded "
            "(they can run code). Convert them to safetensors with a tool you trust."
        )
    raise ModelLoadError(f"{folder}: no {WEIGHTS_NAME} beside {CONFIG_NAME}")


def load_weights_strict(model: nn.Module, weights: str | os.PathLike, map_location: str = "cpu") -> None:
    """Load a safetensors file into `model`, refusing any missing, unexpected or misshapen tensor."""
    try:
        state = load_file(str(weights), device=str(map_location))
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelLoadError(f"{weights}: not a readable safetensors file, perhaps truncated ({error})") from error
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    misshapen = [
        f"{name} {tuple(state[name].shape)} (config needs {tuple(expected[name].shape)})"
        for name in expected if name in state and state[name].shape != expected[name].shape
    ]
    problems = [
        f"missing tensors: {', '.join(missing)}" if missing else "",
        f"unexpected tensors: {', '.join(unexpected)}" if unexpected else "",
        f"mismatched shapes: {'; '.join(misshapen)}" if misshapen else "",
    ]
    if any(problems):
        raise ModelLoadError(f"{weights} does not match the model config: " + " | ".join(p for p in problems if p))
    model.load_state_dict(state, strict=True)
