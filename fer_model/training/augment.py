"""Batched training augmentation: the effect of the reference torchvision pipeline

    RandomHorizontalFlip() -> RandomRotation(10) -> RandomResizedCrop(48, scale=(0.9, 1.0))

drawn per sample but applied to a whole batch at once: the three steps compose into one 2x3
affine matrix per sample, and a single `grid_sample` call resamples the batch.

Options beyond the reference pipeline imitate what a face detector, a camera and a photo do to
a face: framing (`zoom` out and in around the face, `shift`, with `fill="border"` repeating the
edge pixels instead of black), brightness/contrast/gamma, Gaussian blur and a round trip through
a lower resolution. All are drawn per sample and applied batched.
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
    zoom: tuple[float, float] | None = None  # framing: crop side / image side, log-uniform (> 1 zooms out);
    # replaces RandomResizedCrop's area draw when set
    shift: float = 0.0  # framing: crop centre moved by up to this fraction of the image side, each axis
    fill: str = "zeros"  # what uncovered pixels get: "zeros" (black) | "border" (the nearest edge pixel)
    brightness: float = 0.0  # add a value drawn from [-brightness, brightness]
    contrast: float = 0.0  # scale around the image mean by a factor from [1 - contrast, 1 + contrast]
    gamma: float = 0.0  # raise to a power exp(u), u drawn from [-gamma, gamma]
    blur_p: float = 0.0  # probability of a Gaussian blur, sigma drawn from [0.5, blur_sigma] pixels
    blur_sigma: float = 1.5
    downscale_p: float = 0.0  # probability of a round trip through a side drawn from downscale_sides
    downscale_sides: tuple[int, ...] = (20, 24, 32)

    @property
    def photometric(self) -> bool:
        return bool(self.brightness or self.contrast or self.gamma or self.blur_p or self.downscale_p)


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
    if config.zoom is not None:
        return _sample_framing(n, config, generator, flip, angle)
    crop_w, crop_h = _sample_crop_sizes(n, config, generator)
    # The crop's top-left corner is uniform over the positions that keep it inside the image.
    center_x = (torch.rand(n, generator=generator) * 2 - 1) * (1 - crop_w)
    center_y = (torch.rand(n, generator=generator) * 2 - 1) * (1 - crop_h)
    return AugmentParams(flip, angle, crop_w, crop_h, center_x, center_y)


def _sample_framing(n: int, config: AugmentConfig, generator: torch.Generator, flip: torch.Tensor,
                    angle: torch.Tensor) -> AugmentParams:
    """A detector's framing: the crop side log-uniform in `zoom` (aspect ratio jittered as in
    `ratio`), its centre shifted by up to `shift` of the image side; the crop may leave the image."""
    log_lo, log_hi = math.log(config.zoom[0]), math.log(config.zoom[1])
    side = torch.exp(torch.empty(n).uniform_(log_lo, log_hi, generator=generator))
    ratio = torch.exp(torch.empty(n).uniform_(math.log(config.ratio[0]), math.log(config.ratio[1]), generator=generator))
    crop_w, crop_h = side * ratio.sqrt(), side / ratio.sqrt()
    center_x = (torch.rand(n, generator=generator) * 2 - 1) * 2 * config.shift  # normalised coordinates span 2
    center_y = (torch.rand(n, generator=generator) * 2 - 1) * 2 * config.shift
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
    """Augment a batch of float images (N, C, H, W) in [0, 1]. Uncovered pixels are black, as in
    RandomRotation, unless `config.fill` is "border"."""
    if config.fill not in ("zeros", "border"):
        raise ValueError(f"fill must be 'zeros' or 'border', not {config.fill!r}")
    theta = affine_matrices(sample_params(images.shape[0], config, generator)).to(images.device, images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    images = F.grid_sample(images, grid, mode="bilinear", padding_mode=config.fill, align_corners=False)
    return photometric_batch(images, config, generator) if config.photometric else images


def photometric_batch(images: torch.Tensor, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Brightness, contrast and gamma, then blur and downscaling, drawn per sample; result in [0, 1]."""
    n = images.shape[0]

    def uniform(limit: float) -> torch.Tensor:  # (N, 1, 1, 1) drawn from [-limit, limit]
        return ((torch.rand(n, generator=generator) * 2 - 1) * limit).view(n, 1, 1, 1).to(images)

    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    images = (images - mean) * (1 + uniform(config.contrast)) + mean + uniform(config.brightness)
    images = images.clamp(0, 1).pow(uniform(config.gamma).exp())
    blur = torch.rand(n, generator=generator) < config.blur_p
    sigma = 0.5 + torch.rand(n, generator=generator) * (config.blur_sigma - 0.5)
    if blur.any():
        images[blur] = gaussian_blur(images[blur], sigma[blur])
    shrink = torch.rand(n, generator=generator) < config.downscale_p
    sides = torch.randint(len(config.downscale_sides), (n,), generator=generator)
    for choice, side in enumerate(config.downscale_sides):
        chosen = shrink & (sides == choice)
        if chosen.any():
            images[chosen] = round_trip(images[chosen], side)
    return images


def gaussian_blur(images: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Blur each image (N, 1, H, W) with its own sigma (N,), in pixels; edges repeat."""
    n, _, height, width = images.shape
    radius = int(math.ceil(3 * float(sigma.max())))
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernels = torch.exp(-0.5 * (offsets[None] / sigma.to(images)[:, None]) ** 2)
    kernels = kernels / kernels.sum(1, keepdim=True)  # (N, K)
    flat = images.reshape(1, n, height, width)  # one group per image
    flat = F.pad(flat, (radius, radius, radius, radius), mode="replicate")
    flat = F.conv2d(flat, kernels.view(n, 1, 1, -1), groups=n)
    flat = F.conv2d(flat, kernels.view(n, 1, -1, 1), groups=n)
    return flat.reshape(n, 1, height, width)


def round_trip(images: torch.Tensor, side: int) -> torch.Tensor:
    """Images shrunk to side x side (area averaging) and enlarged back (bilinear), as a small face in a photo."""
    size = images.shape[-2:]
    small = F.interpolate(images, size=(side, side), mode="area")
    return F.interpolate(small, size=size, mode="bilinear", align_corners=False)
