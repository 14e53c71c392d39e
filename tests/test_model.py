import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from fer_model import FER2013_LABELS, FERNet, ModelLoadError


def test_reference_architecture():
    model = FERNet()
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 5_093_255
    convs = [m for m in model.features.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.padding) for c in convs] == [
        (1, 64, (3, 3), (1, 1)), (64, 128, (3, 3), (1, 1)), (128, 256, (3, 3), (1, 1))]
    for block in model.features:
        assert [type(m).__name__ for m in block] == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]
    assert [type(m).__name__ for m in model.head] == ["Dropout2d", "Flatten", "Linear", "ReLU", "Dropout", "Linear"]
    assert model.head[0].p == 0.25 and model.head[4].p == 0.5
    assert (model.head[2].in_features, model.head[2].out_features) == (9216, 512)
    assert (model.head[5].in_features, model.head[5].out_features) == (512, 7)


@pytest.mark.parametrize("batch", [1, 5])
def test_shapes_and_finite_outputs(batch):
    model = FERNet().eval()
    x = torch.randn(batch, 1, 48, 48)
    features = model.forward_features(x)
    assert features.shape == (batch, 256, 6, 6)
    logits = model.forward_head(features)
    assert logits.shape == (batch, 7) and torch.isfinite(logits).all()
    assert torch.equal(logits, model(x))


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    model = FERNet().eval()
    model.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "config.json", "model.onnx", "model.safetensors",
                                                       "preprocessor_config.json"]
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["labels"] == list(FER2013_LABELS)
    assert config["image_size"] == 48 and config["in_channels"] == 1
    assert config["channels"] == [64, 128, 256] and config["hidden_size"] == 512
    # the input transform and the reading of the logits are the processor's, not the network's
    assert not {"mean", "std", "temperature", "crop_scale", "tta_scales", "tta_flip"} & set(config)
    loaded = FERNet.from_pretrained(tmp_path)
    assert not loaded.training
    x = torch.randn(4, 1, 48, 48)
    assert torch.equal(model(x), loaded(x))


def test_strict_load_names_the_mismatched_tensor(tmp_path):
    FERNet().save_pretrained(tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    state["head.5.weight"] = torch.zeros(6, 512)
    state["renamed.bias"] = state.pop("head.5.bias")
    save_file(state, tmp_path / "model.safetensors")
    with pytest.raises(ModelLoadError) as error:
        FERNet.from_pretrained(tmp_path)
    message = str(error.value)
    assert "head.5.weight (6, 512)" in message and "head.5.bias" in message and "renamed.bias" in message


def test_config_labels_that_do_not_match_the_weights_fail(tmp_path):
    FERNet().save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["labels"] = config["labels"][:6]
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match=r"head\.5\.weight \(7, 512\) \(config needs \(6, 512\)\)"):
        FERNet.from_pretrained(tmp_path)


def test_truncated_weights_fail_clearly(tmp_path):
    FERNet().save_pretrained(tmp_path)
    data = (tmp_path / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="not a readable safetensors file"):
        FERNet.from_pretrained(tmp_path)


def test_pickle_weights_are_refused_never_unpickled(tmp_path):
    FERNet().save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    marker = tmp_path / "unpickled"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"x": Payload()}, tmp_path / "pytorch_model.bin")
    marker.unlink(missing_ok=True)
    with pytest.raises(ModelLoadError, match="pickled weights are never loaded"):
        FERNet.from_pretrained(tmp_path)
    assert not marker.exists()


def test_missing_files_are_named(tmp_path):
    FERNet().save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="no model.safetensors"):
        FERNet.from_pretrained(tmp_path)
    (tmp_path / "config.json").unlink()
    with pytest.raises(ModelLoadError, match="no config.json"):
        FERNet.from_pretrained(tmp_path)
    with pytest.raises(ModelLoadError, match="no such model folder"):
        FERNet.from_pretrained(tmp_path / "absent")


def test_failed_save_keeps_the_previous_files(tmp_path, monkeypatch):
    model = FERNet()
    model.save_pretrained(tmp_path)
    before = (tmp_path / "model.safetensors").read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr("fer_model.models.fernet.save_file", crash)
    with torch.no_grad():
        model.head[5].bias.add_(1)
    with pytest.raises(KeyboardInterrupt):
        model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "config.json", "model.onnx", "model.safetensors",
                                                       "preprocessor_config.json"]
    FERNet.from_pretrained(tmp_path)


def test_saved_files_are_readable_by_others(tmp_path):
    import os
    import stat

    FERNet().save_pretrained(tmp_path)
    umask = os.umask(0)
    os.umask(umask)
    for name in ("config.json", "model.safetensors"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask


def test_a_fresh_folder_has_a_real_card_that_says_it_is_not_evaluated(tmp_path):
    from huggingface_hub import ModelCard

    FERNet().save_pretrained(tmp_path)
    card = ModelCard.load(tmp_path / "README.md")
    assert card.data.license == "mit" and card.data.library_name == "fer_model"
    assert "More Information Needed" not in card.text and "Not evaluated yet" in card.text
    assert f"evaluate.py --model {tmp_path.name} --update-model" in card.text  # no folder of this machine
