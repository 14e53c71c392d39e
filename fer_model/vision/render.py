"""Drawing predictions onto RGB frames: numbered boxes, per-face probability bars, Grad-CAM overlays.

Plain OpenCV drawing (about a millisecond a frame), so the live webcam view can afford it.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..prediction import FacePrediction

# One colour per face number (RGB), so a box and its bar chart are easy to pair up.
FACE_COLOURS = [(46, 134, 222), (235, 77, 75), (16, 172, 132), (243, 156, 18), (142, 68, 173), (52, 73, 94)]
FONT = cv2.FONT_HERSHEY_SIMPLEX


def face_colour(number: int) -> tuple[int, int, int]:
    """The colour of face number `number` (from 1)."""
    return FACE_COLOURS[(number - 1) % len(FACE_COLOURS)]


def annotate(frame: np.ndarray, faces: list[FacePrediction], numbers: list[int] | None = None,
             landmarks: bool = False) -> np.ndarray:
    """A copy of the RGB frame with each face boxed, numbered and labelled with its top emotion,
    and its Grad-CAM map laid over it where the prediction carries one. `numbers`: each face's
    number (a tracked face keeps its number and colour across frames); default 1, 2, ... in order.
    `landmarks`: also mark the detector's five points (eyes, nose tip, mouth corners)."""
    numbers = list(range(1, len(faces) + 1)) if numbers is None else numbers
    out = np.ascontiguousarray(frame.copy())
    scale = max(out.shape[:2]) / 640
    thickness = max(1, round(2 * scale))
    for number, face in zip(numbers, faces):
        x, y, w, h = face.box
        if face.saliency is not None:
            _overlay_heatmap(out, face.box, face.saliency)
        if not face.face_found:
            continue
        colour = face_colour(number)
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, thickness)
        for px, py in (face.landmarks or {}).values() if landmarks else ():
            cv2.circle(out, (int(round(px)), int(round(py))), thickness + 1, colour, -1, cv2.LINE_AA)
        text = f"{number} {face.label} {face.score:.0%}"
        font_scale = 0.6 * scale
        (tw, th), base = cv2.getTextSize(text, FONT, font_scale, thickness)
        top = y - th - base - 4 if y - th - base - 4 >= 0 else y + h
        cv2.rectangle(out, (x, top), (x + tw + 6, top + th + base + 4), colour, -1)
        cv2.putText(out, text, (x + 3, top + th + 2), FONT, font_scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return out


def _overlay_heatmap(frame: np.ndarray, box: tuple[int, int, int, int], heatmap: np.ndarray) -> None:
    x, y, w, h = box
    if w <= 0 or h <= 0:
        return
    resized = cv2.resize(heatmap.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    coloured = cv2.applyColorMap((resized * 255).astype(np.uint8), cv2.COLORMAP_JET)[:, :, ::-1]  # BGR -> RGB
    region = frame[y:y + h, x:x + w]
    if region.ndim == 2:
        return
    frame[y:y + h, x:x + w] = (0.55 * region + 0.45 * coloured).astype(np.uint8)


MAX_FACES = 6  # faces with their own block of bars (the page draws as many: fer_model.web hands it over)


def probability_bars(faces: list[FacePrediction], width: int = 380, max_faces: int = MAX_FACES,
                     numbers: list[int] | None = None) -> np.ndarray:
    """An RGB panel with one block per face (numbered as in `annotate`, in its box colour): all
    labels in the model's fixed order, each with a bar and its percentage. More than two faces go
    in two columns."""
    shown = faces[:max_faces]
    numbers = list(range(1, len(shown) + 1)) if numbers is None else numbers
    if not shown:
        panel = np.full((60, width, 3), 255, dtype=np.uint8)
        cv2.putText(panel, "no face yet", (10, 36), FONT, 0.6, (90, 90, 90), 1, cv2.LINE_AA)
        return panel
    blocks = [_face_block(number, face, width) for number, face in zip(numbers, shown)]
    columns = 1 if len(blocks) <= 2 else 2
    rows = [np.hstack(blocks[i:i + columns] + [np.full_like(blocks[0], 255)] * (columns - len(blocks[i:i + columns])))
            for i in range(0, len(blocks), columns)]
    return np.vstack(rows)


def _face_block(number: int, face: FacePrediction, width: int) -> np.ndarray:
    row, header, pad = 26, 40, 10
    labels = list(face.probabilities)
    block = np.full((header + row * len(labels) + pad, width, 3), 255, dtype=np.uint8)
    colour = face_colour(number)
    title = f"Face {number}: {face.label} {face.score:.0%}" if face.face_found else \
        f"Whole image: {face.label} {face.score:.0%}"
    cv2.rectangle(block, (pad, 10), (pad + 6, header - 6), colour, -1)
    cv2.putText(block, title, (pad + 14, 30), FONT, 0.62, (30, 30, 30), 1, cv2.LINE_AA)
    bar_left, bar_right = pad + 82, width - 58
    for k, label in enumerate(labels):
        y = header + k * row
        p = face.probabilities[label]
        cv2.putText(block, label, (pad, y + 17), FONT, 0.5, (30, 30, 30), 1, cv2.LINE_AA)
        cv2.rectangle(block, (bar_left, y + 5), (bar_right, y + 21), (236, 236, 236), -1)
        cv2.rectangle(block, (bar_left, y + 5), (bar_left + int((bar_right - bar_left) * p), y + 21),
                      colour if label == face.label else (160, 174, 192), -1)
        cv2.putText(block, f"{p:.0%}", (bar_right + 6, y + 18), FONT, 0.5, (30, 30, 30), 1, cv2.LINE_AA)
    return block
