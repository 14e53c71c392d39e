"""model.onnx reads the folder's model.safetensors; the detector's dynamic graph keeps YuNet's
weights; the vendored onnxruntime-web is the one its checksums name."""

import hashlib
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from conftest import ASTRONAUT
from fer_model import SHIPPED_MODELS, EmotionRecognizer, FERNet
from fer_model.vision.detect import YUNET_FILE
from fer_model.errors import ModelLoadError
from fer_model.models.graph import GRAPH_NAME, build_graph, safetensors_layout, write_graph
from fer_model.pipelines.inference import load_pretrained
from fer_model.folder import resolve_model
from fer_model.web import DYNAMIC_YUNET_FILE, PAGE, VENDOR as VENDOR_FOLDER, dynamic_yunet

VENDOR = PAGE / VENDOR_FOLDER


@pytest.mark.parametrize("name", SHIPPED_MODELS)
def test_the_shipped_graph_holds_no_weights_and_is_what_write_graph_makes(name):
    folder = Path(resolve_model(name))
    graph = onnx.load(str(folder / GRAPH_NAME), load_external_data=False)
    assert (folder / GRAPH_NAME).stat().st_size < 10_000  # operators and offsets only
    layout = safetensors_layout(folder / "model.safetensors")
    for tensor in graph.graph.initializer:
        places = {entry.key: entry.value for entry in tensor.external_data}
        assert tensor.data_location == onnx.TensorProto.EXTERNAL and not tensor.raw_data
        assert places["location"] == "model.safetensors"
        assert int(places["offset"]) == layout[tensor.name]["offset"]
        assert int(places["length"]) == layout[tensor.name]["length"]
    props = {p.key: p.value for p in graph.metadata_props}
    assert props["name"] == name and props["image_size"] == "48" and "neutral" in props["labels"]
    assert build_graph(folder, name).SerializeToString() == (folder / GRAPH_NAME).read_bytes()


@pytest.mark.parametrize("name", SHIPPED_MODELS)
def test_onnxruntime_on_the_graph_gives_torchs_logits_on_real_faces(name):
    network, processor = load_pretrained(name)
    recognizer = EmotionRecognizer(network, processor)
    gray, _ = recognizer.find_faces(ASTRONAUT)
    inputs = processor(gray, [(178, 63, 90, 113), (0, 0, 200, 200)]).pixel_values
    session = onnxruntime.InferenceSession(str(Path(resolve_model(name)) / GRAPH_NAME),
                                           providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"faces": inputs})
    with torch.no_grad():
        expected = network(torch.from_numpy(inputs)).numpy()
    np.testing.assert_allclose(logits, expected, atol=1e-4)


def test_save_pretrained_writes_the_graph_and_a_broken_weights_file_is_named(tmp_path):
    torch.manual_seed(0)
    FERNet().save_pretrained(tmp_path / "model")
    session = onnxruntime.InferenceSession(str(tmp_path / "model" / GRAPH_NAME), providers=["CPUExecutionProvider"])
    assert session.run(["logits"], {"faces": np.zeros((3, 1, 48, 48), np.float32)})[0].shape == (3, 7)
    (tmp_path / "model" / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ModelLoadError, match="not a readable safetensors file"):
        write_graph(tmp_path / "model")
    assert (tmp_path / "model" / GRAPH_NAME).is_file()  # the earlier graph is left as it was


def test_the_dynamic_detector_keeps_yunets_weights_and_takes_any_size():
    original, dynamic = onnx.load(str(YUNET_FILE)), onnx.load(str(DYNAMIC_YUNET_FILE))
    assert [(t.name, t.SerializeToString()) for t in original.graph.initializer] == \
        [(t.name, t.SerializeToString()) for t in dynamic.graph.initializer]
    assert [n.SerializeToString() for n in original.graph.node] == [n.SerializeToString() for n in dynamic.graph.node]
    assert dynamic_yunet().SerializeToString() == DYNAMIC_YUNET_FILE.read_bytes()
    session = onnxruntime.InferenceSession(str(DYNAMIC_YUNET_FILE), providers=["CPUExecutionProvider"])
    outputs = dict(zip([o.name for o in session.get_outputs()],
                       session.run(None, {"input": np.zeros((1, 3, 256, 320), np.float32)})))
    assert outputs["cls_8"].shape == (1, 32 * 40, 1) and outputs["kps_32"].shape == (1, 8 * 10, 10)


def test_the_vendored_runtime_matches_its_checksums():
    lines = (VENDOR / "SHA256SUMS").read_text().split("\n")
    listed = dict(reversed(line.split()) for line in lines if line.strip())
    assert set(listed) == {"ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"}
    for name, digest in listed.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    assert (VENDOR / "VERSION").read_text().strip().count(".") == 2 and "MIT" in (VENDOR / "LICENSE").read_text()
