"""The parts train.py's loop is made of: where it runs (processes, device, precision), the seeded
random streams, the batches of an epoch, the augmentation, the network with its optimizer and
schedule, the weight average, validation on PublicTest, and the processor saved with the weights.
The options are fer_model.training.config's, the targets fer_model.training.targets', the checkpoint
fer_model.training.checkpoints'. Everything random draws from its own seeded stream (stream_seed), so a
resumed run ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from .augment import AugmentConfig
from ..evaluation.metrics import crowd_metrics, headline_metrics
from ..pipelines.inference import load_pretrained, predict_logits
from ..models.fernet import FERNet
from ..processing.processor import FaceProcessor
from .targets import mixed_targets, training_prior
from .config import TrainConfig

# ---------------------------------------------------------------------------------------- where it runs


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


# ---------------------------------------------------------------------------------------- randomness and batches

# The purposes that draw random numbers; each gets its own stream (see stream_seed).
INIT, SHUFFLE, AUGMENT, DROPOUT, MIXUP = range(5)


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


# ---------------------------------------------------------------------------------------- the network


def build(config: TrainConfig, device: torch.device, shard_rows: int):
    """(network, its starting processor, AdamW, the LR schedule): a seeded FERNet of the network
    options (the reference by default) with the default processor, or the --init-from model and its processor (crop, views, temperature, prior carried
    forward), loaded as every model is (load_pretrained)."""
    torch.manual_seed(stream_seed(config.seed, INIT))
    model, processor = load_pretrained(config.init_from) if config.init_from else (FERNet(**config.network()), FaceProcessor())
    model = model.to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = make_scheduler(config, optimizer, math.ceil(shard_rows / config.batch_size))
    return model, processor, optimizer, scheduler


def make_scheduler(config: TrainConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int):
    """ReduceLROnPlateau (stepped once an epoch, on the validation loss), or one-cycle / cosine
    over every optimizer step of the run (stepped after each)."""
    if config.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=config.plateau_factor, patience=config.plateau_patience
        )
    total = config.epochs * steps_per_epoch
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total, pct_start=0.2)
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)


def weight_average(module: FERNet, decay: float) -> AveragedModel:
    """An exponential moving average of the weights and buffers (torch.optim.swa_utils), validated
    and saved in place of the raw weights; `.module` is the averaged FERNet."""
    return AveragedModel(module, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


@dataclass
class Run:
    """What one training run works with, built once by train.py: the network (`model` may be the
    DDP wrapper around `module`), the processor whose normalisation its batches get, its
    optimizer and schedule, the training rows and targets, and the optional class weights,
    teacher targets and weight average."""

    config: TrainConfig
    model: torch.nn.Module
    module: FERNet
    processor: FaceProcessor
    optimizer: torch.optim.Optimizer
    scheduler: object
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


# ---------------------------------------------------------------------------------------- validation and outputs


def validate(module: FERNet, processor: FaceProcessor, val, device, config: TrainConfig) -> dict[str, float]:
    """PublicTest scores of the weights that get saved: loss (against the training target), accuracy and
    macro-F1 on the original labels, and with FER+ votes the crowd scores (see crowd_metrics)."""
    logits = predict_logits(module, processor.normalize(val.images), device=device)
    metrics = headline_metrics(logits, val.labels)
    if val.crowd is not None:
        crowd = crowd_metrics(torch.softmax(logits, 1).numpy(), val, module.labels)
        metrics.update(crowd_accuracy=crowd["accuracy"], crowd_macro_f1=crowd["macro_f1"], crowd_nll=crowd["cross_entropy"])
        if config.crowd_weight:  # the loss that drives the schedule and early stopping: the training target's
            metrics["loss"] = F.cross_entropy(logits, torch.from_numpy(mixed_targets(val, config.crowd_weight))).item()
    return {f"val_{name}": value for name, value in metrics.items()}


def run_processor(parent: FaceProcessor, config: TrainConfig, labels: list[str], targets: np.ndarray,
                  loss_weights, everyday) -> FaceProcessor:
    """The processor saved with the weights: the starting one (build) with the class distribution
    this run trains on and the crowd's everyday distribution where the FER+ votes are loaded."""
    weights = loss_weights.cpu().numpy() if loss_weights is not None else None
    prior = training_prior(targets, len(labels), weights, config.label_smoothing)
    return dataclasses.replace(parent, trained_prior=prior, everyday_prior=everyday or parent.everyday_prior)
