"""Beyond one process, side by side in one run: onnxruntime against torch (per face batch and per
webcam frame), and `predict --ray` with one and two workers against the one-process `predict`.

    python bench/backends.py [--model fernet-ferplus] [--repeats 100] [--photos 48] [--frames 120]

The ONNX file is exported into a temporary folder first. The Ray runs use a local Ray started by
this script (its start-up is not counted: a cluster is started once for many runs); the folder
holds copies of the example photos and a clip of two moving faces, split into ranges of 30
analysed frames.
"""

from __future__ import annotations

import argparse
import shutil
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

from fer_model import DEFAULT_MODEL_NAME, EXAMPLES, EmotionRecognizer, load_image  # noqa: E402
from fer_model.pipelines.batch import BatchPredictor, collect_inputs, frame_recognizer, run  # noqa: E402
from fer_model.models.export import export_onnx  # noqa: E402
from fer_model.models.onnx_runtime import OnnxNetwork  # noqa: E402
from fer_model.pipelines.inference import load_pretrained, predict_logits  # noqa: E402
from fer_model.processing.preprocess import to_rgb  # noqa: E402
from inference import timed  # noqa: E402  (bench/inference.py, beside this script)


def median_ms(call, repeats: int) -> float:
    return statistics.median(timed(call, repeats))


def write_clip(path: Path, frames: int) -> None:
    face = np.asarray(Image.open(EXAMPLES / "astronaut.png").convert("RGB"))[40:200, 150:300]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (640, 480))
    for index in range(frames):
        frame = np.full((480, 640, 3), 110, dtype=np.uint8)
        for k in range(2):
            x, y = 20 + (2 * index) % 150 + 320 * k, 120 + index % 60
            frame[y:y + face.shape[0], x:x + face.shape[1]] = face
        writer.write(frame[:, :, ::-1])
    writer.release()


def backends(model: str, folder: Path, repeats: int) -> None:
    network, processor = load_pretrained(folder)
    onnx = OnnxNetwork(folder)
    faces = processor.normalize(np.random.default_rng(0).integers(0, 256, (64, 48, 48), dtype=np.uint8))
    print(f"== onnxruntime against torch ({model}, median of {repeats}) ==")
    for batch in (1, 64):
        ours = median_ms(lambda: predict_logits(network, faces[:batch]), repeats)
        theirs = median_ms(lambda: predict_logits(onnx, faces[:batch]), repeats)
        print(f"face batch {batch:>2}: torch {ours:.2f} ms, onnxruntime {theirs:.2f} ms (onnxruntime/torch {theirs / ours:.2f}x)")
    frame = to_rgb(load_image(EXAMPLES / "astronaut.png").resize((640, 480)))
    torch_live = frame_recognizer(EmotionRecognizer.from_pretrained(folder), single_view=True)
    onnx_live = frame_recognizer(EmotionRecognizer.from_pretrained(folder, backend="onnx"), single_view=True)
    ours, theirs = median_ms(lambda: torch_live.predict(frame), repeats), median_ms(lambda: onnx_live.predict(frame), repeats)
    print(f"webcam frame 640x480 (detection at 320 px, one crop): torch {ours:.2f} ms, onnxruntime {theirs:.2f} ms "
          f"(onnxruntime/torch {theirs / ours:.2f}x)")


def ray_runs(model: str, folder: Path, photos: int, frames: int) -> None:
    import ray

    from fer_model.pipelines.distributed import run_on_ray

    for k in range(photos):
        source = (EXAMPLES / "astronaut.png", EXAMPLES / "astronaut_grid.jpg", EXAMPLES / "chelsea_cat.jpg")[k % 3]
        shutil.copy(source, folder / f"{k:03d}{source.suffix}")
    write_clip(folder / "clip.mp4", frames)
    recognizer = EmotionRecognizer.from_pretrained(model)
    predictor = BatchPredictor(recognizer, video_recognizer=frame_recognizer(recognizer))
    files, _ = collect_inputs([folder])
    start = time.perf_counter()
    rows, _ = run(predictor, [folder], progress=False)
    one = len(rows) / (time.perf_counter() - start)
    print(f"== predict on {photos} photos and a {frames}-frame clip: {len(rows)} rows ==")
    print(f"one process: {one:.1f} rows/s")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    for workers in (1, 2):
        start = time.perf_counter()
        ray_rows, _ = run_on_ray(predictor, files, model, None, "torch", 320, None, workers=workers, range_frames=30)
        rate = len(ray_rows) / (time.perf_counter() - start)
        same = [r.as_dict() for r in ray_rows] == [r.as_dict() for r in rows]
        print(f"--ray, {workers} worker(s): {rate:.1f} rows/s ({rate / one:.2f}x one process; rows identical: {same})")
    ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL_NAME)
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--photos", type=int, default=48)
    parser.add_argument("--frames", type=int, default=120)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        exported = Path(scratch) / "onnx"
        export_onnx(args.model, exported)
        backends(args.model, exported, args.repeats)
        archive = Path(scratch) / "archive"
        archive.mkdir()
        ray_runs(args.model, archive, args.photos, args.frames)


if __name__ == "__main__":
    main()
