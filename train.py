"""Train FERNet on FER-2013.

    python train.py --data ../shared/fer2013/fer2013.csv.gz --out runs/fernet
    torchrun --nproc_per_node 2 train.py ...        # DistributedDataParallel, one shard per rank

Trains on Training, selects the best epoch by PublicTest macro-F1, never reads PrivateTest.
The output folder holds the best model (config.json, model.safetensors), the resolved config
(training_config.json), the per-epoch log (log.csv), the curves (curves.png) and a resumable
checkpoint (checkpoint.pt); `--resume` continues from it and ends with the same weights as an
uninterrupted run.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm import tqdm

from fer_model import FERNet, load_fer2013, default_data_path
from fer_model.augment import AugmentConfig, augment_batch
from fer_model.evaluation import headline_metrics
from fer_model.inference import predict_logits
from fer_model.model import WEIGHTS_NAME, atomic_write, load_weights_strict
from fer_model.preprocess import normalize

DEFAULT_DATA = default_data_path(Path(__file__).resolve().parent)


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
    flip_p: float = option(0.5, 'augmentation: horizontal flip probability')
    degrees: float = option(10.0, 'augmentation: rotation range +/- degrees')
    crop_scale: float = option(0.9, 'augmentation: smallest crop area fraction (RandomResizedCrop)')
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
    cache_dir: str | None = option(str(Path.home() / ".cache" / "fer_model"), 'parsed-CSV cache ("" : none)')
    stop_after: int | None = option(None, 'end this process after N epochs of this run (for time-boxed sessions)')


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for f in dataclasses.fields(TrainConfig):
        flag, help = "--" + f.name.replace("_", "-"), f.metadata["help"].replace("%", "%%")
        if f.type == "bool":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default, help=help)
        else:
            kind = {"int": int, "float": float, "int | None": int}.get(f.type, str)
            parser.add_argument(flag, type=kind, default=f.default, help=f"{help} (default: %(default)s)")
    config = TrainConfig(**vars(parser.parse_args(argv)))
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
    """Inverse-frequency loss weights (or their square root), scaled to average 1 over samples."""
    if mode == "none":
        return None
    counts = np.bincount(labels, minlength=classes).astype(np.float64)
    weights = 1.0 / np.maximum(counts, 1)
    if mode == "sqrt":
        weights = np.sqrt(weights)
    weights *= len(labels) / (weights * counts).sum()
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
        flip_p=config.flip_p, degrees=config.degrees, scale=(config.crop_scale, 1.0),
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
    """Cross-entropy on the labels, mixed with the distillation term (Hinton et al. 2015: KL from
    the teacher's tempered distribution, scaled by T^2 to keep its gradients comparable)."""
    hard = F.cross_entropy(logits, targets, weight=loss_weights, label_smoothing=config.label_smoothing)
    if soft is None:
        return hard
    temperature = config.distill_temperature
    student = F.log_softmax(logits / temperature, dim=1)
    distill = F.kl_div(student, soft, reduction="batchmean") * temperature**2
    return (1 - config.distill) * hard + config.distill * distill


class WeightAverage:
    """An exponential moving average of a model's parameters (buffers such as BatchNorm statistics
    are copied), kept in a second FERNet that is validated and saved in place of the raw weights."""

    def __init__(self, module: FERNet, decay: float) -> None:
        self.decay = decay
        self.module = FERNet(**module.config).to(next(module.parameters()).device)
        self.module.load_state_dict(module.state_dict())
        self.module.eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, module: FERNet) -> None:
        torch._foreach_lerp_(list(self.module.parameters()), list(module.parameters()), 1 - self.decay)
        for mine, theirs in zip(self.module.buffers(), module.buffers()):
            mine.copy_(theirs)


def train_one_epoch(model, module: FERNet, optimizer, scheduler, train_images, train_labels, loss_weights, config,
                    epoch, device, amp_dtype, rank, world, average: WeightAverage | None = None,
                    soft_targets: torch.Tensor | None = None) -> dict[str, float]:
    """One pass over this rank's shard. Everything random is seeded from (seed, purpose, epoch, rank), so a
    resumed epoch replays exactly. `model` may be the DDP wrapper; `module` is the FERNet inside."""
    torch.manual_seed(stream_seed(config.seed, DROPOUT, epoch, rank))  # dropout draws from the global generator
    augment_rng = torch.Generator().manual_seed(stream_seed(config.seed, AUGMENT, epoch, rank))
    augment = augment_config(config)
    batches = epoch_batches(len(train_labels), config, epoch, rank, world)
    model.train()
    total_loss, seen, start = 0.0, 0, time.perf_counter()
    progress = tqdm(batches, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False, file=sys.stderr,
                    disable=rank != 0 or not sys.stderr.isatty())  # logs get the per-epoch line instead
    for index in progress:
        faces = augment_batch(train_images[index].unsqueeze(1).float().div_(255), augment, augment_rng)
        inputs = normalize(faces, module.mean, module.std).to(device, non_blocking=True)
        if config.channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        targets = train_labels[index].to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            logits = model(inputs)
        soft = soft_targets[index].to(device, non_blocking=True) if soft_targets is not None else None
        loss = training_loss(logits.float(), targets, soft, loss_weights, config)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if average is not None:
            average.update(module)
        if config.schedule != "plateau":
            scheduler.step()
        total_loss += loss.item() * len(index)
        seen += len(index)
        progress.set_postfix(loss=f"{total_loss / seen:.4f}", refresh=False)
    seconds = time.perf_counter() - start
    return {"train_loss": total_loss / seen, "epoch_seconds": seconds, "images_per_second": seen * world / seconds}


def validate(module: FERNet, images, labels, device) -> dict[str, float]:
    metrics = headline_metrics(predict_logits(module, images, device=device), labels)
    return {f"val_{name}": value for name, value in metrics.items()}


# ---------------------------------------------------------------------------------------- outputs


def save_checkpoint(path: Path, module: FERNet, optimizer, scheduler, epoch: int, state: dict, config: TrainConfig,
                    average: WeightAverage | None = None) -> None:
    checkpoint = {
        "model": module.state_dict(),
        "average": average.module.state_dict() if average is not None else None,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "epoch": epoch,  # epochs completed
        "state": state,  # best score, early-stopping counter, history
        "config": dataclasses.asdict(config),
    }
    atomic_write(path, lambda temp: torch.save(checkpoint, temp))


def write_log(out: Path, history: list[dict]) -> None:
    def write(path):
        with open(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(history[0]))
            writer.writeheader()
            writer.writerows(history)
    atomic_write(out / "log.csv", write)


def plot_curves(out: Path, history: list[dict]) -> None:
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
    score_axis.set(xlabel="epoch", title="PublicTest scores")
    for axis in (loss_axis, score_axis):
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    atomic_write(out / "curves.png", lambda path: figure.savefig(path, dpi=110, format="png"))
    plt.close(figure)


def save_training_config(out: Path, config: TrainConfig, extra: dict) -> None:
    text = json.dumps({**dataclasses.asdict(config), **extra}, indent=2)
    atomic_write(out / "training_config.json", lambda path: Path(path).write_text(text))


# ---------------------------------------------------------------------------------------- main


def copy_records(source: Path, out: Path, prefix: str = "") -> None:
    """Copy a model folder's logs and curves (its earlier stages' included) into `out`."""
    for record in [*source.glob("*log.csv"), *source.glob("*curves.png")]:
        if (out / f"{prefix}{record.name}").resolve() != record.resolve():
            data = record.read_bytes()
            atomic_write(out / f"{prefix}{record.name}", lambda path: Path(path).write_bytes(data))


def earlier_stage(config: TrainConfig, out: Path) -> dict:
    """The record of the model this run starts from (its config, log and curves, copied into `out`
    as init_from_*), so the output folder documents every stage behind its weights."""
    source = Path(config.init_from or "")
    if not config.init_from or not (source / "training_config.json").exists():
        return {}
    copy_records(source, out, prefix="init_from_")  # its own earlier stages' too
    return {"init_from_training_config": json.loads((source / "training_config.json").read_text())}


def teacher_records(config: TrainConfig) -> dict:
    """The training configs of the --teacher models (None for a teacher without one), so the
    output folder says which runs made the soft targets."""
    if not config.teacher:
        return {}
    records = [Path(path) / "training_config.json" for path in teacher_paths(config)]
    return {"teacher_training_configs": [json.loads(r.read_text()) if r.exists() else None for r in records]}


def load_splits(config: TrainConfig):
    data = load_fer2013(config.data, cache_dir=config.cache_dir or None)
    train, val = data.split("Training", config.limit), data.split("PublicTest", config.limit)
    return torch.from_numpy(train.images), torch.from_numpy(train.labels), val.images, val.labels


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


def restore(path: Path, model, optimizer, scheduler, device: torch.device, config: TrainConfig,
            average: WeightAverage | None = None) -> tuple[int, dict]:
    """Load a checkpoint written by save_checkpoint; returns (epochs completed, run state).

    Refuses a checkpoint whose run was configured differently (a resumed run must replay the
    same recipe), naming the options that differ."""
    checkpoint = torch.load(path, map_location=device, weights_only=True)
    saved, current = checkpoint["config"], dataclasses.asdict(config)
    differ = [f"--{name.replace('_', '-')} {saved.get(name)!r} (now {current[name]!r})"
              for name in current if name not in RESUMABLE_CHANGES and saved.get(name) != current[name]]
    if differ:
        raise SystemExit(f"{path} was written by a run with other options: {'; '.join(differ)}. "
                         "Resume with the same options, or start a new --out.")
    model.load_state_dict(checkpoint["model"])
    if average is not None:
        if checkpoint.get("average") is None:
            raise SystemExit(f"{path} was written without --ema; resume it without --ema or start a new --out")
        average.module.load_state_dict(checkpoint["average"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])
    torch.set_rng_state(checkpoint["torch_rng"].cpu())  # the CPU generator, even when mapped to a GPU
    return checkpoint["epoch"], checkpoint["state"]


def main(argv: list[str] | None = None) -> dict:
    config = parse_args(argv)
    rank, world = setup_distributed()
    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config)
    amp_dtype = autocast_dtype(config, device)
    out = Path(config.out)
    train_images, train_labels, val_images, val_labels = load_splits(config)

    module, optimizer, scheduler = build(config, device, len(train_labels) // world)  # module: the FERNet itself
    weights = class_weights(train_labels.numpy(), len(module.labels), config.class_weights)
    weights = weights.to(device) if weights is not None else None
    soft_targets = teacher_targets(config, train_images, device)
    state = {"best_macro_f1": -1.0, "best_epoch": 0, "best_val_loss": math.inf, "stale_epochs": 0, "history": []}
    start_epoch = 0
    average = WeightAverage(module, config.ema) if config.ema else None
    if config.resume and (out / "checkpoint.pt").exists():
        start_epoch, state = restore(out / "checkpoint.pt", module, optimizer, scheduler, device, config, average)
        if rank == 0:
            print(f"resumed from {out / 'checkpoint.pt'} after epoch {start_epoch}", flush=True)
    model = torch.nn.parallel.DistributedDataParallel(module) if world > 1 else module  # what trains
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        save_training_config(out, config, {"world_size": world, "device": str(device), **earlier_stage(config, out),
                                           **teacher_records(config),
                                           "autocast": str(amp_dtype) if amp_dtype else "fp32",
                                           "random_streams": "SeedSequence per purpose",
                                           "train_rows": len(train_labels), "val_rows": len(val_labels)})
        print(f"training on {len(train_labels)} rows, validating on {len(val_labels)}; device {device}, "
              f"{world} process(es), autocast {amp_dtype or 'off'}, {torch.get_num_threads()} threads", flush=True)

    for epoch in range(start_epoch, config.epochs):
        row = {"epoch": epoch + 1, **train_one_epoch(model, module, optimizer, scheduler, train_images, train_labels,
                                                     weights, config, epoch, device, amp_dtype, rank, world, average,
                                                     soft_targets)}
        stop = torch.zeros(2, device=device)  # (val loss, stop flag), decided on rank 0 and shared
        if rank == 0:
            evaluated = average.module if average is not None else module  # the weights that get saved
            row.update(validate(evaluated, val_images, val_labels, device))
            row["lr"] = optimizer.param_groups[0]["lr"]
            stop[0] = row["val_loss"]
            stop[1] = float(record_epoch(out, evaluated, state, row, config))
        if world > 1:
            dist.broadcast(stop, src=0)
        if config.schedule == "plateau":
            scheduler.step(stop[0].item())
        if rank == 0:
            save_checkpoint(out / "checkpoint.pt", module, optimizer, scheduler, epoch + 1, state, config, average)
        if stop[1] or (config.stop_after and epoch + 1 - start_epoch >= config.stop_after):
            break
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return state


def record_epoch(out: Path, module: FERNet, state: dict, row: dict, config: TrainConfig) -> bool:
    """Log the epoch, keep the best model by validation macro-F1; True when early stopping fires."""
    state["history"].append(row)
    if row["val_macro_f1"] > state["best_macro_f1"]:
        state["best_macro_f1"], state["best_epoch"] = row["val_macro_f1"], row["epoch"]
        module.save_pretrained(out)
    if row["val_loss"] < state["best_val_loss"]:
        state["best_val_loss"], state["stale_epochs"] = row["val_loss"], 0
    else:
        state["stale_epochs"] += 1
    write_log(out, state["history"])
    plot_curves(out, state["history"])
    print(f"epoch {row['epoch']:3d}  train loss {row['train_loss']:.4f}  val loss {row['val_loss']:.4f}  "
          f"val acc {row['val_accuracy']:.4f}  val macro-F1 {row['val_macro_f1']:.4f}  lr {row['lr']:.2e}  "
          f"{row['epoch_seconds']:.0f} s  {row['images_per_second']:.0f} img/s"
          f"{'  *best' if state['best_epoch'] == row['epoch'] else ''}", flush=True)
    return bool(config.early_stopping) and state["stale_epochs"] >= config.early_stopping


if __name__ == "__main__":
    from fer_model.cli import run

    run(main)
