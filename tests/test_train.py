"""train.py end to end on real FER-2013 rows: outputs, resume after SIGKILL, 2-process DDP."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fer_model.folder import portable
import torch

import train
from fer_model import FERNet, load_fer2013
from fer_model.training import targets
from fer_model.training import config as train_config
from fer_model.training import loop as training
from fer_model.errors import ModelLoadError, ResumeError
from fer_model.pipelines.inference import load_pretrained, predict_logits
from fer_model.training.records import teacher_records

ROOT = Path(__file__).resolve().parent.parent
FILES = {"config.json", "model.safetensors", "README.md", "training_config.json", "log.csv", "curves.png", "checkpoint.pt"}


def _args(data, out, *extra):
    return ["--data", str(data), "--out", str(out), "--batch-size", "32", "--cache-dir", "", "--threads", "2", *extra]


def _run(args, **kwargs):
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, **kwargs)


def _log(out):
    with open(out / "log.csv") as handle:
        return list(csv.DictReader(handle))


def test_every_option_the_readme_names_is_one_train_py_takes(capsys):
    """The README's training section and `train.py --help` agree: no option a user reads about is refused."""
    import re

    readme = (ROOT / "README.md").read_text()
    section = re.sub(r"`python soup.py[^`]*`", "", readme[readme.index("## Train"):readme.index("## Evaluate")])
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", section))
    with pytest.raises(SystemExit) as exit:
        train_config.parse_args(["--help"])
    text = capsys.readouterr().out
    assert exit.value.code == 0 and text.startswith("usage: train.py")
    assert len(named) > 20 and not [option for option in named if option not in text]


def test_reference_defaults():
    config = train_config.parse_args(["--data", "x.csv"])
    assert (config.lr, config.weight_decay, config.batch_size, config.epochs) == (1e-3, 1e-4, 64, 60)
    assert (config.schedule, config.plateau_patience, config.early_stopping, config.seed) == ("plateau", 3, 7, 42)
    assert (config.flip_p, config.degrees, config.crop_area) == (0.5, 10.0, 0.9)
    assert config.label_smoothing == 0.0 and config.class_weights == "none"


def test_shards_cover_each_epoch_once():
    config = train_config.parse_args(["--data", "x.csv", "--batch-size", "8"])
    shards = [torch.cat(training.epoch_batches(101, config, 3, rank, 2)) for rank in range(2)]
    assert len(shards[0]) == len(shards[1]) == 50
    assert len(set(torch.cat(shards).tolist())) == 100
    assert not torch.equal(torch.cat(training.epoch_batches(101, config, 4, 0, 1)), torch.cat(training.epoch_batches(101, config, 3, 0, 1)))


def test_class_weights_lift_rare_classes():
    labels = np.array([0] * 90 + [1] * 10)
    balanced = targets.class_weights(labels, 2, "balanced")
    assert balanced[1] / balanced[0] == pytest.approx(9.0)
    assert targets.class_weights(labels, 2, "sqrt")[1] / targets.class_weights(labels, 2, "sqrt")[0] == pytest.approx(3.0)
    assert (balanced[torch.tensor(labels)].mean()).item() == pytest.approx(1.0)


@pytest.mark.slow
def test_training_writes_a_loadable_model(small_csv, tmp_path):
    out = tmp_path / "run"
    result = _run(_args(small_csv, out, "--epochs", "2", "--limit", "300"))
    assert result.returncode == 0, result.stderr
    assert FILES <= {p.name for p in out.iterdir()}
    rows = _log(out)
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert {"train_loss", "val_loss", "val_accuracy", "val_macro_f1", "lr", "epoch_seconds", "images_per_second"} <= set(rows[0])
    config = json.loads((out / "training_config.json").read_text())
    assert config["train_rows"] == 300 and config["val_rows"] == 300 and config["epochs"] == 2
    model = FERNet.from_pretrained(out)
    assert model(torch.zeros(1, 1, 48, 48)).shape == (1, 7)


@pytest.mark.slow  # trains a model
def test_private_test_has_no_say_in_training(small_csv, tmp_path):
    """The same run on the CSV without its PrivateTest rows ends with the same weights."""
    rows = small_csv.read_text().splitlines(keepends=True)
    public_only = tmp_path / "no_private.csv"
    public_only.write_text("".join(row for row in rows if not row.rstrip().endswith(",PrivateTest")))
    for data, out in ((small_csv, tmp_path / "all"), (public_only, tmp_path / "no_private")):
        train.main(_args(data, out, "--epochs", "1", "--limit", "100"))
    assert (tmp_path / "all" / "model.safetensors").read_bytes() == (tmp_path / "no_private" / "model.safetensors").read_bytes()


@pytest.mark.slow
def test_resume_after_sigkill_matches_an_uninterrupted_run(small_csv, small_votes, tmp_path, capsys):
    """With the crowd's votes in the targets, the robustness augmentation and the weight average on,
    so that their state resumes too."""
    full, killed = tmp_path / "full", tmp_path / "killed"
    args = ["--epochs", "2", "--limit", "300", "--early-stopping", "0", "--ema", "0.9", "--zoom-min", "0.8", "--shift", "0.08",
            "--ferplus", str(small_votes), "--crowd-weight", "0.5", "--select", "both",
            "--fill", "border", "--brightness", "0.15", "--contrast", "0.3", "--gamma", "0.3", "--blur-p", "0.2",
            "--downscale-p", "0.2"]
    train.main(_args(small_csv, full, *args))  # in this process: only the killed run needs one of its own
    process = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *_args(small_csv, killed, *args)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in process.stdout:  # kill once the first epoch is logged and its checkpoint is on disk
        if line.startswith("epoch   1 "):
            while not (killed / "checkpoint.pt").exists():
                time.sleep(0.01)
            process.send_signal(signal.SIGKILL)
            break
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert len(_log(killed)) < 2  # it really was cut short
    FERNet.from_pretrained(killed)  # what it left is loadable
    train.main(_args(small_csv, killed, *args, "--resume"))
    assert "resumed from" in capsys.readouterr().out
    assert (killed / "model.safetensors").read_bytes() == (full / "model.safetensors").read_bytes()
    final = [torch.load(d / "checkpoint.pt", weights_only=True) for d in (full, killed)]
    for part in ("model", "average"):
        assert all(torch.equal(final[0][part][k], final[1][part][k]) for k in final[0][part])
    assert [r["val_loss"] for r in _log(killed)] == [r["val_loss"] for r in _log(full)]
    with pytest.raises(ResumeError, match=r"other options: --lr 0\.001 \(now 0\.01\)"):
        train.main(_args(small_csv, killed, *args, "--resume", "--lr", "0.01"))


@pytest.mark.slow  # trains a model
def test_the_saved_model_is_the_weight_average(small_csv, tmp_path):
    out = tmp_path / "run"
    train.main(_args(small_csv, out, "--epochs", "1", "--ema", "0.99", "--limit", "100"))
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    model, processor = load_pretrained(out)
    assert not all(torch.equal(model.state_dict()[k], checkpoint["model"][k]) for k in model.state_dict())  # not the raw weights
    # what was validated is what was saved: the logged PublicTest loss is the saved model's
    val = load_fer2013(small_csv).split("PublicTest", 100)
    loss = torch.nn.functional.cross_entropy(predict_logits(model, processor.normalize(val.images)),
                                             torch.from_numpy(val.labels))
    assert float(_log(out)[0]["val_loss"]) == pytest.approx(loss.item(), abs=1e-5)


@pytest.mark.slow
def test_two_process_ddp_on_cpu(small_csv, tmp_path):
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(ROOT / "train.py"), *_args(small_csv, out, "--epochs", "1", "--limit", "200", "--threads", "1")]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp_path)})  # torchrun's files
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 process(es)" in result.stdout
    assert result.stdout.count("epoch   1 ") == 1  # only rank 0 reports and writes
    assert json.loads((out / "training_config.json").read_text())["world_size"] == 2
    assert len(_log(out)) == 1
    FERNet.from_pretrained(out)


def test_a_checkpoint_write_that_dies_leaves_the_last_good_one(tmp_path, monkeypatch):
    from fer_model.models.fernet import atomic_write

    target = tmp_path / "checkpoint.pt"
    atomic_write(target, lambda path: torch.save({"epoch": 3}, path))

    def dies_halfway(path):
        Path(path).write_bytes(b"half a checkpo")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, dies_halfway)
    assert torch.load(target, weights_only=True) == {"epoch": 3}
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


@pytest.mark.slow  # trains a model
def test_second_stage_starts_from_saved_weights_and_records_the_first(small_csv, tmp_path):
    from fer_model.card import train_command

    first, second = tmp_path / "first", tmp_path / "second"
    train.main(_args(small_csv, first, "--epochs", "1", "--limit", "100"))
    start = FERNet.from_pretrained(first)
    train.main(_args(small_csv, second, "--epochs", "1", "--limit", "100", "--init-from", str(first), "--lr", "1e-9",
                     "--weight-decay", "0"))
    after = FERNet.from_pretrained(second)
    # A near-zero learning rate leaves the first stage's weights (BatchNorm statistics still move).
    assert torch.allclose(after.head[5].weight, start.head[5].weight, atol=1e-5)
    record = json.loads((second / "training_config.json").read_text())
    # paths of this machine are not published: outside the repository and the home folder, a name only
    assert record["init_from"] == portable(str(first)) == "first" and record["init_from_training_config"]["epochs"] == 1
    assert (second / "stage1_log.csv").read_bytes() == (first / "log.csv").read_bytes()
    assert (second / "stage1_curves.png").exists()
    assert train_command(record["init_from_training_config"]).startswith("python train.py --out first")
    with pytest.raises(ModelLoadError, match="no such model folder"):
        train.main(_args(small_csv, tmp_path / "third", "--epochs", "1", "--limit", "100",
                         "--init-from", str(tmp_path / "absent")))


def test_teacher_targets_average_the_teachers_over_each_face_and_its_mirror(fer_data, untrained_model, tmp_path):
    shipped = ROOT / "fer_model" / "pretrained" / "fernet-fer2013"
    config = train_config.parse_args(["--data", "unused.csv", "--teacher", f"{shipped},{untrained_model}", "--distill", "0.5",
                               "--distill-temperature", "3"])
    images = torch.from_numpy(fer_data.split("Training", 64).images)
    soft = targets.teacher_targets(config, images, torch.device("cpu"))
    assert soft.shape == (64, 7) and torch.allclose(soft.sum(1), torch.ones(64))
    assert torch.allclose(soft, targets.teacher_targets(config, images.flip(-1), torch.device("cpu")), atol=1e-6)
    teachers = [load_pretrained(path) for path in (shipped, untrained_model)]
    expected = sum(torch.softmax(predict_logits(model, processor.normalize(rows)) / 3, dim=1)
                   for model, processor in teachers for rows in (images, images.flip(-1))) / 4
    assert torch.allclose(soft, expected, atol=1e-6)
    assert targets.teacher_targets(train_config.parse_args(["--data", "unused.csv"]), images, torch.device("cpu")) is None
    shipped_record = json.loads((shipped / "training_config.json").read_text())
    assert teacher_records(config.teachers) == {"teacher_training_configs": [shipped_record, None]}


def test_distillation_loss_mixes_labels_and_teacher():
    config = train_config.parse_args(["--data", "unused.csv", "--teacher", "t", "--distill", "0.25", "--distill-temperature", "2"])
    logits, labels = torch.randn(16, 7), torch.randint(0, 7, (16,))
    agreeing = torch.softmax(logits / 2, dim=1)  # a teacher that already agrees adds nothing
    hard = torch.nn.functional.cross_entropy(logits, labels)
    assert torch.allclose(targets.training_loss(logits, labels, agreeing, None, config), 0.75 * hard, atol=1e-6)
    uniform = torch.full((16, 7), 1 / 7)
    assert targets.training_loss(logits, labels, uniform, None, config) > 0.75 * hard
    assert torch.equal(targets.training_loss(logits, labels, None, None, config), hard)


def test_distillation_options_are_checked(capsys):
    for argv, message in ([["--distill", "0.5"], "--distill and --teacher go together"],
                          [["--teacher", "t"], "--distill and --teacher go together"],
                          [["--distill", "1.5", "--teacher", "t"], "--distill must be in [0, 1]"]):
        with pytest.raises(SystemExit) as exit:
            train_config.parse_args(["--data", "unused.csv", *argv])
        assert exit.value.code == 2 and message in capsys.readouterr().err


def test_random_streams_differ_for_every_purpose_epoch_and_rank():
    keys = [(purpose, epoch, rank) for purpose in (training.SHUFFLE, training.AUGMENT, training.DROPOUT)
            for epoch in range(100) for rank in range(4)]
    seeds = [training.stream_seed(42, *key) for key in keys]
    assert len(set(seeds)) == len(keys) and all(0 <= seed < 2**63 for seed in seeds)
    assert seeds == [training.stream_seed(42, *key) for key in keys]  # the same seed gives the same streams
    assert training.stream_seed(43, training.SHUFFLE, 0) != training.stream_seed(42, training.SHUFFLE, 0)
