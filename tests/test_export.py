"""The ONNX export: a complete model folder whose network onnxruntime runs as torch does."""

import numpy as np
import pytest

from fer_model import SHIPPED_MODELS
import torch

from fer_model import EmotionRecognizer, FERNet, ModelLoadError
from fer_model.models.export import export_onnx
from fer_model.folder import GRAPH_NAME as ONNX_NAME
from fer_model.models.onnx_runtime import OnnxNetwork
from fer_model.pipelines.inference import load_pretrained, predict_logits

from conftest import ASTRONAUT, ASTRONAUT_GRID, CAT


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("exported")
    export_onnx("fernet-ferplus", folder)
    return folder


def test_the_export_is_a_complete_model_folder(exported):
    names = {path.name for path in exported.iterdir()}
    assert {ONNX_NAME, "config.json", "preprocessor_config.json", "model.safetensors", "README.md"} <= names
    assert FERNet.from_pretrained(exported).labels == FERNet.from_pretrained("fernet-ferplus").labels


def test_onnxruntime_matches_torch_on_real_publictest_rows(exported, fer_data):
    faces = fer_data.split("PublicTest", limit=300).images
    model, processor = load_pretrained(exported)
    inputs = processor.normalize(faces)
    ours, theirs = predict_logits(model, inputs), predict_logits(OnnxNetwork(exported), inputs)
    assert ours.shape == theirs.shape == (300, 7)  # batches of 64 and a last one of 44: the batch is dynamic
    assert (torch.softmax(ours, 1) - torch.softmax(torch.from_numpy(theirs), 1)).abs().max() < 1e-4


def test_the_onnx_backend_gives_the_same_labels_on_the_examples(exported):
    torch_path = EmotionRecognizer.from_pretrained(exported)
    onnx_path = EmotionRecognizer.from_pretrained(exported, backend="onnx")
    for image in (ASTRONAUT, ASTRONAUT_GRID, CAT):
        a, b = torch_path.predict(image), onnx_path.predict(image)
        assert [f.label for f in a] == [f.label for f in b] and [f.box for f in a] == [f.box for f in b]
        assert np.allclose([list(f.probabilities.values()) for f in a], [list(f.probabilities.values()) for f in b],
                           atol=1e-4)
    with pytest.raises(ValueError, match="torch backend"):
        onnx_path.predict(ASTRONAUT, saliency=True)


def test_a_folder_without_the_onnx_file_is_named(tmp_path):
    import shutil

    from fer_model.folder import resolve_model

    shutil.copytree(resolve_model("fernet-fer2013"), tmp_path / "older", ignore=shutil.ignore_patterns("model.onnx"))
    with pytest.raises(ModelLoadError, match="model.onnx: no such file; a folder saved by this release has it"):
        EmotionRecognizer.from_pretrained(tmp_path / "older", backend="onnx")


def test_the_shipped_folders_run_on_onnxruntime_as_on_torch():
    for name in SHIPPED_MODELS:
        torch_path, onnx_path = (EmotionRecognizer.from_pretrained(name, backend=b) for b in ("torch", "onnx"))
        assert (torch_path.backend, onnx_path.backend) == ("torch", "onnx")
        a, b = torch_path.predict(ASTRONAUT_GRID), onnx_path.predict(ASTRONAUT_GRID)
        assert [f.label for f in a] == [f.label for f in b]
        assert np.allclose([list(f.probabilities.values()) for f in a], [list(f.probabilities.values()) for f in b],
                           atol=1e-4)


def test_the_export_and_predict_commands(tmp_path, capsys):
    from fer_model.__main__ import main

    assert main(["export", "fernet-fer2013", "--out", str(tmp_path / "onnx")]) == 0
    assert (tmp_path / "onnx" / ONNX_NAME).is_file() and "model.onnx" in capsys.readouterr().out
    assert main(["predict", str(ASTRONAUT), "--out", str(tmp_path / "rows.csv"), "--model", str(tmp_path / "onnx"),
                 "--backend", "onnx", "--quiet"]) == 0
    assert ",happy," in (tmp_path / "rows.csv").read_text()


def test_the_torch_free_runtime_gives_the_pytorch_results_on_photos_and_fer_faces(fer_data):
    """The onnx backend (what an install without PyTorch runs) against the torch one: wild_faces
    photos where ../shared has them, FER-2013 PublicTest faces, the examples; both shipped models."""
    from fer_model.data.fer2013 import default_wild_path

    wild = default_wild_path()
    photos = sorted(wild.glob("*.jpg"))[::50] if wild else []
    faces = list(fer_data.split("PublicTest", limit=200).images)
    images = [*photos, *faces, ASTRONAUT, ASTRONAUT_GRID, CAT]
    for name in SHIPPED_MODELS:
        torch_path, onnx_path = (EmotionRecognizer.from_pretrained(name, backend=b) for b in ("torch", "onnx"))
        for a, b in zip(torch_path.predict_many(images, ["trained"]), onnx_path.predict_many(images, ["trained"])):
            assert [f.label for f in a[0]] == [f.label for f in b[0]]
            assert np.abs(np.array([list(f.probabilities.values()) for f in a[0]]) -
                          np.array([list(f.probabilities.values()) for f in b[0]])).max() < 1e-4
