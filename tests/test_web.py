"""The page's pipeline against Python's (golden fixtures checked by Node and by Chromium), the
Webcam tab in the browser, its fallback to the server, and the static folder of export-web."""

import functools
import http.server
import json
import os
import shutil
import subprocess
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import ASTRONAUT
from fer_model import SHIPPED_MODELS
from fer_model.folder import resolve_model
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
    result = subprocess.run([NODE, "--test", str(ROOT / "tests" / "page")], env={**os.environ, "FER_GOLDEN": str(golden)},
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# pass 6" in result.stdout and "# skipped 0" in result.stdout  # the golden test ran, not skipped


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
    (site / "fer_model").mkdir()  # the checkout's layout: the page in the package, its tests under tests/
    (site / "fer_model" / "page").symlink_to(ROOT / "fer_model" / "page")
    (site / "tests").mkdir()
    (site / "tests" / "page").symlink_to(ROOT / "tests" / "page")
    (site / "golden").symlink_to(golden)
    (site / "models").mkdir()
    for name, model in json.loads((golden / "golden.json").read_text())["models"].items():
        (site / "models" / name).symlink_to(model["folder"])
    (site / "models" / "yunet.onnx").symlink_to(DYNAMIC_YUNET_FILE)
    with serving(site) as url:
        page = browser.new_page()
        page.goto(f"{url}tests/page/golden.html?fixtures=../../golden/&models=../../models/&photos=40")
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


@pytest.mark.browser
@needs_chromium
def test_a_worker_that_dies_rejects_what_waits_and_says_why(browser, tmp_path):
    """A real Worker that throws after it started: every request waiting on it is refused (none
    hangs), later ones at once, and the page is told why once (its server path takes over)."""
    out = export_web(["fernet-ferplus"], tmp_path / "site")
    with serving(out) as url:
        page = browser.new_page()
        page.goto(url)
        result = page.evaluate("""async () => {
            const {Engine} = await import('./fer/client.js');
            const dying = new Blob(["onmessage = () => setTimeout(() => { throw new Error('out of memory'); })"],
                                   {type: 'text/javascript'});
            const engine = new Engine(new Worker(URL.createObjectURL(dying)), []);
            const told = [];
            engine.onfailure = reason => told.push(reason);
            const waiting = await engine.ask({type: 'photo'}).then(() => 'answered', error => error.message);
            const later = await engine.ask({type: 'photo'}).then(() => 'answered', error => error.message);
            return {waiting, later, told};
        }""")
        page.close()
    assert "the in-browser worker stopped" in result["waiting"] and "out of memory" in result["waiting"]
    assert result["later"] == result["waiting"] and result["told"] == [result["waiting"]]


@pytest.mark.browser
@pytest.mark.slow
@needs_chromium
def test_the_cache_keeps_only_what_the_page_names(browser, tmp_path):
    out = export_web(["fernet-ferplus"], tmp_path / "site")
    with serving(out) as url:
        context = browser.new_context(permissions=["camera"])
        page = context.new_page()
        page.goto(url)
        page.locator("button.start:enabled").wait_for(timeout=60_000)
        stale = f"{url}models/fernet-ferplus/model.safetensors?v=an-earlier-release"
        page.evaluate("async stale => (await caches.open('fer_model-assets-v1')).put(stale, new Response('old'))", stale)
        page.reload()
        page.locator("button.start:enabled").wait_for(timeout=60_000)
        kept = page.evaluate("async () => (await (await caches.open('fer_model-assets-v1')).keys()).map(r => r.url)")
        context.close()
    assert stale not in kept
    assert [u for u in kept if "model.safetensors?v=" in u] and [u for u in kept if ".wasm?v=" in u]


def test_the_page_receives_the_processor_python_resolved(tmp_path):
    """A folder written before a processor key existed reads the same in the page as in Python:
    the page gets FaceProcessor.to_dict() of the loaded folder, never the raw file."""
    import json

    from fer_model.processing.processor import FaceProcessor
    from fer_model.web import browser_assets, runs_in_browser

    folder = tmp_path / "older"
    shutil.copytree(resolve_model("fernet-ferplus"), folder)
    raw = json.loads((folder / "preprocessor_config.json").read_text())
    for key in ("crop_shift", "align_eyes"):  # keys later releases added, with their defaults
        del raw[key]
    (folder / "preprocessor_config.json").write_text(json.dumps(raw))
    assets = browser_assets({"older": folder}, str)["assets"]["models"]["older"]
    assert assets["processor"] == FaceProcessor.from_pretrained(folder).to_dict()
    assert assets["processor"]["crop_shift"] == [0.0, 0.0] and assets["processor"]["temperature"] == raw["temperature"]
    assert runs_in_browser(folder)


def test_a_folder_with_eye_levelling_runs_on_the_server_path(tmp_path):
    from fer_model.errors import ModelLoadError
    from fer_model.processing.processor import FaceProcessor
    from fer_model.web import browser_assets, runs_in_browser

    folder = tmp_path / "levelled"
    shutil.copytree(resolve_model("fernet-ferplus"), folder)
    processor = FaceProcessor.from_pretrained(folder)
    processor.align_eyes = True
    processor.save_pretrained(folder)
    assert not runs_in_browser(folder)
    assert "levelled" not in browser_assets({"levelled": folder}, str)["assets"]["models"]
    with pytest.raises(ModelLoadError, match="align_eyes .eye levelling., which the page cannot do"):
        export_web([str(folder)], tmp_path / "site")


def test_the_space_requirements_are_read_without_tomllib(monkeypatch):
    """Python 3.10, which pyproject.toml allows, has no tomllib: tomli (a dependency there) reads it."""
    import sys

    from fer_model.web import space_requirements

    expected = space_requirements()
    assert any(line.startswith("gradio") for line in expected) and not any(line.startswith("torch") for line in expected)
    monkeypatch.setitem(sys.modules, "tomllib", None)  # `import tomllib` now raises ImportError
    assert space_requirements() == expected


def test_the_page_retypes_no_number_or_name_python_owns(tmp_path):
    """Prior labels, the smoothing default and its maximum, the faces with bars, the models'
    descriptions, the tracker's and detector's settings: the page receives them from Python."""
    import re

    from fer_model.vision.render import MAX_FACES
    from fer_model.web import PAGE, PRIOR_LABELS, SMOOTHING, SMOOTHING_MAX, browser_assets

    assets = browser_assets({"fernet-ferplus": resolve_model("fernet-ferplus")}, str)
    assert (assets["priorLabels"], assets["smoothing"], assets["smoothingMax"], assets["maxFaces"]) == \
        (PRIOR_LABELS, SMOOTHING, SMOOTHING_MAX, MAX_FACES)
    assert assets["descriptions"]["fernet-ferplus"] == SHIPPED_MODELS["fernet-ferplus"]
    text = "\n".join(path.read_text() for path in PAGE.rglob("*") if path.suffix in (".js", ".html")
                     and "vendor" not in path.parts)
    for label in PRIOR_LABELS.values():
        assert label not in text, label
    assert not re.search(r"max=\"0\.\d+\"|value=\"0\.6\"|maxFaces = \d|lost_?frames\s*=\s*\d|min_?iou\s*=\s*0", text)
    for description in SHIPPED_MODELS.values():
        assert description not in text
