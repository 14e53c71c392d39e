"""The live demo as a person sees it: new annotated frames per second and camera-to-screen lag,
measured inside the page, with the browser and the server on this machine.

    python bench/webcam.py [--seconds 20] [--model DIR] [--webcam-width 640,320] [--webcam-in-flight 1,2]
                           [--baseline DIR]

Several comma-separated values of app.py's --webcam-width or --webcam-in-flight are
measured one after the other in the same run (every combination) and printed side by side, with
each one's ratio to the first.

Chromium's fake camera plays a 30 frames/s clip of a moving face whose frames carry their index
as a barcode across the top rows. A script in the page samples, every 10 ms, both the camera's
<video> element and the annotated `#live` image, reads the barcode of each and notes when every
index first appears in each place. From those:
  - new annotated frames shown per second: distinct indices that reached `#live`, per second;
  - lag: for each index, when it first showed in `#live` minus when the camera first showed it
    (median and 90th percentile).
The server's own time per frame (decode, detection, model, drawing, encode) is printed beside it,
from the handler's timings, so the two can be compared. Targets: >= 15 frames/s shown and a p90
lag <= 150 ms.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from launch import CHROMIUM, CHROMIUM_ARGS, open_webcam_tab, running_app  # noqa: E402

import app  # noqa: E402
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


def write_clip(path: Path, frames: int) -> None:
    """A 640x480 Y4M clip at 30 frames/s: the astronaut's face drifting, an index barcode on top."""
    face = np.asarray(Image.open(EXAMPLES / "astronaut.png").convert("RGB").crop((120, 10, 340, 250)))
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W640 H480 F{FPS}:1 Ip A1:1 C420jpeg\n".encode())
        for k in range(frames):
            frame = np.full((480, 640, 3), 180, dtype=np.uint8)
            x = 200 + int(60 * np.sin(k / 20))
            frame[140:380, x:x + 220] = face
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
    const img = document.querySelector('#live img');
    const l = img && img.complete ? read(img, img.naturalWidth, img.naturalHeight) : -1;
    if (l >= 0 && !(l in live)) live[l] = now;
    await new Promise(r => setTimeout(r, 10));
  }
  return {camera, live};
}
"""


def measure(url: str, clip: Path, seconds: float) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS + [f"--use-file-for-fake-video-capture={clip}"])
        _, page = open_webcam_tab(browser, url)
        page.wait_for_timeout(2000)  # warm-up
        seen = page.evaluate(SAMPLER, [seconds, BITS, BLOCKS, STRIP])
        page.screenshot(path=str(ROOT / "artifacts" / "webcam_bench.png"))
        browser.close()
    camera = {int(k): v for k, v in seen["camera"].items()}
    live = {int(k): v for k, v in seen["live"].items()}
    lags = [live[k] - camera[k] for k in live if k in camera and live[k] >= camera[k]]
    return {"camera_fps": len(camera) / seconds, "shown_fps": len(live) / seconds, "lags": lags,
            "unmatched": len([k for k in live if k not in camera])}


def server_side(model: str, clip: Path, width: int, frames: int = 60) -> None:
    """Where the server's time per frame goes for frames `width` pixels wide, in this process
    (nothing else running meanwhile)."""
    import base64
    import io
    import time

    from fer_model.preprocess import to_grayscale
    from fer_model.render import annotate, probability_bars
    from fer_model.tracking import FaceTracker

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


def summary(result: dict) -> dict:
    lags = sorted(result["lags"])
    if not lags:
        raise SystemExit("no annotated frame could be matched to a camera frame; see artifacts/webcam_bench.png")
    return {"camera": result["camera_fps"], "shown": result["shown_fps"], "median": statistics.median(lags),
            "p90": lags[int(0.9 * (len(lags) - 1))], "matched": len(lags)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--webcam-in-flight", default="", help="app.py --webcam-in-flight values, comma-separated "
                                                               "(default: the app's)")
    parser.add_argument("--webcam-width", default="", help="app.py --webcam-width values, comma-separated "
                                                           "(default: the app's)")
    parser.add_argument("--baseline", help="a checkout of an earlier release (git worktree add DIR COMMIT): its "
                                           "app.py and its shipped model are measured first, in the same run")
    args = parser.parse_args()
    options = {"--webcam-in-flight": args.webcam_in_flight, "--webcam-width": args.webcam_width}
    settings = [dict(zip(options, values)) for values in itertools.product(*(v.split(",") for v in options.values()))]
    (ROOT / "artifacts").mkdir(exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        clip = Path(folder) / "camera.y4m"
        write_clip(clip, frames=FPS * 20)
        if args.baseline:
            baseline = Path(args.baseline).resolve()
            with running_app(baseline / "fer_model" / "pretrained" / "fernet-fer2013", app=baseline / "app.py") as (url, _):
                rows.append((f"baseline {baseline.name}", summary(measure(url, clip, args.seconds))))
        for setting in settings:
            extra = [part for option, value in setting.items() if value for part in (option, value)]
            with running_app(args.model, extra_args=extra) as (url, _):
                rows.append((" ".join(extra) or "app defaults", summary(measure(url, clip, args.seconds))))
        for width in dict.fromkeys(setting["--webcam-width"] for setting in settings):
            server_side(args.model, clip, int(width or app.WEBCAM_WIDTH))
    first = rows[0][1]
    for name, row in rows:
        print(f"{name}: camera frames seen in the page {row['camera']:.1f}/s; new annotated frames shown "
              f"{row['shown']:.1f}/s (target >= 15; x{row['shown'] / first['shown']:.2f}); camera-to-screen lag "
              f"median {row['median']:.0f} ms, p90 {row['p90']:.0f} ms (target p90 <= 150 ms; "
              f"x{row['p90'] / first['p90']:.2f}); {row['matched']} frames matched")


if __name__ == "__main__":
    main()
