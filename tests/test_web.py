"""The page's pipeline against Python's (golden fixtures checked by Node and by Chromium), the
Webcam tab in the browser, its fallback to the server, and the static folder of export-web."""

import functools
import http.server
import os
import shutil
import subprocess
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import ASTRONAUT
from fer_model import SHIPPED_MODELS
from fer_model.shipped import resolve_model
from fer_model.web import DYNAMIC_YUNET_FILE, export_web
from golden import write_golden
from launch import CHROMIUM

ROOT = Path(__file__).resolve().parent.parent
NODE = shutil.which("node")
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def golden(tmp_path_factory) -> Path:
    """Fixtures written by the Python path: the examples, wild_faces photos and FER-2013 faces where
    ../shared has them, and a webcam sequence."""
    folder = tmp_path_factory.mktemp("golden")
    write_golden(folder)
    return folder


@pytest.mark.skipif(NODE is None, reason="Node.js not installed (apt-get install nodejs)")
def test_node_runs_the_page_pipeline_to_pythons_results(golden):
    result = subprocess.run([NODE, "--test", str(ROOT / "page" / "tests")], env={**os.environ, "FER_GOLDEN": str(golden)},
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# pass 5" in result.stdout and "# skipped 0" in result.stdout  # the golden test ran, not skipped


@contextmanager
def serving(folder: Path):
    """A plain static web server (Python's http.server) over `folder` on a free port; yields its URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".mjs": "text/javascript",
                      ".js": "text/javascript", ".wasm": "application/wasm"}

    def log_message(self, *args) -> None:
        pass


@pytest.mark.browser
@needs_chromium
def test_chromium_runs_the_page_pipeline_to_pythons_results(golden, browser, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "page").symlink_to(ROOT / "page")
    (site / "golden").symlink_to(golden)
    (site / "models").mkdir()
    for name in SHIPPED_MODELS:
        (site / "models" / name).symlink_to(resolve_model(name))
    (site / "models" / "yunet.onnx").symlink_to(DYNAMIC_YUNET_FILE)
    with serving(site) as url:
        page = browser.new_page()
        page.goto(f"{url}page/tests/golden.html?fixtures=../../golden/&models=../../models/&photos=40")
        result = page.evaluate("() => window.goldenResult")  # waits for the comparison's promise
        page.close()
    assert result["failures"] == [], result
    assert result["report"]["faces"] >= 40 and result["report"]["webcamFaces"] >= 10


def _requests(page) -> list:
    seen = []
    page.on("request", lambda request: seen.append(request.url))
    return seen


@pytest.mark.browser
@pytest.mark.slow
@needs_chromium
def test_the_exported_folder_runs_the_webcam_and_a_photo_on_a_static_server(browser, tmp_path):
    out = export_web(["fernet-ferplus"], tmp_path / "site")
    with serving(out) as url:
        context = browser.new_context(permissions=["camera"], viewport={"width": 1300, "height": 900})
        page = context.new_page()
        first = _requests(page)
        page.goto(url)
        page.locator("button.start:enabled").wait_for(timeout=60_000)
        assert "Running in your browser" in page.locator(".where").inner_text()
        page.locator("button.start").click()
        page.locator(".live-canvas.drawn").wait_for(timeout=60_000)
        page.wait_for_timeout(1500)
        page.locator("button.start").click()  # stop
        page.locator("input.photo").set_input_files(str(ASTRONAUT))
        page.get_by_text("1 face found.").wait_for(timeout=60_000)
        page.screenshot(path=str(tmp_path / "static.png"))
        assert [u for u in first if ".wasm" in u] and [u for u in first if "model.safetensors" in u]
        # A second visit reads the runtime and the model from the browser's cache.
        again = _requests(page)
        page.reload()
        page.locator("button.start:enabled").wait_for(timeout=60_000)
        assert not [u for u in again if any(name in u for name in (".wasm", ".safetensors", ".onnx"))], again
        context.close()
