"""The live demo as a person sees it, in the browser path (the default: the page reads each frame
itself with onnxruntime-web) and the server path (the same page with its WebAssembly file blocked,
so it falls back to sending every frame to the app) side by side in one run, each on the visitor
networks Chromium emulates (DevTools protocol Network.emulateNetworkConditions): none, and 100 ms
latency with a 5 Mbit/s uplink.

    python bench/webcam.py [--seconds 15] [--model NAME_OR_DIR] [--faces 1]
    python bench/webcam.py --model fernet-ferplus,fernet-compact --faces 1,4   # networks side by side

Chromium's fake camera plays a 30 frames/s clip of a moving face (or of several) whose frames carry their index
as a barcode across the top rows. A script in the page samples, every 10 ms, both the camera's
<video> element and the annotated frame shown (the page's canvas, or the server's image), reads
the barcode of each and notes when every index first appears in each place. From those:
  - new annotated frames shown per second: distinct indices that reached the screen, per second;
  - lag: for each index, when it first showed annotated minus when the camera first showed it
    (median and 90th percentile); the boxes are drawn on the very frame they were found in, so
    the lag counts both;
  - requests to the app's API during the sampling (the browser path should make none).
Also, for the browser path: the cold start (Start clicked to the first annotated frame) of a
first visit and of a second one (same browser profile), the bytes a first visit downloads (the
whole page, and the model and runtime files), and how many model or runtime files a second visit
fetches again. The server's own time per frame (decode, detection, model, drawing, encode) is
printed last. Targets: browser path >= 25 frames/s (aim 30) with p90 lag <= 66 ms, within 10% of
that on the slow network; cold start <= 3 s; first visit <= 40 MB.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from launch import camera_browser, running_app  # noqa: E402

from fer_model import app  # noqa: E402
from fer_model import DEFAULT_MODEL, EXAMPLES  # noqa: E402

BITS = 14  # frame index bits; a white block first and a black block last mark the orientation
BLOCKS = BITS + 2
STRIP = 24  # barcode height in pixels
FPS = 30


def barcode_frame(base: np.ndarray, index: int) -> np.ndarray:
    frame = base.copy()
    width = frame.shape[1] // BLOCKS
    bits = [1] + [(index >> k) & 1 for k in range(BITS)] + [0]
    for block, bit in enumerate(bits):
        frame[:STRIP, block * width:(block + 1) * width] = 255 if bit else 0
    return frame


def write_clip(path: Path, frames: int, faces: int = 1) -> None:
    """A 640x480 Y4M clip at 30 frames/s: the astronaut's face drifting (one large, or `faces`
    smaller copies side by side in two rows), an index barcode on top."""
    face = Image.open(EXAMPLES / "astronaut.png").convert("RGB").crop((120, 10, 340, 250))
    if faces > 1:
        face = face.resize((110, 120), Image.Resampling.LANCZOS)
    face = np.asarray(face)
    per_row = (faces + 1) // 2
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W640 H480 F{FPS}:1 Ip A1:1 C420jpeg\n".encode())
        for k in range(frames):
            frame = np.full((480, 640, 3), 180, dtype=np.uint8)
            drift = int((60 if faces == 1 else 30) * np.sin(k / 20))
            for n in range(faces):
                if faces == 1:
                    x, y = 200 + drift, 140
                else:
                    x, y = 60 + drift + (n % per_row) * (520 // per_row), 90 + (n // per_row) * 190
                frame[y:y + face.shape[0], x:x + face.shape[1]] = face
            out.write(b"FRAME\n" + cv2.cvtColor(barcode_frame(frame, k), cv2.COLOR_RGB2YUV_I420).tobytes())


# Runs in the page: samples both elements every 10 ms for `seconds`, returns first-seen times.
SAMPLER = """
async ([seconds, bits, blocks, strip]) => {
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  const read = (element, width, height) => {
    if (!element || !width || !height) return -1;
    canvas.width = width; canvas.height = height;
    try { ctx.drawImage(element, 0, 0, width, height); } catch (e) { return -1; }
    const row = ctx.getImageData(0, Math.floor(strip * height / 480 / 2), width, 1).data;
    const block = width / blocks;
    const values = [];
    for (let b = 0; b < blocks; b++) {
      const x = Math.floor((b + 0.5) * block);
      values.push(row[4 * x] > 127 ? 1 : 0);
    }
    let ordered = values;
    if (values[0] === 0 && values[blocks - 1] === 1) ordered = values.slice().reverse();  // mirrored
    else if (!(values[0] === 1 && values[blocks - 1] === 0)) return -1;
    let index = 0;
    for (let k = 0; k < bits; k++) index |= ordered[1 + k] << k;
    return index;
  };
  const camera = {}, live = {};
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    const now = performance.now() - start;
    const video = document.querySelector('#camera video');
    const c = video ? read(video, video.videoWidth, video.videoHeight) : -1;
    if (c >= 0 && !(c in camera)) camera[c] = now;
    const drawn = document.querySelector('#live canvas.drawn');
    const img = document.querySelector('#live img');
    const l = drawn ? read(drawn, drawn.width, drawn.height)
      : img && img.complete ? read(img, img.naturalWidth, img.naturalHeight) : -1;
    if (l >= 0 && !(l in live)) live[l] = now;
    await new Promise(r => setTimeout(r, 10));
  }
  return {camera, live};
}
"""


NETWORKS = {"none": None, "100 ms latency, 5 Mbit/s uplink": {"offline": False, "latency": 100,
                                                             "downloadThroughput": -1, "uploadThroughput": 5e6 / 8}}
RUNTIME = (".wasm", ".mjs", "model.onnx", "model.safetensors", "yunet")


def open_tab(context, url: str, network: dict | None):
    """A page of the app on the emulated `network`, its Webcam tab open; returns (page, requests) where
    requests collects (url, bytes) of every response."""
    page = context.new_page()
    if network:
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", network)
    requests = []
    page.on("requestfinished", lambda request: requests.append((request.url, request.sizes()["responseBodySize"])))
    page.goto(url)
    page.get_by_role("tab", name="Webcam").click()
    return page, requests


def cold_start(page) -> float:
    """Seconds from Start to the first annotated frame on screen."""
    started = time.perf_counter()
    page.locator("#webcam button.start").click()
    page.locator("#live canvas.drawn, #live img[src]").first.wait_for(timeout=120_000)
    return time.perf_counter() - started


def measure(browser, url: str, seconds: float, network: dict | None, server: bool) -> dict:
    context = browser.new_context(permissions=["camera"], viewport={"width": 1400, "height": 1000})
    if server:
        context.route("**/*.wasm*", lambda route: route.abort())  # the page falls back to the server path
    page, requests = open_tab(context, url, network)
    result = {"cold": cold_start(page)}
    loaded = len(requests)
    result["bytes"] = sum(size for _, size in requests)
    result["runtime bytes"] = sum(size for address, size in requests if any(k in address for k in RUNTIME))
    page.wait_for_timeout(2000)  # warm-up
    before = len(requests)
    seen = page.evaluate(SAMPLER, [seconds, BITS, BLOCKS, STRIP])
    result["api"] = len([a for a, _ in requests[before:] if "/gradio_api/" in a and "/gradio_api/file=" not in a])
    result["where"] = page.locator("#webcam .where").inner_text()
    page.screenshot(path=str(ROOT / "artifacts" / f"webcam_bench_{'server' if server else 'browser'}.png"))
    if not server and network is None:  # a second visit in the same profile
        page.close()
        again, requests = open_tab(context, url, network)
        result["second cold"] = cold_start(again)
        result["refetched"] = len([a for a, _ in requests if any(k in a for k in RUNTIME)])
    context.close()
    camera = {int(k): v for k, v in seen["camera"].items()}
    live = {int(k): v for k, v in seen["live"].items()}
    lags = sorted(live[k] - camera[k] for k in live if k in camera and live[k] >= camera[k])
    if not lags:
        raise SystemExit("no annotated frame could be matched to a camera frame; see artifacts/webcam_bench_*.png")
    result.update(camera_fps=len(camera) / seconds, shown_fps=len(live) / seconds, median=statistics.median(lags),
                  p90=lags[int(0.9 * (len(lags) - 1))], matched=len(lags), loaded=loaded)
    return result


def server_side(model: str, clip: Path, width: int, frames: int = 60) -> None:
    """Where the server's time per frame goes for frames `width` pixels wide, in this process
    (nothing else running meanwhile)."""
    import base64
    import io

    from fer_model.processing.preprocess import to_grayscale
    from fer_model.vision.render import annotate, probability_bars
    from fer_model.vision.tracking import FaceTracker

    demo = app.Demo(model)
    capture = cv2.VideoCapture(str(clip))
    images = [cv2.resize(capture.read()[1][:, :, ::-1], (width, width * 3 // 4), interpolation=cv2.INTER_AREA)
              for _ in range(frames)]
    capture.release()
    phases = {"grayscale": [], "detection": [], "crop + model": [], "smoothing + drawing + bars": [],
              "JPEG encode of the frame": []}
    tracker = FaceTracker(keep=0.6)
    for frame in images:
        t0 = time.perf_counter()
        gray = to_grayscale(frame)
        t1 = time.perf_counter()
        boxes = demo.live.detector.detect(frame)  # the detector searches the colour frame
        t2 = time.perf_counter()
        faces = demo.live.predict_boxes(gray, boxes)
        t3 = time.perf_counter()
        faces = [face for _, face in tracker.update(faces)]
        shown = annotate(frame, faces)
        probability_bars(faces)
        t4 = time.perf_counter()
        Image.fromarray(shown).save(io.BytesIO(), format="JPEG")
        t5 = time.perf_counter()
        for name, (a, b) in zip(phases, ((t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5))):
            phases[name].append((b - a) * 1000)
    total = sum(statistics.median(v) for v in phases.values())
    print(f"server time per {width}x{width * 3 // 4} frame (median of {frames} frames): "
          + ", ".join(f"{name} {statistics.median(v):.1f} ms" for name, v in phases.items())
          + f"; total {total:.1f} ms")
    # The Webcam tab's whole handler: the page's JPEG decoded, the above, the frame and bars encoded.
    requests = [{"image": "data:image/jpeg;base64," + base64.b64encode(cv2.imencode(".jpg", frame[:, :, ::-1])[1])
                 .decode(), "client": "bench", "keep": 0.6, "saliency": False} for frame in images]
    spent = []
    for request in requests:
        t0 = time.perf_counter()
        demo.live_frame(request)
        spent.append((time.perf_counter() - t0) * 1000)
    print(f"Demo.live_frame (the Webcam tab's handler) per {width}x{width * 3 // 4} frame: "
          f"median {statistics.median(spent):.1f} ms")


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15, help="sampling time per row (default: %(default)s)")
    parser.add_argument("--model", default=str(DEFAULT_MODEL),
                        help="the model the app starts with; several, comma-separated, are measured one after the "
                             "other in this run (browser path only)")
    parser.add_argument("--faces", default="1", help="faces in the camera's picture; several, comma-separated, "
                                                     "are each measured (default: %(default)s)")
    args = parser.parse_args()
    models, face_counts = args.model.split(","), [int(n) for n in args.faces.split(",")]
    (ROOT / "artifacts").mkdir(exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for faces in face_counts:
            clip = Path(folder) / f"camera_{faces}.y4m"
            write_clip(clip, frames=FPS * 20, faces=faces)
            for model in models:
                with running_app(model) as (url, _), sync_playwright() as playwright:
                    browser = camera_browser(playwright, clip)
                    for server in (False, True) if len(models) == 1 else (False,):
                        for network_name, network in NETWORKS.items():
                            rows.append((f"{Path(model).name}, {faces} face(s), {'server' if server else 'browser'} "
                                         f"path, network: {network_name}",
                                         measure(browser, url, args.seconds, network, server)))
                    browser.close()
        if len(models) == 1:
            server_side(models[0], Path(folder) / f"camera_{face_counts[0]}.y4m", app.WEBCAM_WIDTH)
    first = rows[0][1]
    for name, row in rows:
        print(f"{name}: new annotated frames {row['shown_fps']:.1f}/s (x{row['shown_fps'] / first['shown_fps']:.2f} "
              f"of the first row), camera {row['camera_fps']:.1f}/s; lag median {row['median']:.0f} ms, p90 "
              f"{row['p90']:.0f} ms ({row['matched']} frames matched); API requests while streaming: {row['api']}; "
              f"cold start {row['cold']:.2f} s; page says: {row['where']}")
    browser_row = first
    print(f"browser path, first visit: {browser_row['bytes'] / 1e6:.1f} MB downloaded ({browser_row['loaded']} "
          f"requests), of which model and runtime files {browser_row['runtime bytes'] / 1e6:.1f} MB; cold start "
          f"{browser_row['cold']:.2f} s")
    print(f"browser path, second visit: cold start {browser_row['second cold']:.2f} s; model or runtime files "
          f"fetched again: {browser_row['refetched']}")


if __name__ == "__main__":
    main()
