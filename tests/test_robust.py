"""Robustness: framing and photometric augmentation, the square crop with edge fill, test-time
views from the config, the detector's second look at tightly cropped faces, and the perturbation
benchmark."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from fer_model import EmotionRecognizer, FERNet, load_image, to_grayscale
from fer_model.training.augment import AugmentConfig, augment_batch, gaussian_blur, round_trip, sample_params
from fer_model.pipelines.inference import predict_crops
from fer_model.processing.processor import FaceProcessor, ProcessorError, update_processor
from fer_model.processing.preprocess import crop_face, face_views
from fer_model.evaluation.robustness import PERTURBATIONS, perturb, robustness_table

from conftest import ASTRONAUT

FRAMING = AugmentConfig(zoom=(0.8, 1.25), shift=0.1, fill="border")


def test_framing_draws_zoom_both_ways_and_shifts_within_range():
    params = sample_params(20_000, FRAMING, torch.Generator().manual_seed(0))
    side = (params.crop_w * params.crop_h).sqrt()
    assert side.min() >= 0.8 - 1e-4 and side.max() <= 1.25 + 1e-4
    assert (side < 0.85).any() and (side > 1.2).any()  # zooms in and out
    assert abs(torch.log(side).mean().item()) < 0.01  # log-uniform around 1: as often out as in
    assert params.center_x.abs().max() <= 0.2 + 1e-6 and params.center_x.abs().max() > 0.19  # 10% of the side


def test_border_fill_leaves_no_black_pixels_when_zooming_out():
    images = torch.full((32, 1, 48, 48), 0.6)
    zoomed_out = AugmentConfig(zoom=(1.25, 1.25), flip_p=0, degrees=15)
    black = augment_batch(images, zoomed_out, torch.Generator().manual_seed(1))
    filled = augment_batch(images, AugmentConfig(**{**zoomed_out.__dict__, "fill": "border"}),
                           torch.Generator().manual_seed(1))
    assert black.min() < 0.01 and torch.allclose(filled, images, atol=1e-5)
    with pytest.raises(ValueError, match="fill"):
        augment_batch(images, AugmentConfig(fill="mirror"), torch.Generator())


def test_photometric_jitter_changes_brightness_contrast_and_stays_in_range():
    images = torch.rand(512, 1, 48, 48) * 0.5 + 0.25
    config = AugmentConfig(flip_p=0, degrees=0, scale=(1, 1), ratio=(1, 1), brightness=0.2, contrast=0.4, gamma=0.4)
    out = augment_batch(images, config, torch.Generator().manual_seed(2))
    assert out.min() >= 0 and out.max() <= 1
    mean_shift = (out.mean((1, 2, 3)) - images.mean((1, 2, 3))).abs()
    spread = out.std((1, 2, 3)) / images.std((1, 2, 3))
    assert mean_shift.max() > 0.15 and mean_shift.min() < 0.02
    assert spread.max() > 1.2 and spread.min() < 0.8
    same = augment_batch(images, config, torch.Generator().manual_seed(2))
    assert torch.equal(out, same)


def test_blur_and_downscaling_remove_fine_detail():
    checker = ((torch.arange(48)[:, None] + torch.arange(48)[None]) % 2).float().expand(2, 1, 48, 48).contiguous()
    blurred = gaussian_blur(checker, torch.tensor([0.5, 1.5]))
    assert blurred.std((1, 2, 3))[1] < blurred.std((1, 2, 3))[0] < checker.std() * 0.9
    assert blurred.mean().item() == pytest.approx(0.5, abs=0.01)
    smooth = torch.linspace(0, 1, 48).repeat(48, 1)[None, None]
    assert torch.allclose(round_trip(smooth, 24), smooth, atol=0.03)  # a smooth ramp survives
    assert round_trip(checker[:1], 24).std() < 0.05  # a one-pixel pattern does not


def test_augmentation_with_every_option_on_real_faces(fer_data):
    faces = torch.from_numpy(fer_data.images[:64]).unsqueeze(1).float() / 255
    config = AugmentConfig(zoom=(0.8, 1.25), shift=0.08, fill="border", brightness=0.15, contrast=0.3, gamma=0.3,
                           blur_p=0.5, downscale_p=0.5, degrees=15)
    out = augment_batch(faces, config, torch.Generator().manual_seed(3))
    assert out.shape == faces.shape and torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert (out - faces).abs().mean() > 0.05


def test_crop_face_is_square_centred_and_fills_beyond_the_image_with_edge_pixels():
    gray = np.tile(np.arange(100, dtype=np.uint8), (60, 1))  # value = x
    crop = crop_face(gray, (40, 10, 20, 30), scale=1.0)
    assert crop.shape == (30, 30) and crop[0, 0] == 35 and crop[0, -1] == 64  # centred on x = 50
    wide = crop_face(gray, (0, 0, 20, 20), scale=2.0)
    assert wide.shape == (40, 40) and wide[0, 0] == 0 and wide[0, 15] == 5  # left of the image: edge repeated
    with pytest.raises(ValueError, match="outside"):
        crop_face(gray, (500, 500, 10, 10))


def test_face_views_follow_the_config_order():
    gray = np.random.default_rng(0).integers(0, 256, (120, 120), dtype=np.uint8)
    views = face_views(gray, (30, 30, 60, 60), size=48, crop_scale=1.0, scales=[1.0, 1.2], flip=True)
    assert views.shape == (4, 48, 48) and views.dtype == np.uint8
    assert np.array_equal(views[1], views[0][:, ::-1]) and np.array_equal(views[3], views[2][:, ::-1])
    assert not np.array_equal(views[0], views[2])


@pytest.fixture()
def saved_model(tmp_path):
    torch.manual_seed(0)
    FERNet().save_pretrained(tmp_path)
    return tmp_path


def test_views_travel_in_the_processor_and_the_recognizer_averages_them(saved_model):
    processor = update_processor(saved_model, crop_scale=1.1, tta_scales=[1.0, 0.9, 1.1], tta_flip=True)
    assert json.loads((saved_model / "preprocessor_config.json").read_text()) == processor.to_dict()
    recognizer = EmotionRecognizer.from_pretrained(saved_model)
    assert recognizer.processor.crop_scale == 1.1 and recognizer.processor.views_per_face == 6
    face = recognizer.predict(ASTRONAUT)[0]
    assert sum(face.probabilities.values()) == pytest.approx(1, abs=1e-5)
    # the average of the six views' probabilities, computed by hand from the crops of preprocess.face_views
    gray = to_grayscale(load_image(ASTRONAUT))
    views = face_views(gray, face.box, size=48, crop_scale=1.1, scales=[1.0, 0.9, 1.1], flip=True)
    by_hand = predict_crops(FERNet.from_pretrained(saved_model), FaceProcessor(), list(views)).mean(0)
    assert list(face.probabilities.values()) == pytest.approx(by_hand.tolist(), abs=1e-5)


def test_update_processor_refuses_unknown_entries(saved_model):
    with pytest.raises(ProcessorError, match="crop_pct"):
        update_processor(saved_model, crop_pct=0.9)
    with pytest.raises(ProcessorError, match="positive"):
        FaceProcessor(crop_scale=0)


def test_perturbations_are_deterministic_and_change_the_faces(fer_data):
    faces = fer_data.images[:16]
    for name in PERTURBATIONS:
        once, again = perturb(faces, name), perturb(faces, name)
        assert once.shape == faces.shape and once.dtype == np.uint8 and np.array_equal(once, again), name
        changed = np.abs(once.astype(int) - faces).mean()
        assert (changed == 0) == (name == "clean"), name


def test_robustness_table_reports_every_perturbation_and_their_mean(fer_data):
    torch.manual_seed(0)
    model = FERNet().eval()
    faces, labels = fer_data.images[:64], fer_data.labels[:64]
    table = robustness_table(model, FaceProcessor(), faces, labels, names=["clean", "blur sigma 1 px", "JPEG quality 30"])
    assert list(table) == ["clean", "blur sigma 1 px", "JPEG quality 30", "mean of perturbed"]
    assert table["mean of perturbed"]["accuracy"] == pytest.approx(
        (table["blur sigma 1 px"]["accuracy"] + table["JPEG quality 30"]["accuracy"]) / 2)
    assert all(0 <= row["accuracy"] <= 1 and not math.isnan(row["macro_f1"]) for row in table.values())
