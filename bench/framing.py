"""The crop from a detector's box: the framing FER-2013 taught the model, measured on its own faces,
and candidate mappings compared through the default path, side by side in one run.

    python bench/framing.py [--model DIR] [--limit N]

1. Every PublicTest face is upscaled 3x (144 px) and padded with its own edge pixels to 288 px;
   YuNet searches that canvas. The square that gives back the face's 48x48 frame is known, so each
   found box yields the side of that square relative to the box's longer side and the offset of
   its centre from the box's centre (in units of that side); their medians are the measured mapping.
2. Candidate mappings (A: the box's own square; B: the measured mapping; B with a side 10% smaller
   and larger; C: B with the eyes levelled) are each run through the model's default path (its
   views, temperature and default prior) on the PublicTest canvases and on the wild_faces photos.

PrivateTest is never read.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package

from fer_model import EmotionRecognizer, YuNetFaceDetector, default_data_path, load_fer2013  # noqa: E402
from fer_model.data.fer2013 import default_wild_path  # noqa: E402
from fer_model.evaluation.metrics import classification_metrics, crowd_metrics  # noqa: E402
from fer_model.data.ferplus import default_ferplus_path, load_ferplus  # noqa: E402
from fer_model.pipelines.inference import load_pretrained  # noqa: E402
from fer_model.processing.preprocess import eye_angle  # noqa: E402
from fer_model.evaluation.robustness import load_labelled_photos, photo_metrics  # noqa: E402

UPSCALE, PAD = 3, 1.0  # faces at 3x, padded by their own side on every side


class RememberingDetector:
    """YuNet, searching each distinct image once: every candidate sees the same boxes (only the crop
    differs), and the run costs one search per image instead of one per candidate."""

    def __init__(self) -> None:
        self.detector, self.seen = YuNetFaceDetector(), {}

    def detect(self, image: np.ndarray) -> list:
        key = hash(image.tobytes())
        if key not in self.seen:
            self.seen[key] = self.detector.detect(image)
        return self.seen[key]


def canvas(face: np.ndarray) -> np.ndarray:
    """A 48x48 face upscaled and padded (edge pixels repeated): (288, 288) uint8, the face's frame
    at [144, 288) on both axes."""
    big = cv2.resize(face, None, fx=UPSCALE, fy=UPSCALE, interpolation=cv2.INTER_CUBIC)
    pad = int(big.shape[0] * PAD)
    return cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_REPLICATE)


def measured_mapping(boxes: list, side: int) -> dict:
    """Median side ratio and centre offset of the original frame (a side x side square at the
    canvas's centre) relative to each found box."""
    centre = side * PAD + side / 2
    found = [box for box in boxes if box is not None]
    longer = np.array([max(b.w, b.h) for b in found], dtype=np.float64)
    ratio = side / longer
    dx = (centre - np.array([b.x + b.w / 2 for b in found])) / longer
    dy = (centre - np.array([b.y + b.h / 2 for b in found])) / longer
    tilt = np.abs([eye_angle(b.landmarks) for b in found])
    return {"found": len(found), "searched": len(boxes), "scale": float(np.median(ratio)),
            "scale_iqr": [float(v) for v in np.percentile(ratio, [25, 75])],
            "shift": [float(np.median(dx)), float(np.median(dy))], "eye_tilt_median_deg": float(np.median(tilt))}


def canvas_metrics(recognizer: EmotionRecognizer, canvases: list[np.ndarray], rows) -> dict:
    """Original-label and FER+ accuracy of the top face of each canvas through `recognizer`."""
    probabilities = []
    for start in range(0, len(canvases), 64):
        for answers in recognizer.predict_many(canvases[start:start + 64], [recognizer.processor.prior]):
            probabilities.append([answers[0][0].probabilities[name] for name in recognizer.labels])
    probabilities = np.array(probabilities)
    return {"accuracy": classification_metrics(rows.labels, probabilities.argmax(1), recognizer.labels)["accuracy"],
            "ferplus_accuracy": crowd_metrics(probabilities, rows, recognizer.labels)["accuracy"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="saved model folder (default: the shipped default model)")
    parser.add_argument("--data", default=str(default_data_path()))
    parser.add_argument("--ferplus", default=str(default_ferplus_path()))
    parser.add_argument("--wild", default=str(default_wild_path()))
    parser.add_argument("--limit", type=int, default=None, help="at most this many PublicTest rows and photos")
    args = parser.parse_args()

    model, processor = load_pretrained(args.model)
    public = load_ferplus(args.ferplus, load_fer2013(args.data)).split("PublicTest", limit=args.limit)
    detector = RememberingDetector()
    canvases = [canvas(face) for face in public.images]
    boxes = [(detector.detect(image) or [None])[0] for image in canvases]
    mapping = measured_mapping(boxes, public.images.shape[1] * UPSCALE)
    print(f"PublicTest canvases: a face found in {mapping['found']} of {mapping['searched']}; frame side / box side "
          f"median {mapping['scale']:.3f} (IQR {mapping['scale_iqr'][0]:.3f}-{mapping['scale_iqr'][1]:.3f}), centre "
          f"offset ({mapping['shift'][0]:+.3f}, {mapping['shift'][1]:+.3f}) box sides; median eye tilt "
          f"{mapping['eye_tilt_median_deg']:.1f} degrees")

    scale, shift = round(mapping["scale"], 2), [round(v, 3) for v in mapping["shift"]]
    candidates = {
        "A: box square": dict(crop_scale=1.0, crop_shift=[0.0, 0.0], align_eyes=False),
        "B: measured": dict(crop_scale=scale, crop_shift=shift, align_eyes=False),
        "B-0.9": dict(crop_scale=round(scale * 0.9, 3), crop_shift=shift, align_eyes=False),
        "B-1.1": dict(crop_scale=round(scale * 1.1, 3), crop_shift=shift, align_eyes=False),
        "C: B, eyes level": dict(crop_scale=scale, crop_shift=shift, align_eyes=True),
    }
    paths, labels = load_labelled_photos(args.wild, model.labels)
    paths, labels = paths[:args.limit], labels[:args.limit]
    print(f"\n{len(canvases)} PublicTest canvases, {len(paths)} wild_faces photos; {processor.views_per_face} views, "
          f"prior {processor.prior!r}\n")
    print("| mapping | crop_scale | crop_shift | align_eyes | PublicTest canvas acc | canvas FER+ acc "
          "| wild acc | wild bal acc |\n|---|---|---|---|---|---|---|---|")
    for name, settings in candidates.items():
        recognizer = EmotionRecognizer(model, dataclasses.replace(processor, **settings), detector)
        on_canvas = canvas_metrics(recognizer, canvases, public)
        wild = photo_metrics(recognizer, paths, labels)
        print(f"| {name} | {settings['crop_scale']:g} | {settings['crop_shift']} | {settings['align_eyes']} "
              f"| {on_canvas['accuracy']:.4f} | {on_canvas['ferplus_accuracy']:.4f} | {wild['accuracy']:.4f} "
              f"| {wild['balanced_accuracy']:.4f} |", flush=True)


if __name__ == "__main__":
    main()
