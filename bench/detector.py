"""The face detector alone: YuNet (the shipped one) against OpenCV's Haar frontal-face cascade (the
detector of earlier releases, kept here only for this comparison), side by side in one run.

    python bench/detector.py [--repeats 100] [--wild ../shared/wild_faces]

- time to search a 640x480 frame holding one face (median of --repeats calls, each detector
  searching at 640 px as the photo path does), and the ratio YuNet / Haar;
- share of the wild_faces photos larger than 96 px (smaller ones are taken as face crops by
  `predict`) in which each finds a face; Haar with the padded second look earlier releases used.

The cascade needs OpenCV 4.x (5.x removed it); where it is missing only YuNet is measured.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fer_model import EXAMPLES, YuNetFaceDetector, load_image  # noqa: E402
from fer_model.data.fer2013 import default_wild_path  # noqa: E402
from fer_model.processing.preprocess import to_rgb  # noqa: E402
from fer_model.evaluation.robustness import load_labelled_photos  # noqa: E402
from fer_model.labels import FER2013_LABELS  # noqa: E402
from inference import timed  # noqa: E402  (bench/inference.py, beside this script)


class HaarCascade:
    """The earlier releases' detector: frontal-face cascade on grayscale, searched at 640 px, with a
    second look padded by a quarter of the image's side when nothing is found."""

    def __init__(self) -> None:
        self.cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")

    def _search(self, gray: np.ndarray) -> list:
        scale = min(1.0, 640 / max(gray.shape))
        small = gray if scale == 1.0 else cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        return list(self.cascade.detectMultiScale(small, scaleFactor=1.1, minNeighbors=6, minSize=(24, 24)))

    def detect(self, rgb: np.ndarray) -> list:
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        found = self._search(gray)
        if found:
            return found
        pad = int(round(0.25 * max(gray.shape)))
        return self._search(cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE))


def haar_or_none():
    try:
        cascade = HaarCascade()
    except (AttributeError, cv2.error):
        return None
    return None if cascade.cascade.empty() else cascade


def frame_with_face() -> np.ndarray:
    frame = np.full((480, 640, 3), 180, dtype=np.uint8)
    face = np.asarray(Image.open(EXAMPLES / "astronaut.png").convert("RGB").crop((120, 10, 340, 250)))
    frame[140:380, 200:420] = face
    return frame


def median_ms(detect, image: np.ndarray, repeats: int) -> float:
    return statistics.median(timed(lambda: detect(image), repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--wild", default=str(default_wild_path()))
    args = parser.parse_args()
    detectors = {"YuNet": YuNetFaceDetector()}
    haar = haar_or_none()
    if haar is not None:
        detectors["Haar cascade"] = haar
    print(f"OpenCV {cv2.__version__}, {cv2.getNumThreads()} threads")
    frame = frame_with_face()
    timed = {name: median_ms(d.detect, frame, args.repeats) for name, d in detectors.items()}
    for name, ms in timed.items():
        print(f"{name}: 640x480 frame, 1 face: median {ms:.2f} ms ({len(detectors[name].detect(frame))} face(s) found)")
    if haar is not None:
        print(f"YuNet / Haar time: {timed['YuNet'] / timed['Haar cascade']:.2f}x")
    paths, _ = load_labelled_photos(args.wild, list(FER2013_LABELS))
    photos = [to_rgb(image) for image in map(load_image, paths) if max(image.size) > 96]
    for name, detector in detectors.items():
        found = sum(bool(detector.detect(photo)) for photo in photos)
        print(f"{name}: a face found in {found} of {len(photos)} wild_faces photos larger than 96 px "
              f"({found / len(photos):.1%})")


if __name__ == "__main__":
    main()
