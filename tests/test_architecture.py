"""FERNet's variants: one config builds the same network in PyTorch and in the folder's model.onnx,
folders saved before the variant keys existed load unchanged, and Grad-CAM reads every variant."""

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from fer_model import FERNet, ModelLoadError
from fer_model.models.architecture import ARCHITECTURE_DEFAULTS, check_architecture, describe
from fer_model.models.saliency import grad_cam
from fer_model.folder import resolve_model

COMPACT = dict(channels=[32, 64, 128, 256], conv="separable", convs_per_block=2, stem=32, activation="leaky_relu",
               negative_slope=0.1, block_dropout=0.1, head="gap", conv_dropout=0.1)
VARIANTS = {
    "compact": COMPACT,
    "plain-two-per-block-gap": dict(channels=[16, 32, 64], convs_per_block=2, head="gap"),
    "separable-dense": dict(channels=[16, 32, 64], conv="separable", hidden_size=32, activation="leaky_relu"),
    "five-labels": dict(labels=["a", "b", "c", "d", "e"], channels=[8, 16, 32, 64], conv="separable", stem=8),
}


def test_the_defaults_are_the_reference_network():
    assert {key: value for key, value in FERNet().config.items() if key in ARCHITECTURE_DEFAULTS} == ARCHITECTURE_DEFAULTS
    assert sum(p.numel() for p in FERNet().parameters()) == 5_093_255
    assert "stem" not in dict(FERNet().named_children())


def test_the_compact_variant_has_no_dense_layer_and_fits_in_a_megabyte():
    model = FERNet(**COMPACT)
    assert not any(isinstance(m, torch.nn.Linear) for m in model.modules())
    assert sum(p.numel() for p in model.parameters()) * 4 < 1_000_000
    depthwise = [m for m in model.features.modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1]
    assert len(depthwise) == 8 and all(m.groups == m.in_channels for m in depthwise)
    assert model.forward_features(torch.zeros(2, 1, 48, 48)).shape == (2, 256, 3, 3)
    assert "depthwise-separable" in describe(model.config) and "global average" in describe(model.config)


@pytest.mark.parametrize("name", VARIANTS)
def test_a_variant_saves_loads_and_runs_the_same_in_onnxruntime(tmp_path, name):
    torch.manual_seed(0)
    model = FERNet(**VARIANTS[name])
    for module in model.modules():  # running statistics that are not the initial ones, so BN is really read
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    model.eval().save_pretrained(tmp_path)
    loaded = FERNet.from_pretrained(tmp_path)
    faces = torch.randn(4, 1, 48, 48)
    with torch.no_grad():
        expected = model(faces).numpy()
        assert np.array_equal(loaded(faces).numpy(), expected)
    session = ort.InferenceSession(str(tmp_path / "model.onnx"))
    logits = session.run(None, {"faces": faces.numpy()})[0]
    assert logits.shape == expected.shape and np.abs(logits - expected).max() < 1e-4
    cam = grad_cam(loaded, faces)
    assert cam.shape == (4, 48, 48) and torch.isfinite(cam).all()


@pytest.mark.parametrize("name", ["fernet-fer2013", "fernet-ferplus"])
def test_a_folder_saved_before_the_variant_keys_loads_as_the_reference(tmp_path, name):
    config = json.loads((resolve_model(name) / "config.json").read_text())
    assert not set(config) & {"conv", "head", "stem"}
    model = FERNet.from_pretrained(name)
    assert sum(p.numel() for p in model.parameters()) == 5_093_255


@pytest.mark.parametrize("change, message", [
    ({"conv": "dilated"}, "conv must be one of plain, separable"),
    ({"head": "mlp"}, "head must be one of dense, gap"),
    ({"activation": "gelu"}, "activation must be one of relu, leaky_relu"),
    ({"convs_per_block": 0}, "convs_per_block must be at least 1"),
    ({"channels": [8, 8, 8, 8, 8]}, "image_size 48 must be divisible by 32"),
    ({"block_dropout": 1.5}, "block_dropout must be in"),
])
def test_a_wrong_variant_is_named(change, message):
    with pytest.raises(ValueError, match=message):
        check_architecture({"labels": ["a"], **change})
    with pytest.raises(ValueError, match=message):
        FERNet(**change)


def test_a_folder_whose_config_names_an_unknown_variant_is_refused(tmp_path):
    FERNet(**VARIANTS["separable-dense"]).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "head": "transformer"}))
    with pytest.raises((ModelLoadError, ValueError), match="head must be one of"):
        FERNet.from_pretrained(tmp_path)
