"""evaluate.py, the model card and Hub publishing."""

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from fer_model import FER2013_LABELS
import torch
from huggingface_hub import HfApi, ModelCard

from fer_model import FERNet
from fer_model.evaluation.metrics import classification_metrics, expected_calibration_error, fit_temperature
from fer_model.models import hub
from fer_model.__main__ import main as console_main
from fer_model.processing.processor import FaceProcessor, update_processor

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
def evaluated(tmp_path_factory, fer_data, ferplus_csv):
    """evaluate.py run on a small real CSV (and the FER+ votes of its rows) with a briefly trained model."""
    tmp = tmp_path_factory.mktemp("eval")
    rows, votes = ["emotion,pixels,Usage\n"], ferplus_csv.read_text().splitlines(keepends=True)
    chosen = [votes[0]]
    for split in ("Training", "PublicTest", "PrivateTest"):
        index = np.flatnonzero(fer_data.splits == split)[:100]
        rows += [f"{fer_data.labels[i]},{' '.join(map(str, fer_data.images[i].ravel()))},{split}\n" for i in index]
        chosen += [votes[i + 1] for i in index]
    rows.append(rows[1].replace(",Training", ",PrivateTest"))  # a PrivateTest twin of a Training face
    chosen.append(chosen[1].replace("Training,", "PrivateTest,", 1))
    (tmp / "data.csv").write_text("".join(rows))
    (tmp / "votes.csv").write_text("".join(chosen))
    script("train.py", "--data", tmp / "data.csv", "--ferplus", tmp / "votes.csv", "--out", tmp / "model",
           "--epochs", "1", "--cache-dir", "", home=tmp)
    update_processor(tmp / "model", tta_flip=True, crop_scale=1.1)
    script("evaluate.py", "--model", tmp / "model", "--data", tmp / "data.csv", "--ferplus", tmp / "votes.csv",
           "--update-model", "--default-prior", "balanced", "--quiet", "--wild", photo_folder(tmp / "photos", fer_data),
           "--card", tmp / "elsewhere" / "model_card.md", home=tmp)
    return tmp, json.loads((tmp / "model" / "metrics.json").read_text())


def script(name, *args, home):
    """Run one of the checkout's scripts as a user does (a process of its own), with its caches
    under `home`; fails with the script's own error output."""
    from conftest import ROOT

    done = subprocess.run([sys.executable, str(ROOT / name), *map(str, args)], capture_output=True, text=True,
                          timeout=900, cwd=ROOT, env={**os.environ, "HOME": str(home), "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    return done


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
    assert set(metrics["robustness"]) == {"model alone"}  # the default path too with --robustness-views
    for table in metrics["robustness"].values():
        assert table["clean"]["accuracy"] == pytest.approx(metrics["columns"][
            "PrivateTest" if table is metrics["robustness"]["model alone"] else "PrivateTest, default path"]["accuracy"])
        assert len(table) == 13  # clean, 11 perturbations and their mean
    assert metrics["wild_faces"]["rows"] == 3 and metrics["wild_faces"]["faces_found"] == pytest.approx(1.0)
    import hashlib
    assert metrics["model"]["sha256"] == hashlib.sha256((model_dir / "model.safetensors").read_bytes()).hexdigest()
    processor = FaceProcessor.from_pretrained(model_dir)  # the fitted temperature and the chosen prior are stored
    assert processor.temperature == pytest.approx(metrics["calibration"]["temperature"]) and processor.prior == "balanced"
    assert metrics["default_prior"] == "balanced"


@pytest.mark.slow
def test_both_benchmarks_and_every_prior_are_measured(evaluated):
    tmp, _ = evaluated
    metrics = json.loads((tmp / "model" / "metrics.json").read_text())
    for split in ("PublicTest", "PrivateTest"):
        crowd = metrics["ferplus"][split]
        assert 0 <= crowd["accuracy"] <= 1 and crowd["cross_entropy"] > 0 and set(crowd["per_class"]) == set(FER2013_LABELS)
    private = [line for line in (tmp / "votes.csv").read_text().splitlines() if line.startswith("PrivateTest")]
    assert metrics["ferplus"]["PrivateTest"]["rows"] == sum(_has_majority(line) for line in private)
    assert set(metrics["priors"]) == {"trained", "balanced", "everyday"}
    for row in metrics["priors"].values():
        assert {"original", "ferplus", "wild_faces"} <= set(row) and row["wild_faces"]["rows"] == 3
    # the prior changes what the default path predicts; the headline (model alone) stays the trained prior
    assert len({row["original"]["accuracy"] for row in metrics["priors"].values()} |
               {row["ferplus"]["cross_entropy"] for row in metrics["priors"].values()}) > 3
    assert metrics["audit"]["rows"] == 301 and 0 < metrics["audit"]["agreement"] < 1
    text = (tmp / "model" / "README.md").read_text()
    assert "## FER+: the crowd's labels" in text and "## The class prior" in text and "### What the labels are worth" in text
    for prior, row in metrics["priors"].items():
        assert f"| {prior} | {row['original']['accuracy']:.4f} |" in text
    card = ModelCard.load(tmp / "model" / "README.md")
    assert {r.dataset_type for r in card.data.eval_results} == {"fer2013", "ferplus"}


def _has_majority(line: str) -> bool:
    from fer_model.data.ferplus import vote_targets

    counts = [int(v) for v in line.strip().split(",")[2:]]
    return vote_targets(np.array([counts]))[1][0] >= 0


@pytest.mark.slow
def test_without_update_model_the_model_folder_is_only_read(evaluated, tmp_path):
    tmp, _ = evaluated
    before = {p.name: p.read_bytes() for p in (tmp / "model").iterdir() if p.is_file()}
    script("evaluate.py", "--model", tmp / "model", "--data", tmp / "data.csv", "--out", tmp_path / "out",
           "--no-robustness", "--wild", tmp / "photos", home=tmp_path)
    after = {p.name: p.read_bytes() for p in (tmp / "model").iterdir() if p.is_file()}
    assert before == after
    assert {"metrics.json", "README.md", "confusion_matrix.png"} <= {p.name for p in (tmp_path / "out").iterdir()}


@pytest.mark.slow
def test_card_shows_robustness_and_the_out_of_domain_row(evaluated):
    tmp, _ = evaluated
    metrics = json.loads((tmp / "model" / "metrics.json").read_text())
    text = (tmp / "model" / "README.md").read_text()
    assert "## Robustness" in text and "## Out of domain" in text
    for name, row in metrics["robustness"]["model alone"].items():
        assert f"| {name} | {row['accuracy']:.4f} | {row['macro_f1']:.4f} |" in text
    assert f"{metrics['wild_faces']['accuracy']:.4f}" in text and "crop 1.1x the face box, flip" in text
    reproduce = text.split("## Reproduce every number")[1]  # the views are set before the evaluation
    assert reproduce.index(f"python -m fer_model configure {tmp / 'model'} --crop-scale 1.1 --crop-shift 0,0 "
                           "--no-align-eyes --tta-scales 1 --tta-flip") < reproduce.index("python evaluate.py")
    assert "crop of -1" not in text  # the training crop is read from the record's own key


@pytest.mark.slow
def test_card_metadata_parses_back_with_the_measured_numbers(evaluated):
    tmp, results = evaluated
    card = ModelCard.load(tmp / "model" / "README.md")
    assert card.data.pipeline_tag == "image-classification" and card.data.library_name == "fer_model"
    assert card.data.license == "mit" and card.data.datasets == ["fer2013", "ferplus"]
    values = {(r.dataset_type, r.metric_type): r.metric_value for r in card.data.eval_results}
    assert values == {("fer2013", "accuracy"): round(results["accuracy"], 4),
                      ("fer2013", "f1"): round(results["macro_f1"], 4),
                      ("ferplus", "accuracy"): round(results["ferplus"]["PrivateTest"]["accuracy"], 4),
                      ("ferplus", "f1"): round(results["ferplus"]["PrivateTest"]["macro_f1"], 4)}
    assert all(r.dataset_split == "PrivateTest" for r in card.data.eval_results)


@pytest.mark.slow
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


def _fake_upload(calls):
    def upload(self, folder_path, repo_id, allow_patterns=None, **kwargs):  # the network boundary only
        from pathlib import Path

        from huggingface_hub.utils import filter_repo_objects

        files = [p.name for p in Path(folder_path).iterdir() if p.is_file()]
        calls["files"] = sorted(filter_repo_objects(files, allow_patterns=allow_patterns))
        return "https://huggingface.co/me/fernet/commit/1"
    return upload


@pytest.mark.slow
def test_push_uploads_the_model_files(evaluated, monkeypatch):
    tmp, _ = evaluated
    calls = {}
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kw: calls.setdefault("repo", repo_id))
    monkeypatch.setattr(HfApi, "upload_folder", _fake_upload(calls))
    (tmp / "model" / "stray.pt").write_bytes(b"optimizer state")
    assert hub.push(tmp / "model", "me/fernet", token="hf_fake") == "https://huggingface.co/me/fernet/commit/1"
    assert calls["repo"] == "me/fernet"
    assert calls["files"] == sorted(["README.md", "config.json", "preprocessor_config.json", "confusion_matrix.png",
                                     "curves.png", "log.csv", "metrics.json", "model.onnx", "model.safetensors",
                                     "reliability_diagram.png", "training_config.json"])


def test_push_without_login_is_one_line_and_status_2(untrained_model, monkeypatch, capsys):
    from fer_model.cli import run

    monkeypatch.setattr(hub, "get_token", lambda: None)
    with pytest.raises(SystemExit) as exit:
        run(console_main, ["push", str(untrained_model), "me/fernet"])
    error = capsys.readouterr().err
    assert exit.value.code == 2 and error.count("\n") == 1 and "not logged in" in error


def test_a_failed_upload_is_status_1(untrained_model, monkeypatch, capsys):
    from fer_model.cli import run

    def offline(self, repo_id, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(HfApi, "create_repo", offline)
    with pytest.raises(SystemExit) as exit:
        run(lambda argv: hub.push(untrained_model, "me/fernet", token="hf_fake"), [])
    assert exit.value.code == 1 and "could not reach the Hub" in capsys.readouterr().err


def test_the_bare_network_pushes_through_the_mixin(monkeypatch):
    """FERNet.push_to_hub is the mixin's: the network and its config (a whole model folder, processor
    and card included, goes through `fer-model push`)."""
    calls = {}
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kw: SimpleNamespace(
        repo_id=calls.setdefault("repo", repo_id)))
    monkeypatch.setattr(HfApi, "upload_folder", _fake_upload(calls))
    FERNet().push_to_hub("me/fernet", token="hf_fake")
    assert calls["repo"] == "me/fernet" and {"config.json", "model.safetensors"} <= set(calls["files"])


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
        "python train.py", "python train.py", copy_b, "mkdir -p shelf/a && cp runs/a/{config.json,preprocessor_config.json,model.safetensors,"
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
    assert commands[2:4] == ["mkdir -p shelf/b && cp runs/b/{config.json,preprocessor_config.json,model.safetensors,training_config.json,"
                             "*.csv,*.png} shelf/b/", "mkdir -p shelf/a && cp runs/a/{config.json,preprocessor_config.json,model.safetensors,"
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


def _copy_of_the_evaluated_model(evaluated, folder):
    """A copy of the evaluated model folder and its training record, to change and render again."""
    import shutil

    shutil.copytree(evaluated[0] / "model", folder)
    return folder, json.loads((folder / "training_config.json").read_text())


@pytest.mark.slow
def test_the_card_of_averaged_weights_names_the_models_and_the_command(evaluated, tmp_path):
    from fer_model import card

    folder, record = _copy_of_the_evaluated_model(evaluated, tmp_path / "soup")
    record["soup"] = {"models": ["shelf/x", str(folder)], "weights": [0.25, 0.75], "batchnorm_rows": 1234,
                      "training_configs": [None, None], "out": str(folder),
                      "command": f"python soup.py shelf/x {folder} --weights 0.25,0.75 --out {folder}"}
    (folder / "training_config.json").write_text(json.dumps(record))
    card.rerender_card(folder)
    text = (folder / "README.md").read_text()
    assert "average of `shelf/x` (0.25) and" in text and "1,234 Training faces" in text
    assert record["soup"]["command"] in text.split("## Reproduce every number")[1]


@pytest.mark.slow
def test_the_card_of_a_student_says_which_runs_need_the_old_random_streams(evaluated, tmp_path):
    from fer_model import card

    folder, record = _copy_of_the_evaluated_model(evaluated, tmp_path / "student")
    assert record["random_streams"]
    card.rerender_card(folder)
    assert card.OLD_STREAMS_COMMIT not in (folder / "README.md").read_text()  # trained with today's train.py only
    old = {"out": "runs/old-teacher", "epochs": 3}
    record.update(teacher="shelf/old", distill=0.7, distill_temperature=2.0, teacher_training_configs=[old])
    (folder / "training_config.json").write_text(json.dumps(record))
    card.rerender_card(folder)
    text = (folder / "README.md").read_text()
    assert "The runs writing `runs/old-teacher` were trained before" in text
    assert f"git checkout {card.OLD_STREAMS_COMMIT} -- train.py" in text
    reproduce = text.split("## Reproduce every number")[1]
    assert reproduce.index("--out runs/old-teacher") < reproduce.index("cp runs/old-teacher/") < reproduce.index(
        f"--out {record['out']}")


@pytest.mark.slow
def test_the_card_is_rerendered_from_metrics_json_alone(evaluated):
    from fer_model import card

    tmp, _ = evaluated
    written = (tmp / "model" / "README.md").read_text()
    (tmp / "model" / "README.md").unlink()
    card.rerender_card(tmp / "model")
    assert (tmp / "model" / "README.md").read_text() == written
    with pytest.raises(FileNotFoundError, match="metrics.json not found"):
        card.rerender_card(tmp / "nowhere")
