"""Start the demo (`app.py` of a checkout) on a free localhost port and stop it afterwards, talk to
it through gradio_client, and open its Webcam tab in Debian's Chromium: used by the tests and the
benchmarks that measure the app as a visitor meets it (a checkout's helper, not part of the package)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_app(model: str | Path, timeout: float = 180, extra_args: list[str] = (), env: dict | None = None,
                python: str | Path = sys.executable, app: str | Path | list = CHECKOUT / "app.py", port_option: bool = True,
                cwd: str | Path | None = None):
    """`python app.py --model MODEL --port PORT` serving on a free port; yields (url, process).
    `app` may be a list of arguments instead (["-m", "fer_model", "demo"]), run in `cwd`.
    `port_option=False` gives the port as Gradio's GRADIO_SERVER_PORT instead. Its output goes to a
    temporary log that is removed afterwards; when the app fails to start, the error carries the end
    of that log."""
    port = free_port()
    env = {**(env or {}), **({} if port_option else {"GRADIO_SERVER_PORT": str(port)})}
    with tempfile.TemporaryDirectory(prefix="fer_model_app_log_") as folder:
        log_path = Path(folder) / "app.log"
        with open(log_path, "w") as log:
            entry = [str(part) for part in app] if isinstance(app, (list, tuple)) else [str(app)]
            process = subprocess.Popen([str(python), *entry, "--model", str(model),
                                        *(["--port", str(port)] if port_option else []), *extra_args],
                                       cwd=cwd or Path(entry[0]).parent, stdout=log, stderr=subprocess.STDOUT,
                                       env={**os.environ, **env})
        url = f"http://127.0.0.1:{port}/"
        deadline = time.time() + timeout
        try:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"app.py exited with {process.returncode} before serving:\n"
                                       f"{log_path.read_text()[-3000:]}")
                try:
                    urllib.request.urlopen(url, timeout=2)
                    break
                except OSError:
                    if time.time() > deadline:
                        raise RuntimeError(f"app.py did not serve {url} within {timeout} s:\n"
                                           f"{log_path.read_text()[-3000:]}")
                    time.sleep(0.5)
            yield url, process
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Debian's Chromium, headless on a closed network, with a fake camera playing a file.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--use-fake-device-for-media-stream",
                 "--use-fake-ui-for-media-stream"]


def camera_browser(playwright, clip: str | Path):
    """Debian's Chromium, headless, whose fake camera plays `clip` (a Y4M file)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                      args=CHROMIUM_ARGS + [f"--use-file-for-fake-video-capture={clip}"])


def app_client(url: str):
    """A gradio_client over a launched app. httpx's own 5-second default is shorter than an upload or
    a video encode takes when the machine is busy; the tests check answers, not latency."""
    from gradio_client import Client

    return Client(url, verbose=False, httpx_kwargs={"timeout": 120})


def open_webcam_tab(browser, url: str, grad_cam: bool = False):
    """A page of the app in `browser` with the Webcam tab streaming (Grad-CAM switched on first if
    asked) and the first annotated frame shown, drawn by the page itself (in the browser) or sent by
    the server; returns (context, page)."""
    context = browser.new_context(permissions=["camera"], viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(url)
    page.get_by_role("tab", name="Webcam").click()
    if grad_cam:
        page.get_by_label("Show where the model looked (Grad-CAM").locator("visible=true").first.check()
    page.locator("#webcam button.start").click(timeout=30_000)
    page.locator("#live canvas.drawn, #live img[src]").first.wait_for(timeout=60_000)
    return context, page
