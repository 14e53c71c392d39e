"""FaceProcessor: the inference settings beside the weights (crop, views, temperature, class
prior), their file, and the prior through the one inference path."""

import json
import shutil

import numpy as np
import pytest
import torch

from fer_model import DEFAULT_MODEL, EmotionRecognizer, FERNet, ModelLoadError
from fer_model.pipelines.inference import load_pretrained, predict_crops, predict_logits
from fer_model.processing.processor import FaceProcessor, ProcessorError, parse_prior, update_processor
from fer_model.training.targets import training_prior

from conftest import ASTRONAUT

TRAINED = [0.3, 0.02, 0.08, 0.25, 0.15, 0.1, 0.1]
EVERYDAY = [0.05, 0.01, 0.02, 0.3, 0.12, 0.1, 0.4]


@pytest.fixture()
def model_folder(tmp_path):
    torch.manual_seed(0)
    FERNet().save_pretrained(tmp_path)
    FaceProcessor(crop_scale=1.1, tta_scales=[1.0, 0.9], tta_flip=True, temperature=1.4, prior="balanced",
                  trained_prior=TRAINED, everyday_prior=EVERYDAY).save_pretrained(tmp_path)
    return tmp_path


def test_processor_round_trips_beside_the_weights(model_folder):
    saved = json.loads((model_folder / "preprocessor_config.json").read_text())
    assert saved["crop_scale"] == 1.1 and saved["prior"] == "balanced" and saved["temperature"] == 1.4
    model, processor = load_pretrained(model_folder)
    assert processor == FaceProcessor(crop_scale=1.1, tta_scales=[1.0, 0.9], tta_flip=True, temperature=1.4,
                                      prior="balanced", trained_prior=TRAINED, everyday_prior=EVERYDAY)
    assert processor.views_per_face == 4 and not {"temperature", "crop_scale"} & set(model.config)


def test_a_processor_file_without_the_image_processor_keys_is_refused(model_folder):
    saved = json.loads((model_folder / "preprocessor_config.json").read_text())
    bare = {key: value for key, value in saved.items() if key not in ("image_processor_type", "image_mean", "image_std")}
    (model_folder / "preprocessor_config.json").write_text(json.dumps(bare))
    with pytest.raises(ModelLoadError, match="not an image-processor file .*image_processor_type, image_mean"):
        load_pretrained(model_folder)
    (model_folder / "preprocessor_config.json").unlink()
    with pytest.raises(ModelLoadError, match="no preprocessor_config.json"):
        load_pretrained(model_folder)


def test_the_input_size_has_one_record_and_a_disagreeing_copy_is_refused(model_folder):
    saved = json.loads((model_folder / "preprocessor_config.json").read_text())
    assert "image_size" not in saved and FaceProcessor.from_pretrained(model_folder).image_size == 48
    (model_folder / "preprocessor_config.json").write_text(json.dumps({**saved, "image_size": 48}))
    assert load_pretrained(model_folder)[1].image_size == 48  # an older file's agreeing copy is fine
    (model_folder / "preprocessor_config.json").write_text(json.dumps({**saved, "image_size": 64}))
    with pytest.raises(ModelLoadError, match="image_size disagrees with config.json, which builds the network for 48"):
        load_pretrained(model_folder)


def test_broken_processor_files_are_named(model_folder):
    saved = json.loads((model_folder / "preprocessor_config.json").read_text())
    (model_folder / "preprocessor_config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="preprocessor_config.json: not a readable processor config"):
        load_pretrained(model_folder)
    (model_folder / "preprocessor_config.json").write_text(json.dumps({**saved, "crop_pct": 0.9}))
    with pytest.raises(ModelLoadError, match="unknown processor entries \\['crop_pct'\\]"):
        load_pretrained(model_folder)
    (model_folder / "preprocessor_config.json").write_text(json.dumps({**saved, "temperature": -1}))
    with pytest.raises(ModelLoadError, match="temperature must be positive"):
        load_pretrained(model_folder)


def test_priors_are_a_logit_adjustment_of_the_calibrated_probabilities(model_folder, fer_data):
    model, processor = load_pretrained(model_folder)
    faces = fer_data.images[:32]
    logits = predict_logits(model, processor.normalize(faces))
    trained = processor.single_view().with_prior("trained").probabilities(logits)
    assert trained == pytest.approx(torch.softmax(logits / 1.4, 1).numpy(), abs=1e-6)
    balanced = processor.single_view().with_prior("balanced").probabilities(logits)
    by_bayes = trained / np.array(TRAINED)  # posterior * new prior / trained prior, renormalised
    assert balanced == pytest.approx(by_bayes / by_bayes.sum(1, keepdims=True), abs=1e-5)
    everyday = processor.single_view().with_prior("everyday").probabilities(logits)
    by_bayes = trained * np.array(EVERYDAY) / np.array(TRAINED)
    assert everyday == pytest.approx(by_bayes / by_bayes.sum(1, keepdims=True), abs=1e-5)
    # a rare class under one prior is predicted less often than under a prior that favours it
    neutral = 6
    assert (everyday.argmax(1) == neutral).sum() >= (balanced.argmax(1) == neutral).sum()


def test_the_recognizer_takes_a_prior_and_keeps_the_crop_and_views(model_folder):
    default = EmotionRecognizer.from_pretrained(model_folder)
    everyday = EmotionRecognizer.from_pretrained(model_folder, prior="everyday")
    assert default.processor.prior == "balanced" and everyday.processor.prior == "everyday"
    assert everyday.processor.crop_scale == 1.1 and everyday.processor.views_per_face == 4
    a, b = default.predict(ASTRONAUT)[0], everyday.predict(ASTRONAUT)[0]
    assert a.box == b.box and a.probabilities != pytest.approx(b.probabilities, abs=1e-3)
    assert default.with_prior("everyday").predict(ASTRONAUT)[0].probabilities == pytest.approx(b.probabilities)
    custom = default.with_prior([1, 1, 1, 1, 1, 1, 5])
    assert custom.predict(ASTRONAUT)[0].probabilities["neutral"] > a.probabilities["neutral"]


def test_bad_priors_are_refused_with_a_clear_message(model_folder, tmp_path):
    with pytest.raises(ProcessorError, match="unknown prior 'posed'"):
        EmotionRecognizer.from_pretrained(model_folder, prior="posed")
    with pytest.raises(ProcessorError, match="3 entries but the model has 7 labels"):
        EmotionRecognizer.from_pretrained(model_folder, prior=[0.2, 0.3, 0.5])
    with pytest.raises(ProcessorError, match="positive probabilities"):
        FaceProcessor(prior=[0, 1, 1, 1, 1, 1, 1])
    with pytest.raises(ProcessorError, match="no everyday_prior"):
        FaceProcessor(prior="everyday")
    assert parse_prior("balanced") == "balanced" and parse_prior("1,1,2") == pytest.approx([0.25, 0.25, 0.5])


def test_training_prior_counts_targets_weights_and_smoothing():
    labels = np.array([0, 0, 0, 1])
    assert training_prior(labels, 2) == pytest.approx([0.75, 0.25])
    assert training_prior(labels, 2, np.array([1 / 3, 1.0])) == pytest.approx([0.5, 0.5])
    assert training_prior(labels, 2, label_smoothing=0.2) == pytest.approx([0.7, 0.3])
    soft = np.array([[0.5, 0.5], [1.0, 0.0]])
    assert training_prior(soft, 2) == pytest.approx([0.75, 0.25])


def test_predict_crops_goes_through_the_processor(model_folder, fer_data):
    model, processor = load_pretrained(model_folder)
    faces = fer_data.images[:5]
    alone = predict_crops(model, processor.single_view(), faces)
    views = predict_crops(model, processor, faces)
    assert alone.shape == views.shape == (5, 7) and not np.allclose(alone, views)
    assert np.allclose(views.sum(1), 1, atol=1e-5)


def test_the_configure_command_sets_views_and_prior(model_folder):
    from fer_model.__main__ import main

    assert main(["configure", str(model_folder), "--tta-scales", "1.0,1.2", "--no-tta-flip", "--prior", "everyday"]) == 0
    processor = FaceProcessor.from_pretrained(model_folder)
    assert (processor.tta_scales, processor.tta_flip, processor.prior, processor.crop_scale) == (
        [1.0, 1.2], False, "everyday", 1.1)  # what was not named stays
