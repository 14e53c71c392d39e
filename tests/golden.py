"""Golden fixtures for the page's pipeline (fer_model/page/fer/), written by the Python path, so that the
JavaScript is checked against what Python does (tests/page/, run by Node and in Chromium).

    python tests/golden.py OUT_DIR [--wild N] [--fer N]

OUT_DIR gets `golden.json` and one raw RGB file per image (`*.rgb`, height x width x 3 bytes):
- photos (the package's examples, a panorama and a strip, `wild_faces` photos and FER-2013
  PublicTest faces where they are present) through `EmotionRecognizer.predict` of each shipped model: boxes, landmarks, the
  detector's scores, every view's 48x48 crop and the probabilities under each prior;
- a webcam sequence (640x480 frames: a face drifting, frames without it, a second face) through
  the Webcam tab's recognizer and FaceTracker: numbers, boxes and smoothed probabilities.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fer_model import EXAMPLES, SHIPPED_MODELS, EmotionRecognizer  # noqa: E402
from fer_model.pipelines.batch import frame_recognizer  # noqa: E402
from fer_model.folder import CHECKOUT  # noqa: E402
from fer_model.processing.preprocess import load_image, to_rgb  # noqa: E402
from fer_model.folder import resolve_model  # noqa: E402
from fer_model.vision.tracking import FaceTracker  # noqa: E402
from fer_model.processing.processor import FaceProcessor  # noqa: E402
from fer_model.web import DYNAMIC_YUNET_FILE, detector_settings, processor_settings, tracker_settings  # noqa: E402

WILD = CHECKOUT.parent / "shared" / "wild_faces"
FER2013 = CHECKOUT.parent / "shared" / "fer2013" / "fer2013.csv.gz"
WEBCAM_KEEP = 0.6


def photo_case(name: str, rgb: np.ndarray, recognizers: dict[str, EmotionRecognizer], out: Path) -> dict:
    (out / f"{name}.rgb").write_bytes(np.ascontiguousarray(rgb).tobytes())
    case = {"name": name, "width": rgb.shape[1], "height": rgb.shape[0], "models": {}}
    for model, recognizer in recognizers.items():
        gray, boxes = recognizer.find_faces(rgb)
        inputs = recognizer.processor(gray, boxes)
        views = [recognizer.processor.face_views(gray, box) for box in boxes] if boxes else \
            [recognizer.processor.crop_views([gray])]
        faces = []
        for k, box in enumerate(inputs.boxes):
            faces.append({"box": list(box.as_tuple()), "score": box.score,
                          "landmarks": [list(p) for p in box.landmarks] if box.landmarks else None,
                          "views": base64.b64encode(views[k].tobytes()).decode(),
                          "probabilities": {}})
        for prior in recognizer.processor.prior_names():
            for face, prediction in zip(faces, recognizer.with_prior(prior).predict_boxes(gray, boxes)):
                face["probabilities"][prior] = [prediction.probabilities[label] for label in recognizer.labels]
        case["models"][model] = {"face_found": inputs.face_found, "faces": faces}
    return case


def extreme_shapes() -> list[tuple[str, np.ndarray]]:
    """A panorama with a face (searched in tiles) and a white strip (no face: classified whole)."""
    face = np.asarray(Image.open(EXAMPLES / "astronaut.png").convert("RGB").resize((200, 200)))
    panorama = np.full((600, 4800, 3), 170, dtype=np.uint8)
    panorama[200:400, 3000:3200] = face
    return [("panorama", panorama), ("strip", np.full((100, 3000, 3), 255, dtype=np.uint8))]


def webcam_frames() -> list[np.ndarray]:
    """640x480 frames: the astronaut's face drifting (tracked), two frames without a face, the face
    again, then a second face beside it."""
    face = np.asarray(Image.open(EXAMPLES / "astronaut.png").convert("RGB").crop((120, 10, 340, 250)))
    small = np.asarray(Image.fromarray(face).resize((110, 120)))
    frames = []
    for k in range(10):
        frame = np.full((480, 640, 3), 190, dtype=np.uint8)
        if k not in (4, 5):
            x = 180 + 6 * k
            frame[120:360, x:x + 220] = face
        if k >= 8:
            frame[40:160, 480:590] = small
        frames.append(frame)
    return frames


def webcam_case(recognizer: EmotionRecognizer, out: Path) -> dict:
    live = frame_recognizer(recognizer, single_view=True).with_prior("balanced")
    tracker, steps = FaceTracker(), []
    for k, frame in enumerate(webcam_frames()):
        (out / f"webcam_{k}.rgb").write_bytes(frame.tobytes())
        tracked = tracker.update(live.predict(frame), WEBCAM_KEEP)
        steps.append({"file": f"webcam_{k}.rgb", "faces": [
            {"number": number, "box": list(face.box), "face_found": face.face_found,
             "probabilities": [face.probabilities[label] for label in live.labels]} for number, face in tracked]})
    return {"width": 640, "height": 480, "keep": WEBCAM_KEEP, "prior": "balanced", "frames": steps,
            "tracker": tracker_settings(),
            "detector": detector_settings(live.detector.max_side, live.detector.retry_pad)}


def fer_rows(count: int) -> list[tuple[str, np.ndarray]]:
    import pandas as pd

    rows = pd.read_csv(FER2013)
    rows = rows[rows["Usage"] == "PublicTest"].head(count)
    return [(f"fer_public_{i}", np.repeat(np.array(p.split(), dtype=np.uint8).reshape(48, 48)[:, :, None], 3, 2))
            for i, p in zip(rows.index, rows["pixels"])]


def configured_folder(out: Path) -> Path:
    """A model folder configured away from every shipped setting (another crop, two scales without
    flips, the everyday prior) whose preprocessor_config.json was written before `crop_shift` and
    `align_eyes` existed: the page must read the settings Python resolved (a shift of [0, 0]), not
    the raw file."""
    import shutil

    folder = out / "models" / "configured"
    shutil.copytree(resolve_model("fernet-ferplus"), folder)
    processor = FaceProcessor.from_pretrained(folder)
    processor = dataclasses.replace(processor, crop_scale=1.2, tta_scales=[1.0, 1.15], tta_flip=False, prior="everyday")
    raw = processor.to_dict()
    for key in ("crop_shift", "align_eyes"):  # an older file: the defaults are Python's to fill in
        del raw[key]
    (folder / "preprocessor_config.json").write_text(json.dumps(raw))
    return folder


def write_golden(out: Path, wild: int = 60, fer: int = 60) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    folders = {**{name: Path(resolve_model(name)) for name in SHIPPED_MODELS}, "configured": configured_folder(out)}
    recognizers = {name: EmotionRecognizer.from_pretrained(folder) for name, folder in folders.items()}
    images = [(path.stem, to_rgb(load_image(path))) for path in sorted(EXAMPLES.glob("*")) if path.suffix != ".md"]
    images += extreme_shapes()
    if WILD.is_dir() and wild:
        photos = sorted(WILD.glob("*.jpg"))
        images += [(f"wild_{path.stem}", to_rgb(load_image(path))) for path in photos[::max(1, len(photos) // wild)][:wild]]
    if FER2013.is_file() and fer:
        images += fer_rows(fer)
    default = recognizers[next(iter(SHIPPED_MODELS))]
    golden = {
        # each model's folder and the processor settings the page receives (fer_model.web.processor_settings)
        "models": {name: {"folder": str(folder), "processor": processor_settings(folder)} for name, folder in folders.items()},
        "yunet": str(DYNAMIC_YUNET_FILE),
        "detector": detector_settings(default.detector.max_side, default.detector.retry_pad),
        "photos": [photo_case(name, rgb, recognizers, out) for name, rgb in images],
        "webcam": webcam_case(default, out),
    }
    (out / "golden.json").write_text(json.dumps(golden))
    return golden


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--wild", type=int, default=60, help="wild_faces photos (evenly spaced; default: %(default)s)")
    parser.add_argument("--fer", type=int, default=60, help="FER-2013 PublicTest faces (default: %(default)s)")
    args = parser.parse_args()
    golden = write_golden(args.out, args.wild, args.fer)
    print(f"{len(golden['photos'])} photos and {len(golden['webcam']['frames'])} webcam frames in {args.out}")


if __name__ == "__main__":
    main()
