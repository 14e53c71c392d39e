"""The declared minimums really work: huggingface_hub loads, saves and runs the shipped model;
Gradio serves the app (the upload API and the Webcam tab's server function); the detector and
recognizer tests pass with the lowest OpenCV declared and with the newest 5.x.

Each floor is read from requirements.txt and installed, with the dependencies it asks for, into a
virtual environment of the test's own layered over the current one (a .pth file puts this
environment's packages after the venv's own, so it works from a venv or a plain interpreter, and
pip leaves this environment untouched). When the package index cannot be reached the test fails
saying so: a floor that was not checked is not a floor that holds.
"""

import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from conftest import ASTRONAUT, ROOT


def layered_venv(folder: Path) -> Path:
    """A new virtual environment that sees this environment's packages behind its own; its python."""
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, timeout=120)
    python = folder / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    outer = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site) / "outer_environment.pth").write_text("\n".join(sorted(outer)) + "\n")
    return python


def install(python: Path, requirement: str) -> None:
    """pip install `requirement` (space-separated requirements, and what they need) into the venv of `python`, or fail saying why."""
    run = subprocess.run([str(python), "-m", "pip", "install", "-q", *requirement.split()], capture_output=True, text=True,
                         timeout=600)
    if run.returncode != 0:
        pytest.fail(f"could not install {requirement} from the package index (is it reachable?): {run.stderr[-500:]}")


def declared_floor(package: str) -> str:
    text = (ROOT / "requirements.txt").read_text()
    match = re.search(rf"^{package}>=([\d.]+)", text, re.MULTILINE)
    assert match, f"requirements.txt declares no floor for {package}"
    return match.group(1)


@pytest.mark.slow
@pytest.mark.floor
def test_the_declared_huggingface_hub_floor_loads_the_shipped_model(tmp_path):
    floor = declared_floor("huggingface_hub")
    python = layered_venv(tmp_path / "venv")
    install(python, f"huggingface_hub=={floor}")
    script = (
        "import huggingface_hub, sys, tempfile\n"
        f"assert huggingface_hub.__version__.startswith({floor!r}), huggingface_hub.__version__\n"
        "from fer_model import DEFAULT_MODEL, EXAMPLES, EmotionRecognizer, FERNet\n"
        "model = FERNet.from_pretrained(DEFAULT_MODEL)\n"
        "with tempfile.TemporaryDirectory() as folder:\n"
        "    model.save_pretrained(folder)\n"
        "    assert FERNet.from_pretrained(folder).config == model.config\n"
        "print(EmotionRecognizer.from_pretrained().predict(EXAMPLES / 'astronaut.png')[0].label)\n"
    )
    run = subprocess.run([str(python), "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "happy"


@pytest.mark.slow
@pytest.mark.floor
def test_the_declared_gradio_floor_serves_the_app(tmp_path):
    from gradio_client import handle_file

    from launch import app_client, running_app
    from fer_model import DEFAULT_MODEL

    floor = declared_floor("gradio")
    python = layered_venv(tmp_path / "venv")
    install(python, f"gradio=={floor}")
    version = subprocess.run([str(python), "-c", "import gradio; print(gradio.__version__)"], capture_output=True,
                             text=True, timeout=120).stdout.strip()
    assert version.startswith(floor), version
    with running_app(DEFAULT_MODEL, python=python) as (url, _):
        *_, faces, status = app_client(url).predict(handle_file(ASTRONAUT), False, api_name="/predict")
        answer = webcam_frame(url, ASTRONAUT)
    assert len(faces) == 1 and faces[0]["label"] == "happy" and "1 face found" in status
    assert answer["frame"].startswith("data:image/jpeg;base64,") and answer["bars"].startswith("data:image/png")


def webcam_frame(url: str, image_path) -> dict:
    """One frame through the Webcam tab's server function, posted as the page's script posts it."""
    import base64
    import json
    import urllib.request

    config = json.load(urllib.request.urlopen(f"{url}config", timeout=30))
    [page] = [c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == "webcam"]
    image = "data:image/png;base64," + base64.b64encode(image_path.read_bytes()).decode()
    body = {"data": {"image": image, "client": "floor-test", "keep": 0.5, "saliency": False},
            "component_id": page, "fn_name": "live_frame", "session_hash": "floortest"}
    request = urllib.request.Request(f"{url}gradio_api/component_server/", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(request, timeout=60))


# OpenCV wheels older than 4.10 were built against NumPy 1 and do not import beside NumPy 2, so the
# floor's venv holds NumPy 1 too, and a pandas and an ml_dtypes built for it.
OPENCV_VERSIONS = {"the declared floor": (lambda: f"opencv-python-headless=={declared_floor('opencv-python-headless')}.*",
                                          "numpy<2 pandas<3 ml_dtypes<0.6"),  # onnx reads ml_dtypes; 0.6 needs NumPy 2
                   "the newest 5.x": (lambda: "opencv-python-headless>=5", None)}


@pytest.mark.slow
@pytest.mark.floor
@pytest.mark.parametrize("which", list(OPENCV_VERSIONS))
def test_the_detector_and_inference_tests_pass_with_opencv(tmp_path, which):
    """The face detector's and the recognizer's tests, run again in a venv holding another OpenCV."""
    requirement, extra = OPENCV_VERSIONS[which]
    python = layered_venv(tmp_path / "venv")
    install(python, f"{requirement()} {extra or ''}")
    version = subprocess.run([str(python), "-c", "import cv2; print(cv2.__version__)"], capture_output=True,
                             text=True, timeout=120)
    assert version.returncode == 0, version.stderr[-1000:]
    expected = declared_floor("opencv-python-headless") if extra else "5."
    assert version.stdout.startswith(expected), version.stdout
    run = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={tmp_path / 'inner'}",
                          "tests/test_detect.py", "tests/test_inference.py"], cwd=ROOT, capture_output=True,
                         text=True, timeout=900, env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-1000:]
    assert " passed" in run.stdout and "skipped" not in run.stdout.splitlines()[-1], run.stdout[-500:]
