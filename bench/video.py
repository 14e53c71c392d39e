"""Frames per second of `python -m fer_model predict` on a video, beside a naive loop, in one run.

    python bench/video.py [--seconds 10] [--model DIR]

Writes a 640x480, 30 frames/s clip with one real face moving across it (the astronaut example),
then analyses every frame of it:
  (a) naive: decode each frame, run the YuNet detector on the full frame, crop the face, one FERNet
      call per face (what a per-frame script written against OpenCV and the model does);
  (b) `predict`: the package's BatchPredictor, as `python -m fer_model predict clip.mp4` runs it
      (decoding, detection on a 320-pixel frame, the config's crop and views, tracking, the rows).
Prints frames per second of each and their ratio. The aim is at least 30 frames/s for (b).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fer_model import DEFAULT_MODEL, EXAMPLES, EmotionRecognizer, FERNet, YuNetFaceDetector  # noqa: E402
from fer_model.pipelines.batch import BatchPredictor, frame_recognizer  # noqa: E402
from fer_model.processing.preprocess import resize_face  # noqa: E402


def write_clip(path: Path, seconds: float, fps: int = 30) -> Path:
    face = np.asarray(Image.open(EXAMPLES / "astronaut.png").convert("RGB"))[40:200, 150:300]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (640, 480))
    for index in range(int(seconds * fps)):
        frame = np.full((480, 640, 3), 100, dtype=np.uint8)
        x, y = 60 + (index * 3) % 400, 120 + int(40 * np.sin(index / 15))
        frame[y:y + face.shape[0], x:x + face.shape[1]] = face
        writer.write(frame[:, :, ::-1])
    writer.release()
    return path


@torch.inference_mode()
def naive(path: Path, model: FERNet, processor) -> tuple[int, int]:
    detector = YuNetFaceDetector()
    capture = cv2.VideoCapture(str(path))
    frames = faces = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        for box in detector.detect(frame[:, :, ::-1]):  # BGR -> RGB
            crop = resize_face(np.ascontiguousarray(gray[box.y:box.y + box.h, box.x:box.x + box.w]), model.image_size)
            model(processor.normalize(crop[None].copy())).softmax(1)
            faces += 1
        frames += 1
    capture.release()
    return frames, faces


def packaged(path: Path, recognizer: EmotionRecognizer) -> tuple[int, int]:
    predictor = BatchPredictor(recognizer, video_recognizer=frame_recognizer(recognizer))  # as `predict` runs it
    frames = []
    rows = list(predictor.video_rows(path, lambda: frames.append(1)))
    return len(frames), len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    args = parser.parse_args()
    recognizer = EmotionRecognizer.from_pretrained(args.model)
    model, processor = recognizer.model, recognizer.processor
    with tempfile.TemporaryDirectory() as folder:
        clip = write_clip(Path(folder) / "clip.mp4", args.seconds)
        print(f"clip: 640x480, 30 frames/s, {args.seconds:g} s; torch threads {torch.get_num_threads()}")
        results = {}
        for name, run in (("(a) naive YuNet + FERNet loop", lambda: naive(clip, model, processor)),
                          ("(b) predict (BatchPredictor)", lambda: packaged(clip, recognizer))):
            start = time.perf_counter()
            frames, faces = run()
            seconds = time.perf_counter() - start
            results[name] = frames / seconds
            print(f"{name}: {frames} frames, {faces} faces in {seconds:.1f} s = "
                  f"{frames / seconds:.1f} frames/s")
    (a, b) = results.values()
    print(f"(b)/(a) = {b / a:.2f}; (b) {'meets' if b >= 30 else 'misses'} the 30 frames/s aim")


if __name__ == "__main__":
    main()
