"""Face detection behind a small interface, so another detector can replace the shipped one.

The shipped detector is YuNet (Wu, Peng and Yu, "YuNet: A Tiny Millisecond-level Face Detector",
Machine Intelligence Research 2023; MIT licence, `detector/LICENSE`), run by OpenCV's
`cv2.FaceDetectorYN` (OpenCV 4.8 and later, 5.x included). Per face it gives a box, five
landmarks and a score.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import DetectorError
from ..folder import PACKAGE

YUNET_FILE = PACKAGE / "detector" / "face_detection_yunet_2023mar.onnx"
YUNET_SHA256 = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"
# The searched image's shape: an image longer than TILE_ASPECT x its short side (a strip, a panorama)
# is searched in overlapping tiles of twice its short side, so that no tile is a sliver once
# scaled to max_side and a face keeps a findable size; an image whose short side is under
# MIN_FACE_SIDE pixels holds no face YuNet can find and is not searched.
TILE_ASPECT = 4
MIN_FACE_SIDE = 10
NMS_IOU = 0.3  # boxes of overlapping tiles that overlap this much are one face (YuNet's own NMS)
VIDEO_DETECT_SIDE = 320  # video and webcam frames are searched at this longer side: faces of about 20 px and more in 640x480
# YuNet's five points, in its order; "right" and "left" are the person's own.
LANDMARK_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth_right", "mouth_left")


@dataclass(frozen=True)
class Box:
    """A face box in pixels of the image it was found in, with the detector's score and its five
    landmarks ((x, y) each, in :data:`LANDMARK_NAMES` order) where the detector gives them."""

    x: int
    y: int
    w: int
    h: int
    score: float | None = None
    landmarks: tuple[tuple[float, float], ...] | None = None

    @property
    def area(self) -> int:
        return self.w * self.h

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.w, self.h)

    def named_landmarks(self) -> dict[str, list[float]] | None:
        """The landmarks by name ({"right_eye": [x, y], ...}), or None."""
        if self.landmarks is None:
            return None
        return {name: [round(x, 1), round(y, 1)] for name, (x, y) in zip(LANDMARK_NAMES, self.landmarks)}


class FaceDetector(Protocol):
    """Anything that finds faces in an image, largest first. The image is uint8, RGB (H, W, 3)
    or grayscale (H, W)."""

    def detect(self, image: np.ndarray) -> list[Box]: ...


class YuNetFaceDetector:
    """YuNet through `cv2.FaceDetectorYN`, from the ONNX file shipped in the package (offline).

    Images whose longer side exceeds `max_side` are searched at that size (YuNet finds faces of
    about 10 to 300 pixels) and boxes mapped back; strips and panoramas (longer than
    :data:`TILE_ASPECT` x their short side) are searched in overlapping tiles. Rows that are not
    finite or fall outside the image are dropped. A face that fills the whole image (a photo
    already cropped to the face) has no context around it for the detector, so when nothing is
    found the image is searched once more with `retry_pad` of its longer side added on every side
    (edge pixels repeated); boxes are clipped to the image.

    One instance can serve several threads (calls take turns); create it once and reuse it.

    Raises:
        DetectorError: the model file is missing or not a YuNet ONNX model OpenCV can read.
    """

    def __init__(self, model_path: str | os.PathLike | None = None, max_side: int = 640,
                 score_threshold: float = 0.6, nms_threshold: float = 0.3, top_k: int = 100,
                 retry_pad: float = 0.25) -> None:
        import cv2

        self.path = Path(model_path) if model_path is not None else YUNET_FILE
        if not self.path.is_file():
            raise DetectorError(f"the face detector model {self.path} is missing; reinstall fer_model, or pass "
                                "model_path= the YuNet ONNX file (face_detection_yunet_2023mar.onnx)")
        quiet = _quiet_opencv(cv2)
        try:
            self._net = cv2.FaceDetectorYN.create(str(self.path), "", (320, 320), score_threshold, nms_threshold, top_k)
        except cv2.error as error:
            raise DetectorError(f"{self.path}: not a YuNet ONNX model OpenCV can read ({_first_line(error)})") from error
        finally:
            quiet()
        self.max_side, self.retry_pad = max_side, retry_pad
        self._lock = threading.Lock()

    def detect(self, image: np.ndarray) -> list[Box]:
        import cv2

        bgr = _bgr(image)
        boxes = self._search(bgr)
        if boxes or not self.retry_pad:
            return boxes
        pad = int(round(self.retry_pad * max(bgr.shape[:2])))
        padded = cv2.copyMakeBorder(bgr, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        height, width = bgr.shape[:2]
        return _by_area(b for b in (_clip(box, -pad, width, height) for box in self._search(padded)) if b is not None)

    def _search(self, bgr: np.ndarray) -> list[Box]:
        height, width = bgr.shape[:2]
        short, long = min(height, width), max(height, width)
        if short < MIN_FACE_SIDE:
            return []
        if long <= TILE_ASPECT * short:
            return self._search_whole(bgr)
        tile, boxes = 2 * short, []
        starts = list(range(0, long - tile, tile * 3 // 4)) + [long - tile]
        for start in starts:
            part = bgr[:, start:start + tile] if width > height else bgr[start:start + tile]
            for box in self._search_whole(part):
                boxes.append(_moved(box, start, 0) if width > height else _moved(box, 0, start))
        return _by_area(_suppress(boxes))

    def _search_whole(self, bgr: np.ndarray) -> list[Box]:
        import cv2

        height, width = bgr.shape[:2]
        scale = min(1.0, self.max_side / max(height, width))
        small = bgr if scale == 1.0 else cv2.resize(bgr, (max(1, round(width * scale)), max(1, round(height * scale))),
                                                    interpolation=cv2.INTER_AREA)
        with self._lock:
            self._net.setInputSize((small.shape[1], small.shape[0]))
            _, found = self._net.detect(small)
        if found is None:
            return []
        sx, sy = width / small.shape[1], height / small.shape[0]
        return _by_area(b for b in (_box(row, sx, sy, width, height) for row in found) if b is not None)


def _box(row: np.ndarray, sx: float, sy: float, width: int, height: int) -> Box | None:
    """One row of YuNet's output (box, 5 landmarks, score) in the image's pixels, clipped to it;
    None for a row that is not finite, has no extent or lies outside the image."""
    if not np.all(np.isfinite(row[:15])) or row[2] <= 0 or row[3] <= 0 or \
            row[0] * sx >= width or row[1] * sy >= height or (row[0] + row[2]) * sx <= 0 or (row[1] + row[3]) * sy <= 0:
        return None
    points = tuple((float(row[4 + 2 * k] * sx), float(row[5 + 2 * k] * sy)) for k in range(5))
    box = Box(int(round(row[0] * sx)), int(round(row[1] * sy)), int(round(row[2] * sx)), int(round(row[3] * sy)),
              float(row[14]), points)
    return _clip(box, 0, width, height)


def _clip(box: Box, offset: int, width: int, height: int) -> Box | None:
    """`box` moved by `offset` on both axes and clipped to a width x height image (None if nothing is left)."""
    x0, y0 = max(0, box.x + offset), max(0, box.y + offset)
    x1, y1 = min(width, box.x + offset + box.w), min(height, box.y + offset + box.h)
    if x1 <= x0 or y1 <= y0:
        return None
    points = None if box.landmarks is None else tuple((x + offset, y + offset) for x, y in box.landmarks)
    return Box(x0, y0, x1 - x0, y1 - y0, box.score, points)


def _moved(box: Box, dx: int, dy: int) -> Box:
    points = None if box.landmarks is None else tuple((x + dx, y + dy) for x, y in box.landmarks)
    return Box(box.x + dx, box.y + dy, box.w, box.h, box.score, points)


def _suppress(boxes: list[Box]) -> list[Box]:
    """The boxes of overlapping tiles as one set: the highest score of each group of boxes that
    overlap by IoU NMS_IOU or more."""

    kept: list[Box] = []
    for box in sorted(boxes, key=lambda b: b.score or 0.0, reverse=True):
        if all(iou(box.as_tuple(), other.as_tuple()) < NMS_IOU for other in kept):
            kept.append(box)
    return kept


def _by_area(boxes) -> list[Box]:
    return sorted(boxes, key=lambda box: box.area, reverse=True)


def _bgr(image: np.ndarray) -> np.ndarray:
    """uint8 RGB (H, W, 3) or grayscale (H, W) -> contiguous BGR, as OpenCV's DNN expects."""
    import cv2

    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3)):
        raise ValueError(f"expected a uint8 image (H, W) or (H, W, 3), got {image.dtype} {image.shape}")
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(np.ascontiguousarray(image.reshape(image.shape[:2])), cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)


def _quiet_opencv(cv2):
    """Silence OpenCV's log while the detector loads (OpenCV 5's DNN engine warns that targets are
    not supported by its new graph engine, about settings this detector never uses); returns a
    function that restores the previous level."""
    try:
        previous = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except AttributeError:  # a build without the logging bindings
        return lambda: None
    return lambda: cv2.utils.logging.setLogLevel(previous)


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    w = max(0, min(ax1, bx1) - max(a[0], b[0]))
    h = max(0, min(ay1, by1) - max(a[1], b[1]))
    inter = w * h
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


def _first_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file, hex."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
