"""The parts of a training run, used by train.py (which holds the loop) and by the benchmarks:
the options (TrainConfig, one line of help each), the data and targets, the network and its
optimizer, one epoch, validation, the checkpoint that makes a run resumable, and the per-epoch
record. Everything random draws from its own seeded stream (stream_seed), so a resumed run ends
with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from .augment import AugmentConfig, augment_batch
from .data import default_data_path, load_fer2013
from .evaluation import crowd_metrics, headline_metrics
from .ferplus import default_ferplus_path, everyday_prior, load_ferplus
from .inference import predict_logits
from .model import WEIGHTS_NAME, FERNet, atomic_write, load_weights_strict
from .preprocess import normalize
from .processor import FaceProcessor, training_prior
from .records import plot_curves, write_log
from .errors import ResumeError

DEFAULT_DATA = default_data_path()
DEFAULT_FERPLUS = default_ferplus_path()
DEFAULT_CACHE = Path.home() / ".cache" / "fer_model"  # parsed CSVs (fer_model.data.load_fer2013)
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


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    parser = argparse.ArgumentParser(prog="train.py", description=TRAIN_DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    for f in dataclasses.fields(TrainConfig):
        flag, help = "--" + f.name.replace("_", "-"), f.metadata["help"].replace("%", "%%")
        if f.type == "bool":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default, help=help)
        else:
            kind = {"int": int, "float": float, "int | None": int}.get(f.type, str)
            parser.add_argument(flag, type=kind, default=f.default, help=f"{help} (default: %(default)s)")
    config = TrainConfig(**vars(parser.parse_args(argv)))
    from .shipped import resolve_model

    if config.init_from:  # a shipped model's short name means its folder
        config.init_from = str(resolve_model(config.init_from))
    if config.teacher:
        config.teacher = ",".join(str(resolve_model(name)) for name in config.teacher.split(","))
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
    if config.ferplus is None and DEFAULT_FERPLUS and config.data == str(DEFAULT_DATA):
        config.ferplus = str(DEFAULT_FERPLUS)  # the votes that line up with the default CSV
    if not 0 <= config.crowd_weight <= 1:
        parser.error(f"--crowd-weight must be in [0, 1], not {config.crowd_weight}")
    if config.select not in ("f1", "crowd", "both"):
        parser.error(f"--select must be f1, crowd or both, not {config.select!r}")
    if (config.crowd_weight or config.select != "f1") and not config.ferplus:
        parser.error("--crowd-weight and --select crowd/both need the FER+ votes: pass --ferplus fer2013new.csv")
    if config.data is None:
        parser.error("--data is required: no FER-2013 CSV found at the default location")
    return config



# ---------------------------------------------------------------------------------------- setup


def setup_distributed() -> tuple[int, int]:
    """(rank, world size); initialises the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def resolve_device(config: TrainConfig) -> torch.device:
    if config.device != "auto":
        return torch.device(config.device)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def autocast_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    """bf16 where the hardware runs it natively (CUDA, or CPUs with AVX512-BF16/AMX), else fp32."""
    if config.precision == "fp32":
        return None
    if config.precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return torch.bfloat16 if ("avx512_bf16" in flags or "amx_bf16" in flags) else None


def class_weights(labels: np.ndarray, classes: int, mode: str) -> torch.Tensor | None:
    """Inverse-frequency loss weights (or their square root), scaled to average 1 over samples.
    `labels`: class indices (N,), or target distributions (N, classes) whose columns are summed."""
    if mode == "none":
        return None
    labels = np.asarray(labels)
    counts = labels.sum(0) if labels.ndim == 2 else np.bincount(labels, minlength=classes)
    counts = counts.astype(np.float64)
    weights = 1.0 / np.maximum(counts, 1)
    if mode == "sqrt":
        weights = np.sqrt(weights)
    weights *= counts.sum() / (weights * counts).sum()
    return torch.tensor(weights, dtype=torch.float32)


def make_scheduler(config: TrainConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int):
    if config.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=config.plateau_factor, patience=config.plateau_patience
        )
    total = config.epochs * steps_per_epoch
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total, pct_start=0.2)
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)


# ---------------------------------------------------------------------------------------- training


# The purposes that draw random numbers; each gets its own stream (see stream_seed).
INIT, SHUFFLE, AUGMENT, DROPOUT = range(4)


def stream_seed(seed: int, purpose: int, *key: int) -> int:
    """The seed of one purpose's random stream, e.g. (AUGMENT, epoch, rank): numpy's SeedSequence
    keeps streams with different spawn keys independent, where formulas such as seed*1000+epoch
    can hand two purposes the same seed."""
    state = np.random.SeedSequence(seed, spawn_key=(purpose, *key)).generate_state(2, np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1  # 63 bits: a non-negative int64, as torch seeds take


def epoch_batches(n: int, config: TrainConfig, epoch: int, rank: int, world: int) -> list[torch.Tensor]:
    """This rank's batches of row indices: one shared shuffle per epoch, sharded round-robin."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(stream_seed(config.seed, SHUFFLE, epoch)))
    shard = order[: n - n % world][rank::world]  # equal shard sizes keep DDP's collectives in step
    return list(torch.split(shard, config.batch_size))


def augment_config(config: TrainConfig) -> AugmentConfig:
    return AugmentConfig(
        flip_p=config.flip_p, degrees=config.degrees, scale=(config.crop_area, 1.0),
        zoom=(config.zoom_min, config.zoom_max) if config.zoom_min else None, shift=config.shift, fill=config.fill,
        brightness=config.brightness, contrast=config.contrast, gamma=config.gamma, blur_p=config.blur_p,
        downscale_p=config.downscale_p,
    )


def teacher_paths(config: TrainConfig) -> list[str]:
    return [path.strip() for path in config.teacher.split(",")] if config.teacher else []


def teacher_targets(config: TrainConfig, images: torch.Tensor, device: torch.device) -> torch.Tensor | None:
    """Soft targets (N, classes) for distillation: softmax(logits / T) of each --teacher model,
    averaged over the teachers and over each row and its mirror image. Computed once, on the
    rows before augmentation, so an augmented face is pulled towards what the teachers see in
    the whole, upright face."""
    if not config.distill:
        return None
    paths = teacher_paths(config)
    total = 0
    for path in paths:
        teacher = FERNet.from_pretrained(path).to(device)
        for rows in (images, images.flip(-1)):
            logits = predict_logits(teacher, rows, device=device)
            total = total + torch.softmax(logits / config.distill_temperature, dim=1)
    return total / (2 * len(paths))


def training_loss(logits: torch.Tensor, targets: torch.Tensor, soft: torch.Tensor | None, loss_weights,
                  config: TrainConfig) -> torch.Tensor:
    """Cross-entropy on the targets (class indices, or class probabilities such as crowd votes:
    soft-target cross-entropy, as in the FER+ paper), mixed with the distillation term (Hinton et al. 2015: KL from
    the teacher's tempered distribution, scaled by T^2 to keep its gradients comparable)."""
    hard = F.cross_entropy(logits, targets, weight=loss_weights, label_smoothing=config.label_smoothing)
    if soft is None:
        return hard
    temperature = config.distill_temperature
    student = F.log_softmax(logits / temperature, dim=1)
    distill = F.kl_div(student, soft, reduction="batchmean") * temperature**2
    return (1 - config.distill) * hard + config.distill * distill


def weight_average(module: FERNet, decay: float) -> AveragedModel:
    """An exponential moving average of the weights and buffers (torch.optim.swa_utils), validated
    and saved in place of the raw weights; `.module` is the averaged FERNet."""
    return AveragedModel(module, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


@dataclass
class Run:
    """What one training run works with, built once by train.py: the network (`model` may be the
    DDP wrapper around `module`), its optimizer and schedule, the training rows and targets, and
    the optional class weights, teacher targets and weight average."""

    config: TrainConfig
    model: torch.nn.Module
    module: FERNet
    optimizer: torch.optim.Optimizer
    scheduler: Any
    images: torch.Tensor  # uint8 (N, 48, 48)
    targets: torch.Tensor  # class indices (N,) or distributions (N, classes)
    device: torch.device
    amp_dtype: torch.dtype | None = None
    loss_weights: torch.Tensor | None = None
    soft_targets: torch.Tensor | None = None  # distillation
    average: AveragedModel | None = None
    rank: int = 0
    world: int = 1

    @property
    def saved(self) -> FERNet:
        """The weights that are validated and saved: the average where there is one."""
        return self.average.module if self.average is not None else self.module


def train_one_epoch(run: Run, epoch: int) -> dict[str, float]:
    """One pass over this rank's shard. Everything random is seeded from (seed, purpose, epoch,
    rank), so a resumed epoch replays exactly."""
    config, module = run.config, run.module
    torch.manual_seed(stream_seed(config.seed, DROPOUT, epoch, run.rank))  # dropout draws from the global generator
    augment_rng = torch.Generator().manual_seed(stream_seed(config.seed, AUGMENT, epoch, run.rank))
    augment = augment_config(config)
    batches = epoch_batches(len(run.targets), config, epoch, run.rank, run.world)
    run.model.train()
    total_loss, seen, start = 0.0, 0, time.perf_counter()
    progress = tqdm(batches, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False, file=sys.stderr,
                    disable=run.rank != 0 or not sys.stderr.isatty())  # logs get the per-epoch line instead
    for index in progress:
        faces = augment_batch(run.images[index].unsqueeze(1).float().div_(255), augment, augment_rng)
        inputs = normalize(faces, module.mean, module.std).to(run.device, non_blocking=True)  # (B, 1, 48, 48)
        if config.channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        targets = run.targets[index].to(run.device, non_blocking=True)
        with torch.autocast(run.device.type, dtype=run.amp_dtype or torch.float32, enabled=run.amp_dtype is not None):
            logits = run.model(inputs)
        soft = run.soft_targets[index].to(run.device, non_blocking=True) if run.soft_targets is not None else None
        loss = training_loss(logits.float(), targets, soft, run.loss_weights, config)
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        if run.average is not None:
            run.average.update_parameters(module)
        if config.schedule != "plateau":
            run.scheduler.step()
        total_loss += loss.item() * len(index)
        seen += len(index)
        progress.set_postfix(loss=f"{total_loss / seen:.4f}", refresh=False)
    seconds = time.perf_counter() - start
    return {"train_loss": total_loss / seen, "epoch_seconds": seconds, "images_per_second": seen * run.world / seconds}

def validate(module: FERNet, val, device, config: TrainConfig) -> dict[str, float]:
    """PublicTest scores of the weights that get saved: loss (against the training target), accuracy and
    macro-F1 on the original labels, and with FER+ votes the crowd scores (see crowd_metrics)."""
    logits = predict_logits(module, val.images, device=device)
    metrics = headline_metrics(logits, val.labels)
    if val.crowd is not None:
        crowd = crowd_metrics(torch.softmax(logits, 1).numpy(), val, module.labels)
        metrics.update(crowd_accuracy=crowd["accuracy"], crowd_macro_f1=crowd["macro_f1"], crowd_nll=crowd["cross_entropy"])
        if config.crowd_weight:  # the loss that drives the schedule and early stopping: the training target's
            metrics["loss"] = F.cross_entropy(logits, torch.from_numpy(mixed_targets(val, config))).item()
    return {f"val_{name}": value for name, value in metrics.items()}


def selection_score(row: dict, config: TrainConfig) -> float:
    """The PublicTest score that decides which epoch is kept (--select)."""
    if config.select == "crowd":
        return row["val_crowd_accuracy"]
    if config.select == "both":
        return (row["val_macro_f1"] + row["val_crowd_accuracy"]) / 2
    return row["val_macro_f1"]


# ---------------------------------------------------------------------------------------- outputs


def save_checkpoint(path: Path, run: Run, epoch: int, state: dict) -> None:
    checkpoint = {
        "model": run.module.state_dict(),
        "average": run.average.state_dict() if run.average is not None else None,
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "epoch": epoch,  # epochs completed
        "state": state,  # best score, early-stopping counter, history
        "config": dataclasses.asdict(run.config),
    }
    atomic_write(path, lambda temp: torch.save(checkpoint, temp))



# ---------------------------------------------------------------------------------------- data and model


def mixed_targets(rows, config: TrainConfig) -> np.ndarray:
    """Training targets (N, classes): (1 - w) * one-hot original label + w * crowd votes, with w
    --crowd-weight; rows without a usable crowd vote keep their original label alone."""
    onehot = np.eye(rows.crowd.shape[1], dtype=np.float32)[rows.labels]
    weight = np.where(rows.has_crowd, config.crowd_weight, 0.0).astype(np.float32)[:, None]
    return (1 - weight) * onehot + weight * rows.crowd


def recorded_prior(record: dict, data) -> list[float]:
    """The trained prior of a finished run, worked out from its training_config.json and the data
    it read (for model folders saved before train.py stored it): its targets (the original labels,
    or the mix of --crowd-weight, which needs `data` with the FER+ votes), class weights and label
    smoothing, as train.py computes them."""
    train = data.split("Training", record.get("limit"))
    crowd_weight = record.get("crowd_weight") or 0.0
    if crowd_weight:
        train = train.take(np.flatnonzero(~train.not_face))
        targets = mixed_targets(train, argparse.Namespace(crowd_weight=crowd_weight))
    else:
        targets = train.labels
    classes = len(FERNet().labels)
    weights = class_weights(targets, classes, record.get("class_weights") or "none")
    return training_prior(targets, classes, None if weights is None else weights.numpy(),
                          record.get("label_smoothing") or 0.0)


def run_processor(config: TrainConfig, model: FERNet, targets: np.ndarray, loss_weights, everyday) -> FaceProcessor:
    """The inference settings saved with the weights: the --init-from model's (crop, views,
    temperature, prior) carried forward, or the defaults; the class distribution this run trains
    on; the crowd's everyday distribution where the FER+ votes are loaded."""
    parent = FaceProcessor.from_pretrained(config.init_from) if config.init_from else FaceProcessor(image_size=model.image_size)
    weights = loss_weights.cpu().numpy() if loss_weights is not None else None
    prior = training_prior(targets, len(model.labels), weights, config.label_smoothing)
    return dataclasses.replace(parent, trained_prior=prior, everyday_prior=everyday or parent.everyday_prior)


def load_splits(config: TrainConfig):
    """(training images, training targets, PublicTest rows, the crowd's everyday prior or None).
    Targets are class indices, or distributions when --crowd-weight mixes in the FER+ votes
    (non-face rows are then left out)."""
    data = load_fer2013(config.data, cache_dir=config.cache_dir or None)
    everyday = None
    if config.ferplus:
        data = load_ferplus(config.ferplus, data)
        everyday = everyday_prior(data)
    train, val = data.split("Training", config.limit), data.split("PublicTest", config.limit)
    if not config.crowd_weight:
        return torch.from_numpy(train.images), torch.from_numpy(train.labels), val, everyday
    train = train.take(np.flatnonzero(~train.not_face))
    return torch.from_numpy(train.images), torch.from_numpy(mixed_targets(train, config)), val, everyday


def build(config: TrainConfig, device: torch.device, shard_rows: int):
    """Seeded model (from --init-from weights if given), AdamW and the LR schedule."""
    torch.manual_seed(stream_seed(config.seed, INIT))
    model = FERNet()
    if config.init_from:
        load_weights_strict(model, Path(config.init_from) / WEIGHTS_NAME)
    model = model.to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = make_scheduler(config, optimizer, math.ceil(shard_rows / config.batch_size))
    return model, optimizer, scheduler


# Options that may differ between a run and its resumption (where and how fast, not what is trained).
RESUMABLE_CHANGES = {"resume", "stop_after", "threads", "cache_dir", "data", "device", "out"}


def restore(path: Path, run: Run) -> tuple[int, dict]:
    """Load a checkpoint written by save_checkpoint; returns (epochs completed, run state).

    Refuses a checkpoint whose run was configured differently (a resumed run must replay the
    same recipe), naming the options that differ."""
    checkpoint = torch.load(path, map_location=run.device, weights_only=True)
    saved, current = checkpoint["config"], dataclasses.asdict(run.config)
    differ = [f"--{name.replace('_', '-')} {saved.get(name)!r} (now {current[name]!r})"
              for name in current if name not in RESUMABLE_CHANGES and saved.get(name) != current[name]]
    if differ:
        raise ResumeError(f"{path} was written by a run with other options: {'; '.join(differ)}. "
                         "Resume with the same options, or start a new --out.")
    run.module.load_state_dict(checkpoint["model"])
    if run.average is not None:
        if checkpoint.get("average") is None:
            raise ResumeError(f"{path} was written without --ema; resume it without --ema or start a new --out")
        run.average.load_state_dict(checkpoint["average"])
    run.optimizer.load_state_dict(checkpoint["optimizer"])
    run.scheduler.load_state_dict(checkpoint["scheduler"])
    torch.set_rng_state(checkpoint["torch_rng"].cpu())  # the CPU generator, even when mapped to a GPU
    return checkpoint["epoch"], checkpoint["state"]


def record_epoch(out: Path, module: FERNet, processor: FaceProcessor, state: dict, row: dict,
                 config: TrainConfig) -> bool:
    """Log the epoch, keep the best model by validation macro-F1; True when early stopping fires."""
    state["history"].append(row)
    if selection_score(row, config) > state["best_score"]:
        state["best_score"], state["best_epoch"] = selection_score(row, config), row["epoch"]
        module.save_pretrained(out)
        processor.save_pretrained(out)
    if row["val_loss"] < state["best_val_loss"]:
        state["best_val_loss"], state["stale_epochs"] = row["val_loss"], 0
    else:
        state["stale_epochs"] += 1
    write_log(out, state["history"])
    plot_curves(out, state["history"])
    print(f"epoch {row['epoch']:3d}  train loss {row['train_loss']:.4f}  val loss {row['val_loss']:.4f}  "
          f"val acc {row['val_accuracy']:.4f}  val macro-F1 {row['val_macro_f1']:.4f}  "
          f"{'val FER+ acc %.4f  ' % row['val_crowd_accuracy'] if 'val_crowd_accuracy' in row else ''}lr {row['lr']:.2e}  "
          f"{row['epoch_seconds']:.0f} s  {row['images_per_second']:.0f} img/s"
          f"{'  *best' if state['best_epoch'] == row['epoch'] else ''}", flush=True)
    return bool(config.early_stopping) and state["stale_epochs"] >= config.early_stopping
