"""Real-time inference on this machine, side by side in one run.

    python bench/inference.py [--model DIR] [--repeats 200]

1. FERNet alone: one 48x48 face (batch 1) latency and batch-64 throughput, for each way of
   serving it (plain eager NCHW, channels_last, bf16 autocast where the CPU has it, TorchScript).
2. The app's full per-frame path for a 640x480 JPEG frame with 1 and with 4 faces: decode,
   face detection, preprocessing, model, smoothing, annotation and bars.
Targets: 1 face through the model in <= 5 ms; a 1-face frame end to end in <= 33 ms (30 frames/s).
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fer_model import DEFAULT_MODEL, EXAMPLES, EmotionRecognizer, FERNet, load_image  # noqa: E402
from fer_model.pipelines.batch import frame_recognizer  # noqa: E402
from fer_model.vision.render import annotate, probability_bars  # noqa: E402
from fer_model.vision.tracking import FaceTracker  # noqa: E402


def timed(fn, repeats: int, warmup: int = 10) -> list[float]:
    """Wall-clock milliseconds of `repeats` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def summary(times: list[float]) -> str:
    q = statistics.quantiles(times, n=20)
    return f"median {statistics.median(times):6.2f} ms  p95 {q[18]:6.2f} ms"


def model_variants(path: str) -> dict:
    """Ways of running the same weights: name -> callable on an NCHW batch."""
    model = FERNet.from_pretrained(path)
    variants = {"eager fp32 NCHW (plain PyTorch)": lambda x: model(x)}
    channels_last = FERNet.from_pretrained(path).to(memory_format=torch.channels_last).eval()
    variants["eager fp32 channels_last (shipped)"] = lambda x: channels_last(x.contiguous(memory_format=torch.channels_last))
    if "avx512_bf16" in Path("/proc/cpuinfo").read_text() or "amx_bf16" in Path("/proc/cpuinfo").read_text():
        def bf16(x):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return channels_last(x.contiguous(memory_format=torch.channels_last))
        variants["bf16 autocast channels_last"] = bf16
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # TorchScript is deprecated, still worth a measurement
        scripted = torch.jit.freeze(torch.jit.trace(FERNet.from_pretrained(path).eval(), torch.zeros(1, 1, 48, 48)))
    variants["TorchScript frozen fp32"] = lambda x: scripted(x)
    return variants


def bench_model(path: str, repeats: int) -> None:
    print(f"== FERNet alone ({path}) ==")
    one, batch = torch.randn(1, 1, 48, 48), torch.randn(64, 1, 48, 48)
    variants = model_variants(path)
    with torch.inference_mode():
        reference = next(iter(variants.values()))(one)
    for name, run in variants.items():
        with torch.inference_mode():
            error = (run(one).float() - reference).abs().max().item()
            latency = timed(lambda: run(one), repeats)
            throughput = timed(lambda: run(batch), max(10, repeats // 10), warmup=3)
        print(f"{name:36s} batch 1: {summary(latency)}   batch 64: {64000 / statistics.median(throughput):7.0f} faces/s"
              f"   max |logit diff| {error:.1e}")


def frame_with_faces(count: int) -> bytes:
    """A 640x480 JPEG with `count` copies of the astronaut's face, as a webcam would send."""
    face = Image.open(EXAMPLES / "astronaut.png").convert("RGB").crop((120, 10, 340, 250))
    frame = Image.new("RGB", (640, 480), (190, 190, 190))
    size = (220, 240) if count == 1 else (150, 164)
    spots = [(210, 120)] if count == 1 else [(60, 40), (400, 40), (60, 270), (400, 270)][:count]
    for spot in spots:
        frame.paste(face.resize(size), spot)
    buffer = io.BytesIO()
    frame.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def bench_frames(recognizer: EmotionRecognizer, repeats: int) -> None:
    print("== The app's per-frame path, 640x480 webcam frame (detector searches it at 320 px) ==")
    for count in (1, 4):
        data = frame_with_faces(count)
        tracker = FaceTracker(keep=0.6)
        stages = {name: [] for name in ("decode", "detect + preprocess + model", "smoothing", "annotate + bars")}

        def frame():
            t0 = time.perf_counter()
            rgb = np.asarray(load_image(data).convert("RGB"))
            t1 = time.perf_counter()
            faces = recognizer.predict(rgb)
            t2 = time.perf_counter()
            faces = [face for _, face in tracker.update(faces)]
            t3 = time.perf_counter()
            annotate(rgb, faces), probability_bars(faces)
            t4 = time.perf_counter()
            for name, seconds in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                stages[name].append(seconds * 1000)

        found = len(recognizer.predict(np.asarray(load_image(data).convert("RGB"))))
        total = timed(frame, repeats)
        parts = "  ".join(f"{name} {statistics.median(times[-repeats:]):.2f}" for name, times in stages.items())
        print(f"{count} face(s) ({found} found): {summary(total)}  = {1000 / statistics.median(total):5.1f} frames/s"
              f"   [{parts} ms]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="model folder (default: the shipped model)")
    parser.add_argument("--repeats", type=int, default=200, help="timed calls per measurement")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    bench_model(args.model, args.repeats)
    bench_frames(frame_recognizer(EmotionRecognizer.from_pretrained(args.model)), args.repeats)


if __name__ == "__main__":
    main()
