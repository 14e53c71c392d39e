"""The declared minimums really work: huggingface_hub loads, saves and runs the shipped model;
Gradio serves the app (the upload API and the Webcam tab's server function).

Each floor is read from requirements.txt and installed apart from the current environment: the
huggingface_hub floor alone into a folder put first on a subprocess's path, the Gradio floor with
the dependency versions it pins into a virtual environment layered over this one.
"""

import re
import subprocess
import sys

import pytest

from conftest import ASTRONAUT, ROOT


def declared_floor(package: str) -> str:
    text = (ROOT / "requirements.txt").read_text()
    match = re.search(rf"^{package}>=([\d.]+)", text, re.MULTILINE)
    assert match, f"requirements.txt declares no floor for {package}"
    return match.group(1)


@pytest.mark.slow
def test_the_declared_huggingface_hub_floor_loads_the_shipped_model(tmp_path):
    floor = declared_floor("huggingface_hub")
    install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(tmp_path),
                              f"huggingface_hub=={floor}"], capture_output=True, text=True, timeout=300)
    if install.returncode != 0:
        pytest.skip(f"could not install huggingface_hub=={floor} from the package index: {install.stderr[-300:]}")
    script = (
        "import huggingface_hub, tempfile\n"
        f"assert huggingface_hub.__version__.startswith({floor!r}), huggingface_hub.__version__\n"
        "from fer_model import DEFAULT_MODEL, EmotionRecognizer, FERNet\n"
        "model = FERNet.from_pretrained(DEFAULT_MODEL)\n"
        "folder = tempfile.mkdtemp()\n"
        "model.save_pretrained(folder)\n"
        "assert FERNet.from_pretrained(folder).config == model.config\n"
        "print(EmotionRecognizer.from_pretrained().predict('examples/astronaut.png')[0].label)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": f"{tmp_path}:{ROOT}", "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "happy"


@pytest.mark.slow
def test_the_declared_gradio_floor_serves_the_app(tmp_path):
    from gradio_client import handle_file

    from app_server import app_client, running_app
    from fer_model import DEFAULT_MODEL

    floor = declared_floor("gradio")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", f"gradio=={floor}"], capture_output=True,
                             text=True, timeout=600)
    if install.returncode != 0:
        pytest.skip(f"could not install gradio=={floor} from the package index: {install.stderr[-300:]}")
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
