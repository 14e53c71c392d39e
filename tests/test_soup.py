"""soup.py: weight averaging of saved FERNets and BatchNorm statistics measured again."""

from __future__ import annotations

import json

import pytest
import torch

import soup
from fer_model import FERNet, ModelLoadError
from fer_model.processing.processor import FaceProcessor


def _model(seed: int, **config) -> FERNet:
    torch.manual_seed(seed)
    return FERNet(**config)


def test_average_is_the_weighted_mean_of_each_tensor():
    a, b = _model(0), _model(1)
    averaged = soup.average_weights([a, b], [0.25, 0.75])
    name = "head.2.weight"  # the 9216 -> 512 layer
    assert torch.allclose(averaged[name], 0.25 * a.state_dict()[name] + 0.75 * b.state_dict()[name])
    counters = [key for key, value in averaged.items() if not value.is_floating_point()]
    assert counters and all(torch.equal(averaged[key], b.state_dict()[key]) for key in counters)


def test_models_of_different_networks_are_refused():
    with pytest.raises(ModelLoadError, match="channels"):
        soup.average_weights([_model(0), _model(1, channels=[32, 64, 128])], [0.5, 0.5])


def test_batchnorm_statistics_are_those_of_the_rows(fer_data):
    model = _model(0)
    faces = torch.from_numpy(fer_data.split("Training", 512).images)
    processor = FaceProcessor(mean=[0.4], std=[0.3])
    soup.recompute_batchnorm(model, processor, faces)
    first = model.features[0][1]
    conv = model.features[0][0]
    with torch.no_grad():
        batch = ((faces.float() / 255 - 0.4) / 0.3).unsqueeze(1)  # the processor's normalisation, by hand
        activations = conv(torch.cat([batch, batch.flip(-1)]))  # (2N, 64, 48, 48)
    assert not model.training
    assert torch.allclose(first.running_mean, activations.mean((0, 2, 3)), atol=1e-4)
    assert torch.allclose(first.running_var, activations.var((0, 2, 3)), rtol=0.02)
    assert first.momentum == 0.1  # restored for whoever trains the model further


def test_soup_command_writes_a_loadable_model_and_its_record(small_csv, tmp_path):
    folders = []
    for seed in (0, 1):
        folder = tmp_path / f"m{seed}"
        _model(seed).save_pretrained(folder)
        FaceProcessor(crop_scale=1.0 + seed / 10, temperature=1.5).save_pretrained(folder)
        (folder / "training_config.json").write_text(json.dumps({"out": str(folder), "seed": seed}))
        (folder / "log.csv").write_text("epoch,val_macro_f1\n1,0.5\n")
        folders.append(str(folder))
    out = tmp_path / "soup"
    soup.main([*folders, "--weights", "0.3,0.7", "--out", str(out), "--data", str(small_csv), "--limit", "200"])
    # only Training rows are read: the same soup from a CSV without the test splits is the same file
    training_only = tmp_path / "training_only.csv"
    training_only.write_text("".join(row for row in small_csv.read_text().splitlines(keepends=True)
                                     if not row.rstrip().endswith("Test")))
    soup.main([*folders, "--weights", "0.3,0.7", "--out", str(tmp_path / "again"), "--data", str(training_only),
               "--limit", "200"])
    assert (out / "model.safetensors").read_bytes() == (tmp_path / "again" / "model.safetensors").read_bytes()
    assert FaceProcessor.from_pretrained(out) == FaceProcessor.from_pretrained(folders[-1])  # the last one's processor
    model = FERNet.from_pretrained(out)
    expected = soup.average_weights([FERNet.from_pretrained(f) for f in folders], [0.3, 0.7])
    name = next(key for key, value in expected.items() if value.ndim == 4)  # a conv kernel: untouched by BatchNorm
    assert torch.allclose(model.state_dict()[name], expected[name])
    record = json.loads((out / "training_config.json").read_text())
    assert record["seed"] == 1 and record["soup"]["weights"] == [0.3, 0.7]
    assert record["soup"]["command"].startswith("python soup.py") and record["soup"]["batchnorm_rows"] == 200
    assert [c["seed"] for c in record["soup"]["training_configs"]] == [0, 1]
    assert (out / "log.csv").exists()


@pytest.mark.parametrize("weights, message", [("0.5", "1 weights for 2 models"), ("0.5,0.6", "sum to 1"), ("a,b", "numbers")])
def test_bad_weights_are_refused_before_anything_is_written(untrained_model, weights, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        soup.main([str(untrained_model), str(untrained_model), "--weights", weights, "--out", str(tmp_path / "out")])
    error = capsys.readouterr().err
    assert exit.value.code == 2 and "error: --weights: " in error and message in error
    assert not (tmp_path / "out").exists()
