"""The training record of a model folder: `training_config.json` (the resolved options of the run
and of the runs behind it), `log.csv` (one row per epoch) and `curves.png`. Written by train.py
and soup.py, read by the model card.

A run started from another model (`--init-from`) copies that model's record in as `stageN_log.csv`
and `stageN_curves.png` (N from 1, the first run of the chain; the folder's own log.csv and
curves.png are the last stage), so a folder documents every stage behind its weights.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Iterable

from ..folder import atomic_write, portable

TRAINING_CONFIG = "training_config.json"
LOG = "log.csv"
CURVES = "curves.png"


def read_training(folder: str | os.PathLike) -> tuple[dict, list[dict]]:
    """(training_config.json, the rows of log.csv) of a model folder; empty where absent."""
    log_path = Path(folder) / LOG
    if not log_path.exists():
        return read_training_config(folder) or {}, []
    with open(log_path, newline="") as handle:
        return read_training_config(folder) or {}, list(csv.DictReader(handle))


def read_training_config(folder: str | os.PathLike) -> dict | None:
    """A folder's training_config.json, or None where it has none."""
    path = Path(folder) / TRAINING_CONFIG
    return json.loads(path.read_text()) if path.exists() else None


def write_training_config(out: str | os.PathLike, record: dict) -> None:
    """training_config.json: the run's settings, with paths portable (no folder of this machine)."""
    text = json.dumps(portable(record), indent=2)
    atomic_write(Path(out) / TRAINING_CONFIG, lambda path: Path(path).write_text(text))


def write_log(out: str | os.PathLike, history: list[dict]) -> None:
    def write(path):
        with open(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(history[0]))
            writer.writeheader()
            writer.writerows(history)
    atomic_write(Path(out) / LOG, write)


def plot_curves(out: str | os.PathLike, history: list[dict]) -> None:
    """Training and validation loss, and the PublicTest scores, per epoch."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    figure, (loss_axis, score_axis) = plt.subplots(1, 2, figsize=(11, 4))
    loss_axis.plot(epochs, [row["train_loss"] for row in history], label="train loss (augmented)")
    loss_axis.plot(epochs, [row["val_loss"] for row in history], label="validation loss (PublicTest)")
    loss_axis.set(xlabel="epoch", ylabel="cross-entropy", title="Loss")
    score_axis.plot(epochs, [row["val_accuracy"] for row in history], label="validation accuracy")
    score_axis.plot(epochs, [row["val_macro_f1"] for row in history], label="validation macro-F1")
    if "val_crowd_accuracy" in history[0]:
        score_axis.plot(epochs, [row["val_crowd_accuracy"] for row in history], label="validation FER+ accuracy")
    score_axis.set(xlabel="epoch", title="PublicTest scores")
    for axis in (loss_axis, score_axis):
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    atomic_write(Path(out) / CURVES, lambda path: figure.savefig(path, dpi=110, format="png"))
    plt.close(figure)


def earlier_stages(folder: str | os.PathLike) -> int:
    """How many earlier stages a model folder records (its stageN_log.csv files)."""
    return len(list(Path(folder).glob("stage*_log.csv")))


def copy_records(source: str | os.PathLike, out: str | os.PathLike, as_stage: bool = False) -> None:
    """Copy a model folder's logs and curves (its earlier stages' included) into `out`; with
    `as_stage`, its own log and curves become the next stage's (stageN_*)."""
    source, out = Path(source), Path(out)
    stage = earlier_stages(source) + 1
    for record in [*source.glob("*log.csv"), *source.glob("*curves.png")]:
        name = f"stage{stage}_{record.name}" if as_stage and record.name in (LOG, CURVES) else record.name
        if (out / name).resolve() != record.resolve():
            data = record.read_bytes()
            atomic_write(out / name, lambda path: Path(path).write_bytes(data))


def earlier_stage(init_from: str | None, out: str | os.PathLike) -> dict:
    """The record of the model a run starts from (its config, log and curves, copied into `out`
    as the next stage's stageN_* files), as entries for the run's training_config.json."""
    record = read_training_config(init_from) if init_from else None
    if record is None:
        return {}
    copy_records(init_from, out, as_stage=True)  # its own earlier stages' too
    return {"init_from_training_config": record}


def teacher_records(teachers: Iterable[str]) -> dict:
    """The training configs of distillation teachers (None for one without a record), so the
    output folder says which runs made the soft targets."""
    teachers = list(teachers)
    return {"teacher_training_configs": [read_training_config(path) for path in teachers]} if teachers else {}
