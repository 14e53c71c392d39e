"""What a training run learns towards: the rows and their targets (class indices, or distributions
mixing in the FER+ crowd's votes), the class counts behind the loss weights and the trained prior,
the distillation teachers' soft targets, and the loss that compares logits with all of them.
"""

from __future__ import annotations


import numpy as np
import torch
import torch.nn.functional as F

from ..data.fer2013 import load_fer2013
from ..data.ferplus import everyday_prior, load_ferplus
from ..labels import FER2013_LABELS


def class_counts(targets: np.ndarray, classes: int) -> np.ndarray:
    """How much of each class `targets` holds (float64, (classes,)): class indices (N,) counted,
    or distributions (N, classes) summed column by column."""
    targets = np.asarray(targets)
    counts = targets.sum(0) if targets.ndim == 2 else np.bincount(targets, minlength=classes)
    return counts.astype(np.float64)


def class_weights(targets: np.ndarray, classes: int, mode: str) -> torch.Tensor | None:
    """Inverse-frequency loss weights (or their square root, --class-weights sqrt), scaled to
    average 1 over samples; None for "none"."""
    if mode == "none":
        return None
    counts = class_counts(targets, classes)
    weights = 1.0 / np.maximum(counts, 1)
    if mode == "sqrt":
        weights = np.sqrt(weights)
    weights *= counts.sum() / (weights * counts).sum()
    return torch.tensor(weights, dtype=torch.float32)


def training_prior(targets: np.ndarray, classes: int, class_weights: np.ndarray | None = None,
                   label_smoothing: float = 0.0) -> list[float]:
    """The class distribution a cross-entropy loss teaches (Menon et al. 2021), stored as the
    processor's `trained_prior`: the frequencies of the targets (a class without any counts as
    one), times the loss's class weights, with label smoothing's uniform share mixed in."""
    counts = class_counts(targets, classes)
    counts = np.where(counts > 0, counts, 1.0)  # a class never seen counts once: no prior is 0
    counts = counts * (1.0 if class_weights is None else np.asarray(class_weights, dtype=np.float64))
    prior = counts / counts.sum()
    return ((1 - label_smoothing) * prior + label_smoothing / classes).tolist()


def mixed_targets(rows, crowd_weight: float) -> np.ndarray:
    """Training targets (N, classes): (1 - w) * one-hot original label + w * crowd votes, with w
    --crowd-weight; rows without a usable crowd vote keep their original label alone."""
    onehot = np.eye(rows.crowd.shape[1], dtype=np.float32)[rows.labels]
    weight = np.where(rows.has_crowd, crowd_weight, 0.0).astype(np.float32)[:, None]
    return (1 - weight) * onehot + weight * rows.crowd


def load_splits(config):
    """(training images, training targets, PublicTest rows, the crowd's everyday prior or None) of a
    TrainConfig. Targets are class indices, or distributions when --crowd-weight mixes in the FER+
    votes (non-face rows are then left out)."""
    data = load_fer2013(config.data, cache_dir=config.cache_dir or None)
    everyday = None
    if config.ferplus:
        data = load_ferplus(config.ferplus, data)
        everyday = everyday_prior(data)
    train, val = data.split("Training", config.limit), data.split("PublicTest", config.limit)
    if not config.crowd_weight:
        return torch.from_numpy(train.images), torch.from_numpy(train.labels), val, everyday
    train = train.take(np.flatnonzero(~train.not_face))
    return torch.from_numpy(train.images), torch.from_numpy(mixed_targets(train, config.crowd_weight)), val, everyday


def recorded_prior(record: dict, data) -> list[float]:
    """The trained prior of a finished run, worked out from its training_config.json and the data
    it read (for model folders saved before train.py stored it): its targets (the original labels,
    or the mix of --crowd-weight, which needs `data` with the FER+ votes), class weights and label
    smoothing, as train.py computes them."""
    train = data.split("Training", record.get("limit"))
    crowd_weight = record.get("crowd_weight") or 0.0
    if crowd_weight:
        train = train.take(np.flatnonzero(~train.not_face))
        targets = mixed_targets(train, crowd_weight)
    else:
        targets = train.labels
    classes = len(FER2013_LABELS)
    weights = class_weights(targets, classes, record.get("class_weights") or "none")
    return training_prior(targets, classes, None if weights is None else weights.numpy(),
                          record.get("label_smoothing") or 0.0)


def teacher_targets(config, images: torch.Tensor, device: torch.device) -> torch.Tensor | None:
    """Soft targets (N, classes) for distillation: softmax(logits / T) of each --teacher model
    (loaded with its processor, which normalises the rows as it was trained to), averaged over
    the teachers and over each row and its mirror image. Computed once, on the rows before
    augmentation, so an augmented face is pulled towards what the teachers see in the whole,
    upright face."""
    from ..pipelines.inference import load_pretrained, predict_logits

    if not config.distill:
        return None
    total = 0
    for path in config.teachers:
        teacher, processor = load_pretrained(path)
        teacher = teacher.to(device)
        for rows in (images, images.flip(-1)):
            logits = predict_logits(teacher, processor.normalize(rows), device=device)
            total = total + torch.softmax(logits / config.distill_temperature, dim=1)
    return total / (2 * len(config.teachers))


def training_loss(logits: torch.Tensor, targets: torch.Tensor, soft: torch.Tensor | None, loss_weights,
                  config) -> torch.Tensor:
    """Cross-entropy on the targets (class indices, or class probabilities such as crowd votes:
    soft-target cross-entropy, as in the FER+ paper), mixed with the distillation term (Hinton et
    al. 2015: KL from the teacher's tempered distribution, scaled by T^2 to keep its gradients
    comparable)."""
    hard = F.cross_entropy(logits, targets, weight=loss_weights, label_smoothing=config.label_smoothing)
    if soft is None:
        return hard
    temperature = config.distill_temperature
    student = F.log_softmax(logits / temperature, dim=1)
    distill = F.kl_div(student, soft, reduction="batchmean") * temperature**2
    return (1 - config.distill) * hard + config.distill * distill
