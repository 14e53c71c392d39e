"""Shared fixtures: real FER-2013 rows from the shared CSV (skipped with a reason where it is
absent) and real photos from fer_model/examples/."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from fer_model import default_data_path, load_fer2013

@pytest.hookimpl(trylast=True)  # after pytest's tmp_path plugin has set itself up
def pytest_configure(config):
    """Temporary files of this process and of the apps it launches (Gradio's cache, gradio_client's
    downloads, anything made with tempfile) go under pytest's own temporary folder, so a test run
    leaves nothing behind elsewhere."""
    import os
    import tempfile

    scratch = config._tmp_path_factory.mktemp("scratch")
    os.environ["TMPDIR"] = tempfile.tempdir = str(scratch)
    os.environ["GRADIO_TEMP_DIR"] = str(scratch / "gradio")


ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "fer_model" / "examples"
ASTRONAUT = EXAMPLES / "astronaut.png"  # one face
ASTRONAUT_GRID = EXAMPLES / "astronaut_grid.jpg"  # four faces
CAT = EXAMPLES / "chelsea_cat.jpg"  # no human face


@pytest.fixture(scope="session")
def fer_csv() -> Path:
    path = default_data_path()
    if path is None:
        pytest.skip("FER-2013 CSV not found at ../shared/fer2013/fer2013.csv.gz (tests that need real rows skip)")
    return path


@pytest.fixture(scope="session")
def fer_cache(tmp_path_factory) -> Path:
    """The folder where `fer_data` left its .npz cache of the parsed CSV."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def fer_data(fer_csv, fer_cache):
    return load_fer2013(fer_csv, cache_dir=fer_cache)


@pytest.fixture(scope="session")
def ferplus_csv() -> Path:
    from fer_model.data.ferplus import default_ferplus_path

    path = default_ferplus_path()
    if path is None:
        pytest.skip("FER+ votes not found at ../shared/ferplus/fer2013new.csv (tests that need them skip)")
    return path


@pytest.fixture(scope="session")
def ferplus_data(fer_data, ferplus_csv):
    """All of FER-2013 with the FER+ crowd votes attached."""
    from fer_model.data.ferplus import load_ferplus

    return load_ferplus(ferplus_csv, fer_data)


@pytest.fixture(scope="session")
def fer_csv_head(fer_csv) -> list[str]:
    """The header and first 400 lines of the real CSV, as text."""
    with gzip.open(fer_csv, "rt") as handle:
        return [next(handle) for _ in range(401)]


@pytest.fixture()
def small_csv(tmp_path, fer_csv, fer_data) -> Path:
    """A real 2,100-row CSV: 700 rows of each split, from the shared FER-2013."""

    rows = ["emotion,pixels,Usage\n"]
    for split in ("Training", "PublicTest", "PrivateTest"):
        part = fer_data.split(split, 700)
        rows += [f"{label},{' '.join(map(str, image.ravel()))},{split}\n" for image, label in zip(part.images, part.labels)]
    path = tmp_path / "small.csv"
    path.write_text("".join(rows))
    return path


@pytest.fixture()
def small_votes(small_csv, fer_data, ferplus_csv) -> Path:
    """The FER+ votes of small_csv's rows, in its order (row-aligned as fer2013new.csv is with the full CSV)."""
    import numpy as np

    votes = ferplus_csv.read_text().splitlines(keepends=True)
    rows = [votes[0]]
    for split in ("Training", "PublicTest", "PrivateTest"):
        rows += [votes[i + 1] for i in np.flatnonzero(fer_data.splits == split)[:700]]
    path = small_csv.with_name("small_votes.csv")
    path.write_text("".join(rows))
    return path


@pytest.fixture(scope="session")
def untrained_model(tmp_path_factory) -> Path:
    """A saved FERNet with seeded random weights, for the tests of plumbing rather than accuracy
    (read only: a test that changes a model saves its own)."""
    import torch

    from fer_model import FERNet

    from fer_model.processing.processor import FaceProcessor

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("untrained") / "model"
    FERNet().save_pretrained(folder)
    # class distributions of its own, so that the priors change its answers as they would a trained model's
    FaceProcessor(trained_prior=[0.14, 0.02, 0.14, 0.25, 0.17, 0.11, 0.17],
                  everyday_prior=[0.09, 0.01, 0.03, 0.26, 0.14, 0.12, 0.35]).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def app_server(untrained_model):
    """`python app.py` really running on a free localhost port, over the untrained FERNet:
    the app tests check the plumbing, not accuracy. Yields (url, process)."""
    from launch import running_app

    with running_app(untrained_model) as served:
        yield served


def write_face_video(path: Path, frames: int = 30) -> None:
    """A 640x480 Y4M clip of the astronaut's face drifting sideways, for Chromium's fake camera."""
    import cv2
    import numpy as np
    from PIL import Image

    face = np.asarray(Image.open(ASTRONAUT).convert("RGB").crop((120, 10, 340, 250)).resize((220, 240)))
    with open(path, "wb") as out:
        out.write(b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n")
        for k in range(frames):
            frame = np.full((480, 640, 3), 200, dtype=np.uint8)
            x = 180 + int(20 * np.sin(k / 5))
            frame[120:360, x:x + 220] = face
            out.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium whose fake camera plays a face drifting sideways (write_face_video)."""
    from playwright.sync_api import sync_playwright

    from launch import camera_browser

    video = tmp_path_factory.mktemp("camera") / "face.y4m"
    write_face_video(video)
    with sync_playwright() as playwright:
        browser = camera_browser(playwright, video)
        yield browser
        browser.close()
