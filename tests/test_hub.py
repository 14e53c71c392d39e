"""Publishing: FERNet.push_to_hub and EmotionRecognizer.push_to_hub give a Hub repo that
from_pretrained loads back whole, processor included; a repo without the processor is refused,
naming the file. A local folder stands in for the Hub (only the network boundary is faked: the
upload copies files, the download reads them back)."""

import shutil
from pathlib import Path

import huggingface_hub
import pytest
import torch
from huggingface_hub import HfApi, RepoUrl
from huggingface_hub.errors import EntryNotFoundError
from huggingface_hub.utils import filter_repo_objects

from fer_model import EmotionRecognizer, FERNet, ModelLoadError
import fer_model.models.fernet


@pytest.fixture
def hub(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "hub"

    def create_repo(self, repo_id, **kwargs):
        (root / repo_id).mkdir(parents=True, exist_ok=True)
        return RepoUrl(f"https://huggingface.co/{repo_id}")

    def upload_folder(self, *, folder_path, repo_id, allow_patterns=None, ignore_patterns=None, **kwargs):
        names = [p.name for p in Path(folder_path).iterdir() if p.is_file()]
        for name in filter_repo_objects(names, allow_patterns=allow_patterns, ignore_patterns=ignore_patterns):
            shutil.copyfile(Path(folder_path) / name, root / repo_id / name)
        return f"https://huggingface.co/{repo_id}/commit/1"

    def download(repo_id, filename, **kwargs):
        path = root / repo_id / filename
        if not path.is_file():
            raise EntryNotFoundError(f"{filename} not in {repo_id}")
        return str(path)

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    for module in (huggingface_hub, huggingface_hub.hub_mixin, fer_model.models.fernet):
        monkeypatch.setattr(module, "hf_hub_download", download)
    return root


def test_a_pushed_fernet_loads_back_with_its_processor(hub):
    torch.manual_seed(0)
    FERNet().push_to_hub("me/fernet", token="hf_fake")
    assert {"config.json", "model.safetensors", "model.onnx", "preprocessor_config.json", "README.md"} <= \
        {p.name for p in (hub / "me" / "fernet").iterdir()}
    for backend in ("torch", "onnx"):
        recognizer = EmotionRecognizer.from_pretrained("me/fernet", backend=backend)
        assert recognizer.backend == backend and recognizer.processor.labels == recognizer.labels


def test_a_pushed_recognizer_keeps_its_processor(hub):
    original = EmotionRecognizer.from_pretrained("fernet-fer2013", backend="torch", prior="everyday")
    assert original.push_to_hub("me/fer2013", token="hf_fake").endswith("/commit/1")
    loaded = EmotionRecognizer.from_pretrained("me/fer2013")
    assert loaded.processor == original.processor  # crop, views, temperature, priors: the prior chosen too
    (hub / "me" / "fer2013" / "preprocessor_config.json").unlink()
    with pytest.raises(ModelLoadError, match="no preprocessor_config.json"):
        EmotionRecognizer.from_pretrained("me/fer2013")


@pytest.mark.parametrize("how", ["push_to_hub", "save_pretrained(push_to_hub=True)", "recognizer", "fer-model push"])
def test_every_way_to_publish_predicts_as_its_source(hub, tmp_path, how):
    from fer_model import EXAMPLES
    from fer_model.models.hub import push

    source = EmotionRecognizer.from_pretrained("fernet-ferplus", backend="torch")
    if how == "push_to_hub":
        FERNet.from_pretrained("fernet-ferplus").push_to_hub("me/copy", token="hf_fake")
    elif how == "save_pretrained(push_to_hub=True)":
        FERNet.from_pretrained("fernet-ferplus").save_pretrained(tmp_path / "copy", push_to_hub=True,
                                                                 repo_id="me/copy", token="hf_fake")
    elif how == "recognizer":
        source.push_to_hub("me/copy", token="hf_fake")
    else:
        push(source.model.processor_source, "me/copy", token="hf_fake")
    for backend in ("torch", "onnx"):
        copy = EmotionRecognizer.from_pretrained("me/copy", backend=backend)
        assert copy.processor == source.processor
        for a, b in zip(source.predict(EXAMPLES / "astronaut_grid.jpg"), copy.predict(EXAMPLES / "astronaut_grid.jpg")):
            assert a.box == b.box and a.probabilities == pytest.approx(b.probabilities, abs=1e-4)
