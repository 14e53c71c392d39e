"""The shipped face detector (YuNet): the file in the package, what it finds, how it fails, and the
crop that maps its boxes to the framing the model learned."""

import csv
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from fer_model import DetectorError, EmotionRecognizer, YuNetFaceDetector, load_image, to_grayscale
from fer_model.vision.detect import YUNET_FILE, YUNET_SHA256, Box, file_sha256
from fer_model.processing.preprocess import crop_face, eye_angle, to_rgb
from fer_model.processing.processor import FaceProcessor

from conftest import ASTRONAUT, ASTRONAUT_GRID, CAT


@pytest.fixture(scope="module")
def detector():
    return YuNetFaceDetector()


def test_the_model_file_ships_in_the_package_with_its_licence_and_checksum():
    assert YUNET_FILE.is_file() and file_sha256(YUNET_FILE) == YUNET_SHA256
    assert "MIT License" in (YUNET_FILE.parent / "LICENSE").read_text()


def test_finds_the_astronaut_face_with_landmarks_and_a_score(detector):
    boxes = detector.detect(to_rgb(load_image(ASTRONAUT)))
    assert len(boxes) == 1
    box = boxes[0]
    assert 150 < box.x < 200 and 40 < box.y < 100 and 70 < box.w < 120  # her face, not the flag or the suit
    assert 0.6 <= box.score <= 1 and len(box.landmarks) == 5
    (rx, ry), (lx, ly) = box.landmarks[:2]
    assert rx < lx and abs(ry - ly) < 10  # her eyes, level, her right one on the image's left


def test_returns_every_face_largest_first_and_none_on_a_cat(detector):
    boxes = detector.detect(to_rgb(load_image(ASTRONAUT_GRID)))
    assert len(boxes) == 4
    assert [b.area for b in boxes] == sorted((b.area for b in boxes), reverse=True)
    assert detector.detect(to_rgb(load_image(CAT))) == []


def test_grayscale_images_are_searched_too(detector):
    assert len(detector.detect(to_grayscale(load_image(ASTRONAUT_GRID)))) == 4


def test_large_images_are_searched_downscaled_and_boxes_mapped_back(detector):
    image = to_rgb(load_image(ASTRONAUT))
    big = np.asarray(Image.fromarray(image).resize((2048, 2048)))  # 4x: her face about 400 px
    (small,), (large,) = detector.detect(image), detector.detect(big)
    assert abs(large.x - 4 * small.x) < 16 and abs(large.w - 4 * small.w) < 24
    assert abs(large.landmarks[2][0] - 4 * small.landmarks[2][0]) < 16


def test_a_tight_crop_is_found_and_clipped_to_the_image(detector):
    image = to_rgb(load_image(ASTRONAUT))
    tight = np.asarray(Image.fromarray(image[90:160, 190:258]).resize((200, 200)))  # inside her face box
    (box,) = detector.detect(tight)
    assert box.w > 150 and box.x >= 0 and box.y >= 0 and box.x + box.w <= 200 and box.y + box.h <= 200


def test_real_fer2013_rows_are_found_and_the_second_look_finds_more(fer_data):
    """48x48 FER-2013 faces fill their frame; padding them for a second look finds more of them."""
    faces = fer_data.split("PublicTest").images[:150]
    plain = sum(bool(YuNetFaceDetector(retry_pad=0).detect(face)) for face in faces)
    second_look = sum(bool(YuNetFaceDetector().detect(face)) for face in faces)
    assert second_look > plain and second_look >= 0.8 * len(faces)


def test_finds_a_face_in_nearly_every_wild_faces_photo(detector):
    from fer_model.data.fer2013 import default_wild_path

    folder = default_wild_path()
    if folder is None:
        pytest.skip("wild_faces not found at ../shared/wild_faces")
    with open(folder / "labels.csv", newline="") as handle:
        images = [to_rgb(load_image(folder / row["file"])) for row, _ in zip(csv.DictReader(handle), range(300))]
    larger = [image for image in images if max(image.shape[:2]) > 96]  # smaller ones are taken as face crops
    found = sum(bool(detector.detect(image)) for image in larger)
    assert len(larger) > 250 and found >= 0.99 * len(larger)


def test_a_missing_or_unreadable_model_file_is_named(tmp_path):
    with pytest.raises(DetectorError, match="missing.onnx is missing"):
        YuNetFaceDetector(tmp_path / "missing.onnx")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model")
    with pytest.raises(DetectorError, match="broken.onnx: not a YuNet ONNX model"):
        YuNetFaceDetector(broken)


def test_a_bad_image_array_is_refused_with_its_shape(detector):
    with pytest.raises(ValueError, match=r"\(4, 4, 2\)"):
        detector.detect(np.zeros((4, 4, 2), dtype=np.uint8))


def test_loading_and_detecting_print_nothing():
    """No OpenCV log line reaches the user (OpenCV 5 warns about DNN targets while loading)."""
    script = ("import numpy as np; from fer_model import YuNetFaceDetector; d = YuNetFaceDetector(); "
              "d.detect(np.zeros((240, 320, 3), np.uint8))")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout == "" and run.stderr == "", run.stderr


def test_the_crop_follows_the_processor_mapping():
    gray = np.arange(200 * 200, dtype=np.int64).reshape(200, 200).astype(np.uint8)
    box = Box(60, 60, 40, 50)  # longer side 50, centre (80, 85)
    plain = crop_face(gray, box.as_tuple(), 1.0)
    shifted = crop_face(gray, box.as_tuple(), 1.2, shift=(0.1, -0.2))  # side 60, centre (85, 75)
    assert plain.shape == (50, 50) and np.array_equal(plain, gray[60:110, 55:105])
    assert shifted.shape == (60, 60) and np.array_equal(shifted, gray[45:105, 55:115])
    processor = FaceProcessor(crop_scale=1.2, crop_shift=[0.1, -0.2])
    expected = np.asarray(Image.fromarray(np.ascontiguousarray(shifted)).resize((48, 48), Image.BILINEAR))
    assert np.array_equal(processor.face_views(gray, box)[0], expected)


def test_aligned_crops_level_the_eyes():
    gray = np.zeros((100, 100), np.uint8)
    gray[49:52, 39:42] = gray[39:42, 59:62] = 255  # two eyes on a line rising to the right
    landmarks = ((40.0, 50.0), (60.0, 40.0), (50.0, 55.0), (42.0, 65.0), (58.0, 65.0))
    assert eye_angle(landmarks) == pytest.approx(26.565, abs=0.01)
    crop = crop_face(gray, (30, 25, 40, 40), 1.0, angle=eye_angle(landmarks))
    rows = np.nonzero(crop > 100)[0]
    assert rows.max() - rows.min() <= 3  # both eyes on the same rows
    box = Box(30, 25, 40, 40, 0.9, landmarks)
    aligned = FaceProcessor(align_eyes=True).face_views(gray, box)[0]
    assert not np.array_equal(aligned, FaceProcessor().face_views(gray, box)[0])


def test_strips_and_panoramas_never_crash_nor_invent_faces_and_a_pasted_face_is_found():
    """A sliver once scaled to 640 px made YuNet return non-finite or invented rows now and then;
    strips are searched in tiles, and a panorama's face at a size YuNet finds."""
    detector = YuNetFaceDetector()
    rng = np.random.default_rng(0)
    face = np.asarray(Image.open(ASTRONAUT).convert("RGB").resize((400, 400)))
    for height, width in ((10, 8000), (100, 8000), (200, 6000), (8000, 100), (1500, 12000)):
        for _ in range(3):  # the failure came and went between calls of one process
            assert detector.detect(np.full((height, width, 3), 255, np.uint8)) == []
            assert detector.detect(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)) == []
    panorama = np.full((1500, 12000, 3), 200, np.uint8)
    panorama[500:900, 6000:6400] = face
    [found] = detector.detect(panorama)
    assert 6000 <= found.x and found.x + found.w <= 6400 and 500 <= found.y and found.y + found.h <= 900
    tall = np.full((12000, 1500, 3), 200, np.uint8)  # the same, standing
    tall[6000:6400, 500:900] = face
    [found] = detector.detect(tall)
    assert 500 <= found.x and found.x + found.w <= 900 and 6000 <= found.y and found.y + found.h <= 6400
    [whole] = EmotionRecognizer.from_pretrained().predict(np.full((10, 8000, 3), 255, np.uint8))
    assert not whole.face_found  # classified whole, without an exception


def test_an_opencv_error_is_named_by_its_first_line():
    from fer_model.vision.detect import _first_line

    assert _first_line(RuntimeError("OpenCV(4.12) onnx_importer.cpp:277: error: cannot parse\n> in function 'x'")) == \
        "OpenCV(4.12) onnx_importer.cpp:277: error: cannot parse"
    assert _first_line(RuntimeError("")) == "RuntimeError"
