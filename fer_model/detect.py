"""Face detection behind a small interface, so a better detector can replace the default one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Box:
    """A face box in pixels of the image it was found in."""

    x: int
    y: int
    w: int
    h: int

    @property
    def area(self) -> int:
        return self.w * self.h

    def expanded(self, margin: float, width: int, height: int) -> "Box":
        """This box grown by `margin` of its size on every side, clipped to the image."""
        dx, dy = int(round(self.w * margin)), int(round(self.h * margin))
        x0, y0 = max(0, self.x - dx), max(0, self.y - dy)
        x1, y1 = min(width, self.x + self.w + dx), min(height, self.y + self.h + dy)
        return Box(x0, y0, x1 - x0, y1 - y0)

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.w, self.h)


class FaceDetector(Protocol):
    """Anything that finds faces in a grayscale uint8 image (H, W), largest first."""

    def detect(self, gray: np.ndarray) -> list[Box]: ...


class HaarFaceDetector:
    """OpenCV's frontal-face Haar cascade, from the files the opencv-python-headless wheel ships.

    Loaded once; works offline. Images whose longer side exceeds `max_side` are searched at that
    size (faces smaller than `min_size` pixels there are not found) and boxes mapped back.
    The cascade misses a face that fills the whole image (a photo already cropped to the face),
    so when nothing is found the image is searched once more with `retry_pad` of its longer side
    added on every side (edge pixels repeated); boxes are clipped to the image.
    """

    def __init__(self, max_side: int = 640, min_size: int = 24, scale_factor: float = 1.1, min_neighbors: int = 6,
                 retry_pad: float = 0.25):
        import cv2

        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise RuntimeError(f"could not load the Haar cascade from {path}; reinstall opencv-python-headless>=4.8,<5")
        self.max_side, self.min_size = max_side, min_size
        self.scale_factor, self.min_neighbors = scale_factor, min_neighbors
        self.retry_pad = retry_pad

    def detect(self, gray: np.ndarray) -> list[Box]:
        import cv2

        boxes = self._detect(gray)
        if boxes or not self.retry_pad:
            return boxes
        pad = int(round(self.retry_pad * max(gray.shape)))
        padded = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        height, width = gray.shape
        clipped = [Box(b.x - pad, b.y - pad, b.w, b.h).expanded(0.0, width, height) for b in self._detect(padded)]
        return sorted((b for b in clipped if b.w > 0 and b.h > 0), key=lambda box: box.area, reverse=True)

    def _detect(self, gray: np.ndarray) -> list[Box]:
        import cv2

        scale = min(1.0, self.max_side / max(gray.shape))
        small = gray if scale == 1.0 else cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        found = self._cascade.detectMultiScale(
            small, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(self.min_size, self.min_size)
        )
        boxes = [Box(*(int(round(v / scale)) for v in box)) for box in found]
        return sorted(boxes, key=lambda box: box.area, reverse=True)
