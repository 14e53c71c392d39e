"""The batched augmentation draws what the reference torchvision pipeline draws, and the composed
affine matrices do to the pixels what the draws say."""

import math

import pytest
import torch
import torch.nn.functional as F

from fer_model.training.augment import AugmentConfig, AugmentParams, affine_matrices, augment_batch, sample_params

N = 20_000


@pytest.fixture(scope="module")
def params() -> AugmentParams:
    return sample_params(N, AugmentConfig(), torch.Generator().manual_seed(1))


def _warp(images, params):
    grid = F.affine_grid(affine_matrices(params), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, align_corners=False)


def _only(n, **overrides):
    values = {"flip": torch.zeros(n, dtype=torch.bool), "angle": torch.zeros(n), "crop_w": torch.ones(n),
              "crop_h": torch.ones(n), "center_x": torch.zeros(n), "center_y": torch.zeros(n)}
    return AugmentParams(**{**values, **overrides})


def test_flip_rate(params):
    assert abs(params.flip.float().mean().item() - 0.5) < 0.015


def test_rotation_is_uniform_within_ten_degrees(params):
    assert params.angle.abs().max() <= 10
    assert params.angle.min() < -9.9 and params.angle.max() > 9.9
    histogram = torch.histc(params.angle, bins=10, min=-10, max=10) / N
    assert torch.all((histogram - 0.1).abs() < 0.015)


def test_crop_area_and_ratio(params):
    area = params.crop_w * params.crop_h
    assert area.min() >= 0.9 - 1e-6 and area.max() <= 1 + 1e-6
    ratio = params.crop_w / params.crop_h
    assert ratio.min() >= 3 / 4 - 1e-6 and ratio.max() <= 4 / 3 + 1e-6
    assert (params.crop_w <= 1).all() and (params.crop_h <= 1).all()
    assert area.std() > 0.02  # spread over the range, not stuck at the whole-image fallback


def test_crop_stays_inside_the_image(params):
    assert ((params.center_x.abs() + params.crop_w) <= 1 + 1e-6).all()
    assert ((params.center_y.abs() + params.crop_h) <= 1 + 1e-6).all()


def test_flip_mirrors_the_pixels():
    images = torch.rand(3, 1, 48, 48)
    out = _warp(images, _only(3, flip=torch.tensor([True, False, True])))
    assert torch.allclose(out[0], images[0].flip(-1), atol=1e-5)
    assert torch.allclose(out[1], images[1], atol=1e-5)


def test_rotation_turns_the_pixels_by_the_drawn_angle():
    bar = torch.zeros(1, 1, 48, 48)
    bar[..., 23:25, 4:44] = 1  # a horizontal bar through the centre
    for degrees in (-10.0, -4.0, 7.0, 10.0):
        out = _warp(bar, _only(1, angle=torch.tensor([degrees])))[0, 0]
        ys, xs = torch.meshgrid(torch.arange(48.0), torch.arange(48.0), indexing="ij")
        w = out / out.sum()
        mx, my = (w * xs).sum(), (w * ys).sum()
        cov_xy, cov_xx = (w * (xs - mx) * (ys - my)).sum(), (w * (xs - mx) ** 2).sum()
        cov_yy = (w * (ys - my) ** 2).sum()
        measured = 0.5 * math.degrees(math.atan2(2 * cov_xy, cov_xx - cov_yy))
        assert measured == pytest.approx(-degrees, abs=0.5)  # image y points down: CCW on screen


def test_crop_takes_the_drawn_fraction_of_the_image():
    ramp = torch.linspace(0, 1, 48).repeat(48, 1)[None, None]  # value = x position
    out = _warp(ramp, _only(1, crop_w=torch.tensor([0.9]), crop_h=torch.tensor([0.95]), center_x=torch.tensor([0.1])))
    left, right = out[0, 0, 24, 4], out[0, 0, 24, 43]  # inside the border, clear of zero padding
    assert (right - left).item() == pytest.approx(0.9 * 39 / 47, abs=0.005)  # 39 output px span 0.9 * 39 input px
    centre_pixel = (1.1 * 48 - 1) / 2  # normalised x = 0.1 in input pixels
    assert ((left + right) / 2).item() == pytest.approx(centre_pixel / 47, abs=0.005)


def test_augment_batch_is_seeded_and_per_sample():
    images = torch.rand(64, 1, 48, 48)
    a = augment_batch(images, AugmentConfig(), torch.Generator().manual_seed(5))
    b = augment_batch(images, AugmentConfig(), torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and a.shape == images.shape
    same = augment_batch(images[:1].repeat(64, 1, 1, 1), AugmentConfig(), torch.Generator().manual_seed(6))
    assert (same - same[0]).abs().flatten(1).amax(1)[1:].min() > 0.05  # every copy differs
