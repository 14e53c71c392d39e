"""The model folder as one contract (fer_model.folder): a model is named one way on every backend
and entry point, a wrong name is answered at once without the network, and what is saved or
pushed predicts as its source."""

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from fer_model import EXAMPLES, EmotionRecognizer, FERNet, ModelLoadError
from fer_model.folder import GRAPH_NAME, PROCESSOR_NAME, SHIPPED_MODELS, resolve_model
from fer_model.pipelines.inference import load_pretrained
from fer_model.processing.processor import FaceProcessor

ROOT = Path(__file__).resolve().parent.parent


def test_a_shipped_name_a_folder_and_a_hub_id_resolve(tmp_path):
    for name in SHIPPED_MODELS:
        assert (resolve_model(name) / GRAPH_NAME).is_file()
    assert resolve_model(tmp_path) == tmp_path
    assert resolve_model("someone/fernet-ferplus") == "someone/fernet-ferplus"


@pytest.mark.parametrize("name, message", [
    ("./nope", "no such model folder"),
    ("~/no/such/folder", "no such model folder"),
    ("fernet-ferplu", "did you mean 'fernet-ferplus'"),
    ("FERNet-FER2013", "did you mean 'fernet-fer2013'"),
    ("not a model!", "neither a model folder nor a Hub repo id"),
])
@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_a_wrong_name_is_answered_at_once_on_every_backend(name, message, backend):
    start = time.perf_counter()
    with pytest.raises(ModelLoadError, match=message) as error:
        load_pretrained(name, backend=backend)
    assert time.perf_counter() - start < 2.0  # no Hub request, no retries
    assert "fernet-ferplus, fernet-fer2013" in str(error.value)


def test_a_file_is_not_a_model_folder(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="a file, not a model folder"):
        FERNet.from_pretrained(tmp_path / "model.safetensors")


@pytest.mark.parametrize("command", [
    [sys.executable, "-m", "fer_model", "predict", str(EXAMPLES / "astronaut.png"), "--model", "./nope", "--backend", "onnx", "--out", "OUT"],
    [sys.executable, "-m", "fer_model", "predict", str(EXAMPLES / "astronaut.png"), "--model", "fernet-ferplu", "--out", "OUT"],
    [sys.executable, "app.py", "--model", "./nope"],
])
def test_the_commands_say_it_in_one_line_and_exit_2(command, tmp_path):
    command = [str(tmp_path / "rows.csv") if arg == "OUT" else arg for arg in command]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in done.stderr
    assert "nope" in lines[0] or "did you mean 'fernet-ferplus'" in lines[0]
    assert not (tmp_path / "rows.csv").exists()


def test_a_recognizer_without_a_processor_reads_the_models_labels():
    torch.manual_seed(0)
    model = FERNet(labels=["a", "b", "c", "d", "e"], channels=[8, 16, 32])
    recognizer = EmotionRecognizer(model, prior="balanced")
    assert recognizer.processor.labels == ["a", "b", "c", "d", "e"]
    (prediction,) = recognizer.predict(np.full((48, 48), 128, np.uint8))
    assert set(prediction.probabilities) == {"a", "b", "c", "d", "e"}


def test_a_network_saved_alone_keeps_the_processor_it_was_loaded_with(tmp_path):
    source = FaceProcessor.from_pretrained(resolve_model("fernet-ferplus"))
    assert source != FaceProcessor(labels=source.labels)  # its temperature, crop and priors are not the defaults
    FERNet.from_pretrained("fernet-ferplus").save_pretrained(tmp_path / "copy")
    assert FaceProcessor.from_pretrained(tmp_path / "copy") == source
    original = EmotionRecognizer.from_pretrained("fernet-ferplus")
    copy = EmotionRecognizer.from_pretrained(tmp_path / "copy")
    for image in (EXAMPLES / "astronaut.png", EXAMPLES / "astronaut_grid.jpg"):
        for a, b in zip(original.predict(image), copy.predict(image)):
            assert a.probabilities == pytest.approx(b.probabilities, abs=1e-6)


def test_a_network_built_here_gets_the_default_processor(tmp_path):
    FERNet(channels=[8, 16, 32]).save_pretrained(tmp_path)
    assert FaceProcessor.from_pretrained(tmp_path) == FaceProcessor()
