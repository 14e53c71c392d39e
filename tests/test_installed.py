"""A non-editable install (`pip install ".[app]"` in a fresh venv, run outside the checkout) has the
page inside the package: the demo serves its in-browser webcam files, and `fer-model export-web`
and `fer-model export-space` work with no checkout in sight."""

import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT
from launch import running_app

pytestmark = [pytest.mark.slow, pytest.mark.floor]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """(the venv's python, a working folder outside any checkout) after `pip install SOURCE[app]` of a
    copy of this checkout's tracked files (the build writes into its source folder)."""
    folder = tmp_path_factory.mktemp("installed")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        if (ROOT / name).is_file():
            (folder / "source" / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, folder / "source" / name)
    subprocess.run([sys.executable, "-m", "venv", str(folder / "venv")], check=True, timeout=120)
    python = folder / "venv" / "bin" / "python"
    run = subprocess.run([str(python), "-m", "pip", "install", "-q", f"{folder / 'source'}[app]"],
                         capture_output=True, text=True, timeout=900)
    if run.returncode != 0:
        pytest.fail(f"could not install fer_model[app] from the package index (is it reachable?): {run.stderr[-800:]}")
    shutil.rmtree(folder / "source")  # nothing of the checkout is left to lean on
    (folder / "work").mkdir()
    return python, folder / "work"


def _fer_model(python: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), "-m", "fer_model", *args], capture_output=True, text=True, timeout=600, cwd=cwd)


def test_the_page_is_installed_inside_the_package(installed):
    python, work = installed
    done = subprocess.run([str(python), "-c", "import fer_model.web as w; print(w.PAGE)"], capture_output=True,
                          text=True, cwd=work, timeout=120)
    page = Path(done.stdout.strip())
    assert "site-packages" in str(page), done.stderr
    for name in ("webcam.html", "webcam.js", "standalone.html", "fer/worker.js", "fer/processor.js",
                 "vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm"):
        assert (page / name).is_file(), name


def test_export_web_and_export_space_work_from_an_install(installed):
    python, work = installed
    done = _fer_model(python, work, "export-web", "fernet-ferplus", "--out", "site")
    assert done.returncode == 0, done.stderr
    assert (work / "site" / "index.html").is_file() and (work / "site" / "models" / "fernet-ferplus" / "model.onnx").is_file()
    done = _fer_model(python, work, "export-space", "--out", "space")
    assert done.returncode == 0, done.stderr
    assert (work / "space" / "app.py").is_file() and (work / "space" / "fer_model" / "page" / "fer" / "worker.js").is_file()
    requirements = (work / "space" / "requirements.txt").read_text()
    assert "gradio" in requirements and "torch" not in requirements


def test_the_demo_serves_the_in_browser_webcam_from_an_install(installed):
    python, work = installed
    with running_app("fernet-ferplus", python=python, app=["-m", "fer_model", "demo"], cwd=work) as (url, _):
        config = urllib.request.urlopen(f"{url}config", timeout=30).read().decode()
        worker = re.search(r"gradio_api/file=[^\"'\\\\?]+/fer/worker\.js", config)
        assert worker, "the Webcam tab names no in-browser worker"
        assert "site-packages" in worker.group(0)
        with urllib.request.urlopen(url + worker.group(0), timeout=30) as response:
            assert response.status == 200 and b"postMessage" in response.read()
