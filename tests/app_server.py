"""Launch `python app.py` on a free localhost port for the app tests, and stop it afterwards."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_app(model: str | Path, timeout: float = 180, extra_args: list[str] = (), env: dict | None = None):
    import os

    port = free_port()
    log = tempfile.NamedTemporaryFile("w", prefix=f"app-{port}-", suffix=".log", delete=False)  # kept for debugging
    process = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--model", str(model), "--port", str(port),
                                *extra_args], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                               env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + timeout
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"app.py exited with {process.returncode} before serving; see {log.name}")
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError(f"app.py did not serve {url} within {timeout} s")
                time.sleep(0.5)
        yield url, process
    finally:
        log.close()
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
