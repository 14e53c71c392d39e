"""The options of a training run: TrainConfig (each field one train.py flag with one line of
help), how the command line becomes one, and what the recorded options mean where the records
are read again (the --teacher list, the --select score).
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..models.architecture import check_architecture
from ..errors import DEBUG_HELP
from ..data.fer2013 import DATA_REQUIRED, default_data_path
from ..data.ferplus import votes_beside

DEFAULT_DATA = default_data_path()
DEFAULT_CACHE = Path.home() / ".cache" / "fer_model"  # parsed CSVs (fer_model.data.fer2013.load_fer2013)
TRAIN_DOC = """Train FERNet on FER-2013 (optionally on the FER+ crowd's votes).

    python train.py --data ../shared/fer2013/fer2013.csv.gz --out runs/fernet
    torchrun --nproc_per_node 2 train.py ...        # DistributedDataParallel, one shard per rank

Trains on Training, selects the best epoch on PublicTest, never reads PrivateTest. The output
folder holds the best model (config.json, preprocessor_config.json, model.safetensors), the
resolved config (training_config.json), the per-epoch log (log.csv), the curves (curves.png) and a
resumable checkpoint (checkpoint.pt); `--resume` continues from it and ends with the same weights
as an uninterrupted run.
"""


def option(default, help: str):
    """A TrainConfig field with its --help text."""
    return field(default=default, metadata={"help": help})


@dataclass
class TrainConfig:
    data: str | None = option(str(DEFAULT_DATA) if DEFAULT_DATA else None, 'FER-2013 CSV or image folder')
    out: str = option("runs/fernet", 'output folder: best model, log, curves, checkpoint')
    epochs: int = option(60, 'maximum number of epochs')
    batch_size: int = option(64, 'images per optimizer step, per process')
    lr: float = option(1e-3, 'AdamW learning rate (the peak rate for --schedule onecycle/cosine)')
    weight_decay: float = option(1e-4, 'AdamW decoupled weight decay')
    schedule: str = option("plateau", 'plateau: ReduceLROnPlateau on val loss | onecycle | cosine')
    plateau_patience: int = option(3, 'epochs without val-loss improvement before the LR is cut')
    plateau_factor: float = option(0.5, 'LR multiplier on each plateau cut')
    early_stopping: int = option(7, 'stop after this many epochs without val-loss improvement (0: never)')
    label_smoothing: float = option(0.0, 'cross-entropy label smoothing')
    class_weights: str = option("none", 'none | sqrt | balanced: loss weights from inverse class frequency')
    ferplus: str | None = option(None, 'FER+ crowd votes (fer2013new.csv), row-aligned with the CSV (default: '
                                       'the shared copy when --data is the shared FER-2013 CSV; "": none)')
    crowd_weight: float = option(0.0, 'weight of the FER+ vote distributions in the target '
                                      '(0: the original labels, 1: the votes alone, between: a mix)')
    select: str = option("f1", 'the epoch kept: f1 (PublicTest macro-F1, original labels) | '
                               'crowd (PublicTest FER+ majority accuracy) | both (the mean of the two)')
    flip_p: float = option(0.5, 'augmentation: horizontal flip probability')
    degrees: float = option(10.0, 'augmentation: rotation range +/- degrees')
    crop_area: float = option(0.9, 'augmentation: smallest crop area fraction (RandomResizedCrop)')
    zoom_min: float = option(0.0, 'framing augmentation: smallest crop side / image side (0: RandomResizedCrop instead)')
    zoom_max: float = option(1.25, 'framing augmentation: largest crop side / image side (> 1 zooms out)')
    shift: float = option(0.0, 'framing augmentation: largest shift of the crop centre, fraction of the image side')
    fill: str = option("zeros", 'pixels outside the image: zeros (black) | border (the nearest edge pixel)')
    brightness: float = option(0.0, 'augmentation: brightness offset drawn from [-b, b] (images in [0, 1])')
    contrast: float = option(0.0, 'augmentation: contrast factor drawn from [1 - c, 1 + c]')
    gamma: float = option(0.0, 'augmentation: gamma exp(u), u drawn from [-g, g]')
    blur_p: float = option(0.0, 'augmentation: probability of a Gaussian blur (sigma 0.5-1.5 px)')
    downscale_p: float = option(0.0, 'augmentation: probability of a round trip through 20, 24 or 32 px')
    teacher: str | None = option(None, "comma-separated saved models whose flip-averaged predictions on the "
                                       "unaugmented training rows become soft targets (distillation)")
    distill: float = option(0.0, 'weight of the distillation loss against the teacher targets (1 - it: the labels)')
    distill_temperature: float = option(2.0, 'softmax temperature of teacher and student in the distillation loss')
    mixup: float = option(0.0, 'mixup: Beta(a, a) blends of two faces and their targets (0: off; needs --crowd-weight '
                                '> 0, whose targets are distributions)')
    channels: str = option("64,128,256", 'network: comma-separated widths of the conv blocks')
    conv: str = option("plain", 'network: plain (Conv3x3) | separable (depthwise 3x3 + pointwise 1x1) convolutions')
    convs_per_block: int = option(1, 'network: convolutions per block before its 2x2 max pool')
    stem: int = option(0, 'network: channels of a plain Conv3x3 stem at full resolution (0: none)')
    activation: str = option("relu", 'network: relu | leaky_relu')
    negative_slope: float = option(0.01, 'network: leaky_relu slope')
    block_dropout: float = option(0.0, 'network: Dropout2d after each block')
    head: str = option("dense", 'network: dense (flatten + hidden layer) | gap (1x1 conv to the classes + global '
                                'average pooling)')
    hidden_size: int = option(512, 'network: the dense head\'s hidden width')
    conv_dropout: float = option(0.25, 'network: Dropout2d before the head')
    fc_dropout: float = option(0.5, 'network: dense head dropout before the output layer')
    ema: float = option(0.0, 'decay of an exponential moving average of the weights, validated and saved (0: off)')
    seed: int = option(42, 'seeds weights, shuffling, augmentation and dropout')
    limit: int | None = option(None, 'use at most this many rows per split (smoke runs, tests)')
    device: str = option("auto", 'auto | cpu | cuda | cuda:N')
    precision: str = option("auto", 'auto | fp32 | bf16: autocast dtype of the training step')
    channels_last: bool = option(True, 'NHWC memory layout (faster oneDNN/cuDNN convolutions)')
    threads: int = option(0, "CPU threads for torch (0: torch's default, one per core)")
    resume: bool = option(False, 'continue from OUT/checkpoint.pt')
    init_from: str | None = option(None, "start from this saved model's weights (a second training stage)")
    cache_dir: str | None = option(str(DEFAULT_CACHE), 'parsed-CSV cache ("" : none)')
    stop_after: int | None = option(None, 'end this process after N epochs of this run (for time-boxed sessions)')

    def as_record(self) -> dict[str, Any]:
        """The options as training_config.json records them."""
        return dataclasses.asdict(self)

    def network(self) -> dict[str, Any]:
        """The FERNet constructor arguments of the network options (the reference's by default)."""
        return {"channels": [int(c) for c in self.channels.split(",")], "conv": self.conv,
                "convs_per_block": self.convs_per_block, "stem": self.stem, "activation": self.activation,
                "negative_slope": self.negative_slope, "block_dropout": self.block_dropout, "head": self.head,
                "hidden_size": self.hidden_size, "conv_dropout": self.conv_dropout, "fc_dropout": self.fc_dropout}

    @property
    def teachers(self) -> list[str]:
        """The --teacher model folders."""
        return teacher_list(self.teacher)


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    parser = argparse.ArgumentParser(prog="train.py", description=TRAIN_DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    for f in dataclasses.fields(TrainConfig):
        flag, help = "--" + f.name.replace("_", "-"), f.metadata["help"].replace("%", "%%")
        if f.type == "bool":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default, help=help)
        else:
            kind = {"int": int, "float": float, "int | None": int}.get(f.type, str)
            parser.add_argument(flag, type=kind, default=f.default, help=f"{help} (default: %(default)s)")
    config = TrainConfig(**vars(parser.parse_args(argv)))
    from ..folder import resolve_model

    if config.init_from:  # a shipped model's short name means its folder
        config.init_from = str(resolve_model(config.init_from))
    if config.teacher:
        config.teacher = ",".join(str(resolve_model(name)) for name in teacher_list(config.teacher))
    try:
        check_architecture({**config.network(), "labels": [], "image_size": 48})
    except ValueError as error:
        parser.error(f"network options: {error}")
    if config.mixup < 0:
        parser.error(f"--mixup must be >= 0, not {config.mixup}")
    if config.mixup and not config.crowd_weight:
        parser.error("--mixup blends targets as distributions: it needs --crowd-weight above 0")
    if config.schedule not in ("plateau", "onecycle", "cosine"):
        parser.error(f"--schedule must be plateau, onecycle or cosine, not {config.schedule!r}")
    if config.fill not in ("zeros", "border"):
        parser.error(f"--fill must be zeros or border, not {config.fill!r}")
    if not 0 <= config.ema < 1:
        parser.error(f"--ema must be in [0, 1), not {config.ema}")
    if config.class_weights not in ("none", "sqrt", "balanced"):
        parser.error(f"--class-weights must be none, sqrt or balanced, not {config.class_weights!r}")
    if not 0 <= config.distill <= 1:
        parser.error(f"--distill must be in [0, 1], not {config.distill}")
    if bool(config.distill) != bool(config.teacher):
        parser.error("--distill and --teacher go together: a weight above 0 and the models to distil from")
    if config.distill_temperature <= 0:
        parser.error(f"--distill-temperature must be positive, not {config.distill_temperature}")
    if config.ferplus is None:
        config.ferplus = votes_beside(config.data)  # the shared votes, where --data is the shared CSV
    if not 0 <= config.crowd_weight <= 1:
        parser.error(f"--crowd-weight must be in [0, 1], not {config.crowd_weight}")
    if config.select not in SELECTIONS:
        parser.error(f"--select must be f1, crowd or both, not {config.select!r}")
    if (config.crowd_weight or config.select != "f1") and not config.ferplus:
        parser.error("--crowd-weight and --select crowd/both need the FER+ votes: pass --ferplus fer2013new.csv")
    if config.data is None:
        parser.error(DATA_REQUIRED)
    return config


# --select: what each choice means in a model card, and the score of a log row it keeps the best of.
SELECTIONS: dict[str, tuple[str, Callable[[dict], float]]] = {
    "f1": ("macro-F1", lambda row: float(row["val_macro_f1"])),
    "crowd": ("FER+ majority accuracy", lambda row: float(row["val_crowd_accuracy"])),
    "both": ("mean of macro-F1 (original labels) and FER+ majority accuracy",
             lambda row: (float(row["val_macro_f1"]) + float(row["val_crowd_accuracy"])) / 2),
}


def selection_score(row: dict, select: str) -> float:
    """The PublicTest score of an epoch's log row that decides which epoch is kept (--select)."""
    return SELECTIONS[select][1](row)


def teacher_list(teacher: str | None) -> list[str]:
    """The model folders of a --teacher value (comma-separated), as recorded in training_config.json."""
    return [path.strip() for path in teacher.split(",")] if teacher else []
