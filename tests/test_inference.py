import dataclasses

import numpy as np
import pytest
from PIL import Image

from fer_model import FER2013_LABELS, EmotionRecognizer, ImageError, load_image, to_grayscale

from conftest import ASTRONAUT, ASTRONAUT_GRID, CAT


@pytest.fixture(scope="module")
def recognizer(untrained_model):
    """A recognizer over an untrained FERNet: these tests check the plumbing, not accuracy."""
    return EmotionRecognizer.from_pretrained(untrained_model)


def test_prediction_per_face(recognizer):
    results = recognizer.predict(ASTRONAUT)
    assert len(results) == 1 and results[0].face_found
    result = results[0]
    assert list(result.probabilities) == list(FER2013_LABELS)
    assert abs(sum(result.probabilities.values()) - 1) < 1e-5
    assert result.label == max(result.probabilities, key=result.probabilities.get)
    assert result.to_dict()["box"] == list(result.box)
    # the detector's five points lie on her face, eyes above the nose above the mouth
    points, (x, y, w, h) = result.landmarks, result.box
    assert list(points) == ["right_eye", "left_eye", "nose_tip", "mouth_right", "mouth_left"]
    assert all(x <= px <= x + w and y <= py <= y + h for px, py in points.values())
    assert points["right_eye"][0] < points["left_eye"][0]  # her right eye is on the image's left
    assert max(points["right_eye"][1], points["left_eye"][1]) < points["nose_tip"][1] < points["mouth_left"][1]
    assert 0.5 < result.detector_score <= 1 and result.to_dict()["landmarks"] == points


def test_many_faces_get_what_each_face_gets_alone(recognizer):
    results = recognizer.predict(ASTRONAUT_GRID)
    assert len(results) == 4 and all(result.face_found for result in results)
    gray, boxes = recognizer.find_faces(ASTRONAUT_GRID)
    for box, together in zip(boxes, results):  # batched together or one by one: the same answer
        (alone,) = recognizer.predict_boxes(gray, [box])
        assert alone.box == together.box
        assert list(alone.probabilities.values()) == pytest.approx(list(together.probabilities.values()), abs=1e-5)


def test_no_face_classifies_the_whole_image(recognizer):
    results = recognizer.predict(CAT)
    assert len(results) == 1 and not results[0].face_found
    width, height = Image.open(CAT).size
    assert results[0].box == (0, 0, width, height)


def test_fer_crop_works_as_it_is(recognizer, fer_data):
    results = recognizer.predict(fer_data.images[0])
    assert len(results) == 1 and results[0].box == (0, 0, 48, 48)


def test_same_face_same_answer_for_every_input_form(recognizer):
    from_path = recognizer.predict(ASTRONAUT)[0].probabilities
    rgb = np.asarray(Image.open(ASTRONAUT).convert("RGB"))
    for image in (rgb, Image.fromarray(rgb), ASTRONAUT.read_bytes(), str(ASTRONAUT)):
        assert recognizer.predict(image)[0].probabilities == pytest.approx(from_path, abs=1e-6)


def test_temperature_softens_probabilities(recognizer):
    sharp = max(recognizer.predict(ASTRONAUT)[0].probabilities.values())
    soft_recognizer = EmotionRecognizer(recognizer.model, dataclasses.replace(recognizer.processor, temperature=5.0),
                                        recognizer.detector)
    assert max(soft_recognizer.predict(ASTRONAUT)[0].probabilities.values()) < sharp


def test_bad_input_through_the_api(recognizer, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ImageError, match="not a readable image"):
        recognizer.predict(tmp_path / "notes.txt")


def test_many_images_at_once_give_what_predict_gives_each(recognizer):
    """predict_many (evaluate.py's path over wild_faces) is predict, in shared batches, under each prior."""
    images = [ASTRONAUT, ASTRONAUT_GRID, CAT]
    many = recognizer.predict_many(images, ["trained", "balanced"])
    for image, (trained, balanced) in zip(images, many):
        for prior, faces in (("trained", trained), ("balanced", balanced)):
            one = recognizer.with_prior(prior).predict(image)
            assert [f.box for f in faces] == [f.box for f in one] and [f.face_found for f in faces] == [
                f.face_found for f in one]
            for a, b in zip(faces, one):
                assert a.probabilities == pytest.approx(b.probabilities, abs=1e-5)
    assert many[1][0][0].probabilities != pytest.approx(many[1][1][0].probabilities, abs=1e-4)  # the prior matters
