import io

import numpy as np
import pytest
import torch
from PIL import Image

from fer_model import EmotionRecognizer, FaceProcessor, FERNet, ImageError, load_image, to_grayscale
from fer_model.processing.preprocess import MAX_IMAGE_PIXELS

from conftest import ASTRONAUT



def _solid(rgb, size=(60, 40)):
    return np.full((size[1], size[0], 3), rgb, dtype=np.uint8)


def test_channel_order_is_rgb_with_luminance_weights():
    red, blue = to_grayscale(_solid((255, 0, 0))), to_grayscale(_solid((0, 0, 255)))
    assert red.shape == (40, 60)
    assert np.all(red == 76) and np.all(blue == 29)  # .299 * 255 and .114 * 255: a BGR mix-up swaps them
    assert np.all(to_grayscale(Image.fromarray(_solid((255, 0, 0)))) == 76)


def test_normalisation_is_the_processors():
    black_white = np.stack([np.zeros((48, 48), np.uint8), np.full((48, 48), 255, np.uint8)])
    faces = FaceProcessor().normalize(black_white)
    assert faces.shape == (2, 1, 48, 48) and faces.dtype == torch.float32
    assert torch.allclose(faces[0], torch.tensor(-1.0)) and torch.allclose(faces[1], torch.tensor(1.0))
    assert torch.allclose(FaceProcessor(mean=[0.25], std=[0.25]).normalize(black_white[1:]), torch.tensor(3.0))


def test_predict_feeds_the_model_what_preprocessor_config_says(fer_data, tmp_path):
    """A FER-2013 face through EmotionRecognizer.predict reaches the network as the numbers of the
    folder's preprocessor_config.json say, computed here by hand (training's batches and
    evaluation go through the same FaceProcessor.normalize)."""
    import json

    torch.manual_seed(0)
    FERNet().save_pretrained(tmp_path)
    FaceProcessor(mean=[0.4], std=[0.2]).save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert "image_size" not in saved  # config.json's: the network is built for it
    recognizer = EmotionRecognizer.from_pretrained(tmp_path)
    faces = fer_data.images[:4]
    by_hand = (faces.astype(np.float32) * saved["rescale_factor"] - saved["image_mean"][0]) / saved["image_std"][0]
    with torch.no_grad():
        expected = torch.softmax(recognizer.model(torch.from_numpy(by_hand).unsqueeze(1)), 1).numpy()
    for face, row in zip(faces, expected):
        (prediction,) = recognizer.predict(face)
        assert not prediction.face_found
        assert np.allclose(list(prediction.probabilities.values()), row, atol=1e-5)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "CMYK", "I;16", "I", "LA", "1", "F"])
def test_image_modes(mode):
    base = Image.open(ASTRONAUT).convert("RGB").resize((96, 96))
    if mode in ("I;16", "I"):
        image = Image.fromarray((np.asarray(base.convert("L"), dtype=np.uint16) * 257)).convert(mode)
    else:
        image = base.convert(mode)
    gray = to_grayscale(image)
    assert gray.shape == (96, 96) and gray.dtype == np.uint8
    if mode == "1":  # dithered black and white
        assert set(np.unique(gray)) <= {0, 255}
        return
    reference = np.asarray(base.convert("L"), dtype=np.int16)
    assert np.abs(gray.astype(np.int16) - reference).mean() < 10  # palette and CMYK quantise a little


def test_sixteen_bit_arrays_are_scaled_not_clipped():
    gray16 = np.full((10, 10), 65535, dtype=np.uint16)
    assert np.all(to_grayscale(gray16) == 255)
    assert np.all(to_grayscale(np.full((10, 10), 32896, dtype=np.uint16)) == 128)


def test_transparent_pixels_lie_on_white():
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)  # black, fully transparent
    assert np.all(to_grayscale(rgba) == 255)


def test_exif_orientation_is_applied():
    upright = Image.open(ASTRONAUT).convert("RGB")
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what a camera writes for orientation 6
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", exif=exif, quality=95)
    loaded = load_image(buffer.getvalue())
    assert loaded.size == upright.size
    difference = np.abs(np.asarray(loaded.convert("L"), dtype=int) - np.asarray(upright.convert("L"), dtype=int))
    assert difference.mean() < 5


def test_bad_files_get_clear_errors(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        load_image(tmp_path / "empty.png")
    with pytest.raises(ImageError, match="not a readable image"):
        load_image(b"%PDF-1.4 this is not an image")
    data = ASTRONAUT.read_bytes()
    with pytest.raises(ImageError, match="corrupt or truncated"):
        load_image(data[: len(data) // 3])
    with pytest.raises(ImageError, match="expected an image array"):
        to_grayscale(np.zeros((4, 4, 2), dtype=np.uint8))
    with pytest.raises(ImageError, match="no pixels"):
        to_grayscale(Image.new("L", (0, 0)))


def test_one_pixel_image():
    inputs = FaceProcessor()(to_grayscale(Image.new("RGB", (1, 1), (10, 200, 30))), [])
    assert inputs.pixel_values.shape == (1, 1, 48, 48) and not inputs.face_found


def test_decompression_bomb_is_refused_before_decoding():
    side = int(MAX_IMAGE_PIXELS ** 0.5) + 100
    buffer = io.BytesIO()
    Image.new("1", (side, side)).save(buffer, "PNG")  # tiny file, huge canvas
    assert len(buffer.getvalue()) < 1_000_000
    with pytest.raises(ImageError, match=f"{side}x{side} pixels is more than"):
        load_image(buffer.getvalue())


@pytest.mark.parametrize("mode", ["I;16", "RGBA", "P", "CMYK", "L"])
def test_display_rgb_matches_the_grayscale_the_model_sees(mode):
    from fer_model.processing.preprocess import to_rgb

    base = Image.open(ASTRONAUT).convert("RGB").resize((64, 64))
    image = Image.fromarray(np.asarray(base.convert("L"), dtype=np.uint16) * 257) if mode == "I;16" else base.convert(mode)
    rgb = to_rgb(image)
    assert rgb.shape == (64, 64, 3) and rgb.dtype == np.uint8
    gray_of_rgb = np.asarray(Image.fromarray(rgb).convert("L"), dtype=int)
    assert np.abs(gray_of_rgb - to_grayscale(image).astype(int)).max() <= 2
