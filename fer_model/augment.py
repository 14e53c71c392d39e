"""Batched training augmentation: the effect of the reference torchvision pipeline

    RandomHorizontalFlip() -> RandomRotation(10) -> RandomResizedCrop(48, scale=(0.9, 1.0))

drawn per sample but applied to a whole batch at once: the three steps compose into one 2x3
affine matrix per sample, and a single `grid_sample` call resamples the batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class AugmentConfig:
    """Augmentation strengths (the defaults are the reference pipeline)."""

    flip_p: float = 0.5  # probability of a horizontal flip
    degrees: float = 10.0  # rotation drawn uniformly from [-degrees, degrees]
    scale: tuple[float, float] = (0.9, 1.0)  # crop area as a fraction of the image
    ratio: tuple[float, float] = (3 / 4, 4 / 3)  # crop aspect ratio (width / height), log-uniform


@dataclass
class AugmentParams:
    """Per-sample draws, each a tensor (N,). Crop sizes and centres are fractions of the image."""

    flip: torch.Tensor
    angle: torch.Tensor  # degrees, counter-clockwise
    crop_w: torch.Tensor
    crop_h: torch.Tensor
    center_x: torch.Tensor  # in [-1, 1] normalised coordinates
    center_y: torch.Tensor


def sample_params(n: int, config: AugmentConfig, generator: torch.Generator) -> AugmentParams:
    """Draw flip, rotation and crop for `n` samples as torchvision's transforms would."""
    flip = torch.rand(n, generator=generator) < config.flip_p
    angle = (torch.rand(n, generator=generator) * 2 - 1) * config.degrees
    crop_w, crop_h = _sample_crop_sizes(n, config, generator)
    # The crop's top-left corner is uniform over the positions that keep it inside the image.
    center_x = (torch.rand(n, generator=generator) * 2 - 1) * (1 - crop_w)
    center_y = (torch.rand(n, generator=generator) * 2 - 1) * (1 - crop_h)
    return AugmentParams(flip, angle, crop_w, crop_h, center_x, center_y)


def _sample_crop_sizes(n: int, config: AugmentConfig, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """RandomResizedCrop's draw: area and log-ratio, redrawn (up to 10 times) until the crop fits."""
    crop_w = torch.ones(n)
    crop_h = torch.ones(n)
    pending = torch.ones(n, dtype=torch.bool)
    log_lo, log_hi = math.log(config.ratio[0]), math.log(config.ratio[1])
    for _ in range(10):
        area = torch.empty(n).uniform_(config.scale[0], config.scale[1], generator=generator)
        ratio = torch.exp(torch.empty(n).uniform_(log_lo, log_hi, generator=generator))
        w, h = torch.sqrt(area * ratio), torch.sqrt(area / ratio)
        accept = pending & (w <= 1) & (h <= 1)
        crop_w[accept], crop_h[accept] = w[accept], h[accept]
        pending &= ~accept
        if not pending.any():
            break
    return crop_w, crop_h  # samples that never fit keep the whole image, as torchvision's fallback


def affine_matrices(params: AugmentParams) -> torch.Tensor:
    """(N, 2, 3) matrices mapping output coordinates to input ones: flip . rotate . crop."""
    n = params.flip.numel()
    crop = torch.zeros(n, 3, 3)
    crop[:, 0, 0], crop[:, 1, 1], crop[:, 2, 2] = params.crop_w, params.crop_h, 1
    crop[:, 0, 2], crop[:, 1, 2] = params.center_x, params.center_y
    radians = params.angle * (math.pi / 180)
    cos, sin = torch.cos(radians), torch.sin(radians)
    rotate = torch.zeros(n, 3, 3)
    # y points down in image coordinates, so this is a counter-clockwise turn on screen.
    rotate[:, 0, 0], rotate[:, 0, 1], rotate[:, 1, 0], rotate[:, 1, 1] = cos, -sin, sin, cos
    rotate[:, 2, 2] = 1
    flip = torch.eye(3).repeat(n, 1, 1)
    flip[:, 0, 0] = 1 - 2 * params.flip.float()
    return (flip @ rotate @ crop)[:, :2, :]


def augment_batch(images: torch.Tensor, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Augment a batch of float images (N, C, H, W) in [0, 1]; uncovered corners are black, as in RandomRotation."""
    theta = affine_matrices(sample_params(images.shape[0], config, generator)).to(images.device, images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
