"""The demo in headless Chromium (Debian's package, driven by Playwright): upload, webcam and the
prior control.

Screenshots go to a temporary folder, or to FER_MODEL_SCREENSHOTS where that is set, for a person
to look at."""

import os
import time
from pathlib import Path

import pytest

from launch import CHROMIUM, open_webcam_tab
from conftest import ASTRONAUT, ASTRONAUT_GRID
from fer_model import FER2013_LABELS


pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium not installed (apt-get install chromium)")]


@pytest.fixture(scope="module")
def server(app_server):
    return app_server[0]


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    """Where screenshots go: FER_MODEL_SCREENSHOTS if set (to keep them), else a temporary folder."""
    folder = Path(os.environ["FER_MODEL_SCREENSHOTS"]) if os.environ.get("FER_MODEL_SCREENSHOTS") else \
        tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _image_src(page, elem_id):
    return page.locator(f"#{elem_id} img").first.get_attribute("src", timeout=5000)


def _canvas_picture(page) -> str:
    """What the page's own live canvas shows (the in-browser path), as a data URL."""
    return page.evaluate("document.querySelector('#live canvas').toDataURL('image/jpeg', 0.5)")


def _distinct_canvas_frames(page, wanted: int, timeout_s: float = 90) -> int:
    frames, deadline = set(), time.time() + timeout_s
    while len(frames) < wanted and time.time() < deadline:
        frames.add(_canvas_picture(page))
        page.wait_for_timeout(100)
    return len(frames)


def _server_calls(page) -> list:
    """The requests the page makes to the app's API from now on (files aside)."""
    calls = []
    page.on("request", lambda request: calls.append(request.url) if "/gradio_api/" in request.url and
            "/gradio_api/file=" not in request.url else None)
    return calls


def _distinct_live_frames(page, wanted: int, timeout_s: float = 90) -> int:
    """How many different annotated frames `#live` showed before `wanted` were seen or the time ran
    out: asserts that the stream works, not how fast (bench/webcam.py measures that)."""
    import time

    frames, deadline = set(), time.time() + timeout_s
    while len(frames) < wanted and time.time() < deadline:
        frames.add(_image_src(page, "live"))
        page.wait_for_timeout(100)
    return len(frames)


def test_upload_shows_boxes_bars_and_labels(server, browser, shots):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(server)
    page.locator("input[type=file]").first.set_input_files(str(ASTRONAUT_GRID))
    page.get_by_text("4 faces found").wait_for(timeout=60_000)
    page.locator("#annotated img").first.wait_for(timeout=30_000)
    page.locator("#bars img").first.wait_for(timeout=30_000)
    label_text = page.locator("#top-label").inner_text()
    for label in FER2013_LABELS:
        assert label in label_text
    assert "%" in label_text
    page.screenshot(path=str(shots / "upload.png"), full_page=True)
    page.close()


def test_upload_of_a_non_image_says_so(server, browser, tmp_path, shots):
    page = browser.new_page()
    page.goto(server)
    bogus = tmp_path / "notes.png"
    bogus.write_text("not an image")
    page.locator("input[type=file]").first.set_input_files(str(bogus))
    page.get_by_text("Could not read that file").first.wait_for(timeout=60_000)
    assert "Traceback" not in page.content()
    page.screenshot(path=str(shots / "upload_error.png"))
    page.close()


def test_webcam_runs_in_the_browser_without_a_request_per_frame(server, browser, shots):
    context, page = open_webcam_tab(browser, server)
    assert "Running in your browser" in page.locator("#webcam .where").inner_text()
    calls = _server_calls(page)
    assert _distinct_canvas_frames(page, 10) >= 10  # the face drifts in the fake camera: each frame is new
    assert calls == []  # ten annotated frames, no request to the app
    assert page.evaluate("document.querySelector('#live canvas').width") == 640  # the page's frame size
    assert page.locator("#live-bars canvas.drawn").is_visible() and not page.locator("#live img").is_visible()
    page.screenshot(path=str(shots / "webcam.png"))
    page.locator("#webcam button.start").click()  # Stop: the camera is released and the frames stop
    page.get_by_role("button", name="Start the camera").wait_for(timeout=10_000)
    page.wait_for_timeout(500)  # a frame already with the worker may still land
    last = _canvas_picture(page)
    page.wait_for_timeout(1500)
    assert _canvas_picture(page) == last
    context.close()


def test_webcam_falls_back_to_the_server_when_the_runtime_cannot_load(server, browser, shots):
    context = browser.new_context(permissions=["camera"], viewport={"width": 1400, "height": 1000})
    context.route("**/*.wasm*", lambda route: route.abort())
    page = context.new_page()
    page.goto(server)
    page.get_by_role("tab", name="Webcam").click()
    page.locator("#webcam button.start").click(timeout=30_000)
    page.locator("#live img[src]").wait_for(timeout=60_000)
    assert _distinct_live_frames(page, 3) >= 3  # the server's annotated frames
    where = page.locator("#webcam .where").inner_text()
    assert where.startswith("Running on the server: the in-browser pipeline could not start")
    page.screenshot(path=str(shots / "webcam_server_fallback.png"))
    context.close()


def test_webcam_keeps_streaming_with_grad_cam_on(server, browser, shots):
    context, page = open_webcam_tab(browser, server, grad_cam=True)
    assert _distinct_live_frames(page, 3) >= 3  # frames keep coming with the heat map on, from the server
    assert page.locator("#webcam .where").inner_text().startswith("Running on the server: Grad-CAM")
    assert page.locator("#webcam .status").inner_text() == ""  # where the page reports a failed frame
    page.screenshot(path=str(shots / "webcam_grad_cam.png"))
    context.close()


def test_the_prior_control_changes_what_the_page_shows(server, browser, shots):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(server)
    page.get_by_text("Expected expressions (class prior)").first.wait_for(timeout=30_000)
    assert page.get_by_text("all seven equally likely").first.is_visible()  # the line on what it means
    page.locator("input[type=file]").first.set_input_files(str(ASTRONAUT))
    page.get_by_text("1 face found").wait_for(timeout=60_000)
    trained = page.locator("#top-label").inner_text()
    radio = page.locator("#prior").get_by_role("radio", name="Everyday")
    radio.check()
    assert radio.is_checked()
    page.get_by_role("button", name="Recognise expressions").click()
    before = _percent(trained, "neutral")
    deadline = time.time() + 60
    while time.time() < deadline:  # until the new answer is shown
        everyday = page.locator("#top-label").inner_text()
        if "processing" not in everyday and _percent(everyday, "neutral") not in (None, before):
            break
        page.wait_for_timeout(200)
    page.screenshot(path=str(shots / "prior_everyday.png"), full_page=True)
    # the everyday prior expects neutral faces twice as often as the model learned: neutral rises
    assert _percent(everyday, "neutral") > before
    page.get_by_role("tab", name="Webcam").click()
    options = page.locator("#webcam select.prior option").all_inner_texts()
    assert options == ["As trained", "Balanced", "Everyday"]
    page.close()


def _percent(text: str, label: str) -> float | None:
    """The percentage a gr.Label shows for `label` in its list, or None."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    shown = [lines[i + 1] for i, line in enumerate(lines[:-1]) if line == label and lines[i + 1].endswith("%")]
    return float(shown[-1].rstrip("%")) if shown else None


def test_each_tab_reads_the_chosen_models_own_default_prior(server, browser, shots):
    """fernet-ferplus reads photos and clips under "balanced"; choosing fernet-fer2013 brings its
    "trained" prior with it in the Upload and Video tabs (the webcam assumes "balanced" for both)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(server)
    def choose(model: str, control: str, prior: str, wanted: str) -> None:
        page.locator(f"{control} input").click()
        page.get_by_role("option", name=model).click()
        radio = page.locator(prior).get_by_role("radio", name=wanted)
        deadline = time.time() + 30
        while not radio.is_checked() and time.time() < deadline:
            page.wait_for_timeout(100)
        assert radio.is_checked(), (control, model, wanted)

    for tab, control, prior in (("Upload", "#model", "#prior"), ("Video", "#video-model", "#video-prior")):
        page.get_by_role("tab", name=tab).click()
        choose("fernet-ferplus", control, prior, "Balanced")
        choose("fernet-fer2013", control, prior, "As trained")
    page.get_by_role("tab", name="Upload").click()
    page.locator("input[type=file]").first.set_input_files(str(ASTRONAUT))
    page.get_by_text("1 face found").wait_for(timeout=60_000)
    page.screenshot(path=str(shots / "fer2013_trained.png"), full_page=True)
    page.close()
