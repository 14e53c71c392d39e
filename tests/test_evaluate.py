"""evaluate.py, the model card and Hub publishing."""

import json

import numpy as np
import pytest

from fer_model import FER2013_LABELS
import torch
from huggingface_hub import HfApi, ModelCard

import evaluate
from fer_model import FERNet
from fer_model.evaluation import classification_metrics, expected_calibration_error, fit_temperature
from fer_model import hub
from fer_model.model import update_config

NAMES = ["a", "b", "c"]


def test_metrics_on_a_known_case():
    labels = np.array([0, 0, 0, 1, 1, 2])
    predicted = np.array([0, 0, 1, 1, 2, 2])
    m = classification_metrics(labels, predicted, NAMES)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert m["per_class"]["a"] == {"precision": 1.0, "recall": pytest.approx(2 / 3), "f1": pytest.approx(0.8), "support": 3}
    assert m["per_class"]["b"]["precision"] == 0.5 and m["per_class"]["c"]["f1"] == pytest.approx(2 / 3)
    assert m["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert m["weighted_f1"] == pytest.approx((3 * 0.8 + 2 * 0.5 + 2 / 3) / 6)


def test_ece_on_a_known_case():
    probabilities = np.array([[0.9, 0.05, 0.05]] * 4)  # 90% sure, right half of the time
    assert expected_calibration_error(probabilities, np.array([0, 0, 1, 2])) == pytest.approx(0.4)


def test_temperature_fixes_an_overconfident_model():
    generator = torch.Generator().manual_seed(0)
    honest = torch.randn(4000, 7, generator=generator)
    labels = torch.multinomial(torch.softmax(honest, 1), 1, generator=generator).squeeze(1)
    overconfident = honest * 4
    temperature = fit_temperature(overconfident, labels)
    assert temperature == pytest.approx(4, rel=0.15)
    before = expected_calibration_error(torch.softmax(overconfident, 1).numpy(), labels.numpy())
    after = expected_calibration_error(torch.softmax(overconfident / temperature, 1).numpy(), labels.numpy())
    assert after < before / 3


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, fer_data):
    """evaluate.py run on a small real CSV with a briefly trained model."""
    tmp = tmp_path_factory.mktemp("eval")
    rows = ["emotion,pixels,Usage\n"]
    for split in ("Training", "PublicTest", "PrivateTest"):
        part = fer_data.split(split, 100)
        rows += [f"{l},{' '.join(map(str, i.ravel()))},{split}\n" for i, l in zip(part.images, part.labels)]
    rows.append(rows[1].replace(",Training", ",PrivateTest"))  # a PrivateTest twin of a Training face
    (tmp / "data.csv").write_text("".join(rows))
    import train

    train.main(["--data", str(tmp / "data.csv"), "--out", str(tmp / "model"), "--epochs", "1", "--cache-dir", ""])
    update_config(tmp / "model", tta_flip=True, crop_scale=1.1)
    results = evaluate.main(["--model", str(tmp / "model"), "--data", str(tmp / "data.csv"), "--update-model",
                             "--wild", str(photo_folder(tmp / "photos", fer_data)),
                             "--card", str(tmp / "elsewhere" / "model_card.md")])
    return tmp, results


def photo_folder(folder, fer_data):
    """Labelled photos as the wild_faces set lays them out: real example photos and a FER-2013 face."""
    import shutil

    from PIL import Image

    from conftest import ASTRONAUT, ASTRONAUT_GRID

    folder.mkdir()
    shutil.copy(ASTRONAUT, folder / "astronaut.png")
    shutil.copy(ASTRONAUT_GRID, folder / "grid.jpg")
    Image.fromarray(fer_data.images[0]).resize((150, 150)).save(folder / "fer.png")
    label = fer_data.labels[0]
    names = list(FER2013_LABELS)
    (folder / "labels.csv").write_text(f"file,label,identity\nastronaut.png,happy,a\ngrid.jpg,happy,a\n"
                                       f"fer.png,{names[label]},b\n")
    return folder


@pytest.mark.slow
def test_evaluate_writes_everything(evaluated):
    tmp, results = evaluated
    model_dir = tmp / "model"
    for name in ("metrics.json", "confusion_matrix.png", "reliability_diagram.png", "README.md"):
        assert (model_dir / name).exists()
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["split"] == "PrivateTest" and metrics["rows"] == 101
    assert set(metrics["per_class"]) == set(FER2013_LABELS)
    assert metrics["columns"]["PrivateTest without Training twins"]["removed_rows"] >= 1
    assert set(metrics["columns"]) == {"PrivateTest", "PublicTest", "PrivateTest without Training twins",
                                       "PrivateTest, default path"}
    assert metrics["default_path"] == "crop 1.1x the face box, flip"
    for table in metrics["robustness"].values():
        assert table["clean"]["accuracy"] == pytest.approx(metrics["columns"][
            "PrivateTest" if table is metrics["robustness"]["model alone"] else "PrivateTest, default path"]["accuracy"])
        assert len(table) == 13  # clean, 11 perturbations and their mean
    assert metrics["wild_faces"]["rows"] == 3 and metrics["wild_faces"]["faces_found"] == pytest.approx(1.0)
    import hashlib
    assert metrics["model"]["sha256"] == hashlib.sha256((model_dir / "model.safetensors").read_bytes()).hexdigest()
    config = json.loads((model_dir / "config.json").read_text())
    assert config["temperature"] == pytest.approx(metrics["calibration"]["temperature"])
    assert FERNet.from_pretrained(model_dir).temperature == config["temperature"]


def test_without_update_model_the_model_folder_is_only_read(evaluated, tmp_path):
    tmp, _ = evaluated
    before = {p.name: p.read_bytes() for p in (tmp / "model").iterdir() if p.is_file()}
    evaluate.main(["--model", str(tmp / "model"), "--data", str(tmp / "data.csv"), "--out", str(tmp_path / "out"),
                   "--no-robustness", "--wild", str(tmp / "photos")])
    after = {p.name: p.read_bytes() for p in (tmp / "model").iterdir() if p.is_file()}
    assert before == after
    assert {"metrics.json", "README.md", "confusion_matrix.png"} <= {p.name for p in (tmp_path / "out").iterdir()}


def test_card_shows_robustness_and_the_out_of_domain_row(evaluated):
    tmp, _ = evaluated
    metrics = json.loads((tmp / "model" / "metrics.json").read_text())
    text = (tmp / "model" / "README.md").read_text()
    assert "## Robustness" in text and "## Out of domain" in text
    for name, row in metrics["robustness"]["model alone"].items():
        assert f"| {name} | {row['accuracy']:.4f} | {row['macro_f1']:.4f} |" in text
    assert f"{metrics['wild_faces']['accuracy']:.4f}" in text and "crop 1.1x the face box, flip" in text


def test_card_metadata_parses_back_with_the_measured_numbers(evaluated):
    tmp, results = evaluated
    card = ModelCard.load(tmp / "model" / "README.md")
    assert card.data.pipeline_tag == "image-classification" and card.data.library_name == "fer_model"
    assert card.data.license == "mit" and card.data.datasets == ["fer2013"]
    values = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert values == {"accuracy": round(results["accuracy"], 4), "f1": round(results["macro_f1"], 4)}
    assert all(r.dataset_split == "PrivateTest" for r in card.data.eval_results)


def test_card_body_shows_the_metrics_json_numbers(evaluated):
    tmp, _ = evaluated
    metrics = json.loads((tmp / "model" / "metrics.json").read_text())
    text = (tmp / "model" / "README.md").read_text()
    for column in metrics["columns"].values():
        assert f"{column['accuracy']:.4f}" in text and f"{column['macro_f1']:.4f}" in text
    for name, m in metrics["per_class"].items():
        assert f"| {name} | {m['precision']:.4f} | {m['recall']:.4f} | {m['f1']:.4f} | {m['support']} |" in text
    assert f"{metrics['calibration']['ece_before']:.4f} before" in text
    for section in ("## How to use it", "## Training", "## Limitations and ethical considerations", "python train.py"):
        assert section in text
    copy = (tmp / "elsewhere" / "model_card.md").read_text()
    assert "](../model/confusion_matrix.png)" in copy and "](confusion_matrix.png)" in text


def test_push_uploads_the_model_files(evaluated, monkeypatch):
    tmp, _ = evaluated
    calls = {}
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kw: calls.setdefault("repo", repo_id))

    def fake_upload(self, folder_path, repo_id, allow_patterns, **kwargs):  # the network boundary only
        from huggingface_hub.utils import filter_repo_objects
        from pathlib import Path

        files = [p.name for p in Path(folder_path).iterdir() if p.is_file()]
        calls["files"] = sorted(filter_repo_objects(files, allow_patterns=allow_patterns))
        return "https://huggingface.co/me/fernet/commit/1"

    monkeypatch.setattr(HfApi, "upload_folder", fake_upload)
    (tmp / "model" / "stray.pt").write_bytes(b"optimizer state")
    assert hub.push(tmp / "model", "me/fernet", token="hf_fake") == "https://huggingface.co/me/fernet/commit/1"
    assert calls["repo"] == "me/fernet"
    assert calls["files"] == sorted(["README.md", "config.json", "confusion_matrix.png", "curves.png", "log.csv",
                                     "metrics.json", "model.safetensors", "reliability_diagram.png",
                                     "training_config.json"])


def test_push_without_login_says_so(evaluated, monkeypatch, capsys):
    tmp, _ = evaluated
    monkeypatch.setattr(hub, "get_token", lambda: None)
    assert hub.main(["push", str(tmp / "model"), "me/fernet"]) == 1
    assert "not logged in" in capsys.readouterr().err


def test_every_way_to_publish_goes_through_hub_push(tmp_path, monkeypatch):
    pushed = []
    monkeypatch.setattr(hub, "get_token", lambda: None)
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kw: pushed.append(repo_id))
    model = FERNet()
    with pytest.raises(hub.NotLoggedInError):
        model.push_to_hub("me/fernet")
    with pytest.raises(hub.NotLoggedInError):
        model.save_pretrained(tmp_path / "saved", push_to_hub=True, repo_id="me/fernet")
    assert pushed == []  # refused before anything reached the Hub
    assert (tmp_path / "saved" / "model.safetensors").exists()


def test_reproduce_commands_copy_what_each_stage_starts_and_learns_from():
    from fer_model.card import reproduce_commands, stages, teacher_names

    first = {"out": "runs/a", "epochs": 2}
    second = {"out": "runs/b", "init_from": "runs/a", "init_from_training_config": first}
    third = {"out": "runs/c", "init_from": "shelf/b", "init_from_training_config": second,
             "teacher": "shelf/a,shelf/b,elsewhere", "distill": 0.7,
             "teacher_training_configs": [first, second, None]}
    chain = stages(third)
    assert [stage["out"] for stage in chain] == ["runs/a", "runs/b", "runs/c"]
    commands = reproduce_commands(chain)
    copy_b = next(command for command in commands if command.startswith("mkdir -p shelf/b "))
    assert [command.split(" --")[0] for command in commands] == [
        "python train.py", "python train.py", copy_b, "mkdir -p shelf/a && cp runs/a/{config.json,model.safetensors,"
        "training_config.json,*.csv,*.png} shelf/a/", "python train.py"]
    assert "cp runs/b/" in copy_b and "--teacher shelf/a,shelf/b,elsewhere --distill 0.7" in commands[-1]
    assert "teacher-training-configs" not in commands[-1]
    assert teacher_names(chain) == ["stage 1", "stage 2", "`elsewhere`"]


def test_a_student_trained_from_scratch_reproduces_its_teachers_first():
    from fer_model.card import reproduce_commands, stages

    first = {"out": "runs/a", "epochs": 2}
    second = {"out": "runs/b", "init_from": "runs/a", "init_from_training_config": first}
    student = {"out": "runs/student", "teacher": "shelf/b,shelf/a", "distill": 0.7,
               "teacher_training_configs": [second, first]}
    commands = reproduce_commands(stages(student))
    assert [command.split(" --")[:2] for command in commands if command.startswith("python")] == [
        ["python train.py", "out runs/a"], ["python train.py", "out runs/b"], ["python train.py", "out runs/student"]]
    assert commands[2:4] == ["mkdir -p shelf/b && cp runs/b/{config.json,model.safetensors,training_config.json,"
                             "*.csv,*.png} shelf/b/", "mkdir -p shelf/a && cp runs/a/{config.json,model.safetensors,"
                             "training_config.json,*.csv,*.png} shelf/a/"]
    assert len(commands) == len(set(commands)) == 5


def test_reproduce_commands_end_with_the_soup_of_averaged_models():
    from fer_model.card import reproduce_commands, soup_parts, stages

    first = {"out": "runs/a", "epochs": 2}
    second = {"out": "runs/b", "init_from": "runs/a", "init_from_training_config": first}
    soup = {"models": ["shelf/a", "runs/b"], "weights": [0.4, 0.6], "training_configs": [first, second],
            "command": "python soup.py shelf/a runs/b --weights 0.4,0.6 --out runs/soup", "out": "runs/soup"}
    training = {**second, "soup": soup}
    chain = stages(training)
    commands = reproduce_commands(chain, soup)
    assert commands[-1] == soup["command"] and commands[-2].startswith("mkdir -p shelf/a && cp runs/a/")
    assert [command.split(" --")[0] for command in commands[:2]] == ["python train.py"] * 2
    assert "soup" not in commands[1]
    assert soup_parts(training, chain) == [{"name": "stage 1", "weight": 0.4}, {"name": "stage 2", "weight": 0.6}]


def test_the_card_of_averaged_weights_names_the_models_and_the_command(evaluated, tmp_path):
    import shutil

    from fer_model import card

    tmp, _ = evaluated
    folder = tmp_path / "soup"
    shutil.copytree(tmp / "model", folder)
    record = json.loads((folder / "training_config.json").read_text())
    record["soup"] = {"models": ["shelf/x", str(folder)], "weights": [0.25, 0.75], "batchnorm_rows": 1234,
                      "training_configs": [None, None], "out": str(folder),
                      "command": f"python soup.py shelf/x {folder} --weights 0.25,0.75 --out {folder}"}
    (folder / "training_config.json").write_text(json.dumps(record))
    card.main([str(folder)])
    text = (folder / "README.md").read_text()
    assert "average of `shelf/x` (0.25) and" in text and "1,234 Training faces" in text
    assert record["soup"]["command"] in text.split("## Reproduce every number")[1]


def test_the_card_of_a_student_says_which_runs_need_the_old_random_streams(evaluated, tmp_path):
    import shutil

    from fer_model import card

    tmp, _ = evaluated
    folder = tmp_path / "student"
    shutil.copytree(tmp / "model", folder)
    record = json.loads((folder / "training_config.json").read_text())
    assert record["random_streams"]
    card.main([str(folder)])
    assert "dddb0e6" not in (folder / "README.md").read_text()  # trained with today's train.py only
    old = {"out": "runs/old-teacher", "epochs": 3}
    record.update(teacher="shelf/old", distill=0.7, distill_temperature=2.0, teacher_training_configs=[old])
    (folder / "training_config.json").write_text(json.dumps(record))
    card.main([str(folder)])
    text = (folder / "README.md").read_text()
    assert "The runs writing `runs/old-teacher` were trained before" in text and "dddb0e6" in text
    reproduce = text.split("## Reproduce every number")[1]
    assert reproduce.index("--out runs/old-teacher") < reproduce.index("cp runs/old-teacher/") < reproduce.index(
        f"--out {record['out']}")


def test_the_card_is_rerendered_from_metrics_json_alone(evaluated):
    from fer_model import card

    tmp, _ = evaluated
    written = (tmp / "model" / "README.md").read_text()
    (tmp / "model" / "README.md").unlink()
    card.main([str(tmp / "model")])
    assert (tmp / "model" / "README.md").read_text() == written
    with pytest.raises(SystemExit):
        card.main([str(tmp / "nowhere")])
