"""app.py, really launched, driven through gradio_client."""

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

import app
from fer_model import DEFAULT_MODEL_NAME, FER2013_LABELS

from launch import app_client
from conftest import ASTRONAUT, ASTRONAUT_GRID, CAT


pytestmark = pytest.mark.slow  # launches app.py


@pytest.fixture(scope="module")
def server(app_server):
    return app_server


@pytest.fixture(scope="module")
def client(server):
    return app_client(server[0])


def test_defaults_serve_the_shipped_model_and_leave_the_address_to_gradio():
    from fer_model.app import parse_args

    args = parse_args([])
    assert args.model == DEFAULT_MODEL_NAME == "fernet-ferplus"
    assert args.host is None and args.port is None and args.share is None  # GRADIO_SERVER_NAME etc. apply


def test_the_module_level_demo_is_the_whole_page_on_the_shipped_model():
    # What `gradio app.py` and a Hugging Face Space look for: `demo`, built on import with the defaults.
    import gradio as gr

    assert isinstance(app.demo, gr.Blocks) and app.demo.fer_demo.model_choices()[0] == DEFAULT_MODEL_NAME
    config = app.demo.get_config_file()
    assert [c["props"]["label"] for c in config["components"] if c["type"] == "tabitem"] == ["Upload", "Webcam", "Video"]
    assert {d["api_name"] for d in config["dependencies"] if d.get("api_name")} >= {"predict", "video"}


def test_gradio_server_port_is_honoured_without_port(untrained_model):
    from launch import running_app

    with running_app(untrained_model, port_option=False) as (url, _):
        assert app_client(url).predict(handle_file(ASTRONAUT), False, api_name="/predict")[4][0]["face_found"]


def test_a_real_face_gives_seven_probabilities(client):
    annotated, bars, top, table, faces, status = client.predict(handle_file(ASTRONAUT), False, api_name="/predict")
    assert len(faces) == 1 and faces[0]["face_found"]
    assert list(faces[0]["probabilities"]) == list(FER2013_LABELS)
    assert sum(faces[0]["probabilities"].values()) == pytest.approx(1, abs=1e-5)
    assert faces[0]["label"] == max(faces[0]["probabilities"], key=faces[0]["probabilities"].get)
    assert len(faces[0]["box"]) == 4 and "1 face found" in status
    assert top["label"] == faces[0]["label"] and len(top["confidences"]) == 7
    assert table["data"][0][1] == faces[0]["label"]


def test_every_face_is_reported(client):
    *_, faces, status = client.predict(handle_file(ASTRONAUT_GRID), True, api_name="/predict")
    assert len(faces) == 4 and "4 faces found" in status


def test_no_face_is_said_in_the_page(client):
    *_, faces, status = client.predict(handle_file(CAT), False, api_name="/predict")
    assert len(faces) == 1 and not faces[0]["face_found"] and "No face found" in status


def test_a_non_image_file_gets_a_clear_error_and_the_server_keeps_serving(client, server, tmp_path):
    bogus = tmp_path / "notes.png"
    bogus.write_text("these are notes, not pixels")
    with pytest.raises(AppError, match="Could not read that file: not a readable image file"):
        client.predict(handle_file(bogus), False, api_name="/predict")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(AppError, match="the file is empty"):
        client.predict(handle_file(empty), False, api_name="/predict")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(ASTRONAUT.read_bytes()[:20_000])
    with pytest.raises(AppError, match="corrupt or truncated"):
        client.predict(handle_file(truncated), False, api_name="/predict")
    assert server[1].poll() is None
    *_, faces, _ = client.predict(handle_file(ASTRONAUT), False, api_name="/predict")
    assert len(faces) == 1


def test_a_huge_image_is_downscaled_and_said(client, tmp_path):
    from PIL import Image

    big = tmp_path / "big.jpg"
    Image.open(ASTRONAUT).convert("RGB").resize((4096, 4096)).save(big, quality=80)
    *_, faces, status = client.predict(handle_file(big), False, api_name="/predict")
    assert "downscaled" in status and len(faces) == 1 and faces[0]["box"][2] > 200


def _save_variants(folder):
    from PIL import Image

    base = Image.open(ASTRONAUT).convert("RGB")
    variants = {
        "rgba.png": base.convert("RGBA"),
        "palette.gif": base.convert("P"),
        "cmyk.jpg": base.convert("CMYK"),
        "gray.png": base.convert("L"),
        "sixteen_bit.png": Image.fromarray(__import__("numpy").asarray(base.convert("L"), dtype="uint16") * 257),
        "tiny.png": Image.new("RGB", (1, 1), (120, 80, 60)),
    }
    paths = {}
    for name, image in variants.items():
        paths[name] = folder / name
        image.save(paths[name])
    rotated = folder / "exif_rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned a quarter; viewers (and we) turn it back upright
    base.transpose(Image.Transpose.ROTATE_90).save(rotated, exif=exif, quality=95)
    paths["exif_rotated.jpg"] = rotated
    return paths


def test_odd_image_modes_through_the_app(client, tmp_path):
    for name, path in _save_variants(tmp_path).items():
        *_, faces, status = client.predict(handle_file(path), False, api_name="/predict")
        assert sum(faces[0]["probabilities"].values()) == pytest.approx(1, abs=1e-5), name
        expected_face = name not in ("tiny.png",)
        assert faces[0]["face_found"] == expected_face, (name, status)
        if name == "exif_rotated.jpg":  # found upright, where the upright photo has it
            x, y, w, h = faces[0]["box"]
            assert 150 < x < 200 and 40 < y < 100


def test_decompression_bomb_is_refused_by_the_app(client, tmp_path):
    from PIL import Image

    bomb = tmp_path / "bomb.png"
    Image.new("1", (9000, 9000)).save(bomb)
    with pytest.raises(AppError, match="9000x9000 pixels is more than"):
        client.predict(handle_file(bomb), False, api_name="/predict")


@pytest.fixture(scope="module")
def limited_server(untrained_model, tmp_path_factory):
    """The app with a 1 MB upload limit and a 4-second cache lifetime, its cache in a folder of its own."""
    from launch import running_app

    cache = tmp_path_factory.mktemp("limited") / "cache"
    with running_app(untrained_model, extra_args=["--max-file-mb", "1", "--cache-max-age", "4"],
                     env={"GRADIO_TEMP_DIR": str(cache)}) as (url, _):
        yield url, cache


def test_an_oversized_upload_is_refused_before_it_is_kept(limited_server, tmp_path):
    import os

    import httpx

    url, cache = limited_server
    response = httpx.post(url + "gradio_api/upload", files={"files": ("big.jpg", os.urandom(2_000_000), "image/jpeg")})
    assert response.status_code == 413 and "maximum allowed size" in response.text
    assert not [p for p in cache.rglob("big.jpg")]
    assert "Uploads up to 1 MB" in httpx.get(url + "config").text  # the page states the limit
    big = tmp_path / "big.jpg"
    big.write_bytes(os.urandom(2_000_000))
    with pytest.raises(ValueError, match="exceeds the maximum file size"):  # the client is told as well
        app_client(url).predict(handle_file(big), False, api_name="/predict")


@pytest.mark.slow
def test_nothing_of_a_visitor_outlives_the_cache_age_or_the_app(untrained_model, tmp_path):
    """An upload, the annotated copy and the bars made of it: gone from Gradio's cache and from the
    app's own folder once older than --cache-max-age, and everything is gone when the app stops."""
    import time

    from PIL import Image

    from launch import running_app

    cache, scratch = tmp_path / "gradio", tmp_path / "tmp"
    scratch.mkdir()
    photo = tmp_path / "mine.jpg"
    Image.open(ASTRONAUT).convert("RGB").save(photo, quality=85)

    examples = {p.name for p in ASTRONAUT.parent.iterdir()}  # the page's own examples are not a visitor's

    def derived():  # every image of the visitor's the app keeps on disk
        return [p for folder in (cache, scratch) for p in folder.rglob("*")
                if p.suffix in (".jpg", ".png", ".webp") and p.name not in examples]

    with running_app(untrained_model, extra_args=["--cache-max-age", "3"],
                     env={"GRADIO_TEMP_DIR": str(cache), "TMPDIR": str(scratch)}) as (url, process):
        *_, faces, _ = app_client(url).predict(handle_file(photo), False, api_name="/predict")
        assert len(faces) == 1 and len(derived()) >= 3  # the upload, the annotated image, the bars
        deadline = time.time() + 30
        while derived() and time.time() < deadline:
            time.sleep(0.5)
        assert not derived(), f"outlived the 3-second cache lifetime: {derived()}"
        *_, faces, _ = app_client(url).predict(handle_file(photo), False, api_name="/predict")
        assert derived()
    assert process.returncode is not None and not derived(), f"left behind when the app stopped: {derived()}"


def test_the_video_tab_returns_the_annotated_clip_timeline_and_csv(client, tmp_path):
    import csv

    import cv2

    from test_batch import write_clip

    clip = write_clip(tmp_path / "clip.mp4", frames=12, fps=12, faces=1)
    annotated, timeline, table, status = client.predict(handle_file(clip), 2, api_name="/video")
    video = annotated["video"] if isinstance(annotated, dict) else annotated
    capture = cv2.VideoCapture(video)
    assert video.endswith(".webm") and int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 6  # every 2nd of 12
    capture.release()
    with open(table, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["frame"]) for row in rows] == [0, 2, 4, 6, 8, 10] and {row["face_id"] for row in rows} == {"1"}
    assert timeline.endswith(".png") and "6 frames analysed" in status


def test_the_video_tab_refuses_what_is_not_a_video(client, tmp_path):
    bogus = tmp_path / "clip.mp4"
    bogus.write_bytes(b"not a video at all" * 100)
    # OpenCV builds differ in where they give up on it (the container, or the first frame): one message either way
    with pytest.raises(AppError, match="Could not read that video: no video stream OpenCV can (decode|open)|"
                                       "Could not read that video: not a video OpenCV can open"):
        client.predict(handle_file(bogus), 1, api_name="/video")
