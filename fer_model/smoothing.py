"""Per-face smoothing of probabilities across video frames, so live bars do not flicker."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .inference import FacePrediction


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    w = max(0, min(ax1, bx1) - max(a[0], b[0]))
    h = max(0, min(ay1, by1) - max(a[1], b[1]))
    inter = w * h
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


def smooth(predictions: list[FacePrediction], previous: list[dict] | None, keep: float,
           min_iou: float = 0.3) -> tuple[list[FacePrediction], list[dict]]:
    """Blend each face's probabilities with those of the same face in the previous frame.

    A face continues the previous face whose box overlaps it most (IoU >= `min_iou`); its new
    probabilities are ``keep * previous + (1 - keep) * current`` (an exponential moving average).

    Args:
        predictions: this frame's faces.
        previous: the state returned for the previous frame (None at the start).
        keep: weight of the past, 0 (no smoothing) to below 1.

    Returns:
        The smoothed predictions (every other field, such as the Grad-CAM map, kept as it was)
        and the state to pass with the next frame.
    """
    previous = list(previous or [])
    smoothed, state = [], []
    for face in predictions:
        labels = list(face.probabilities)
        current = np.array([face.probabilities[label] for label in labels])
        match = max(previous, key=lambda track: _iou(track["box"], face.box), default=None)
        if match is not None and face.face_found and _iou(match["box"], face.box) >= min_iou:
            previous.remove(match)
            current = keep * np.asarray(match["probabilities"]) + (1 - keep) * current
        named = dict(zip(labels, current.tolist()))
        smoothed.append(replace(face, label=max(named, key=named.get), probabilities=named))  # keeps saliency
        state.append({"box": list(face.box), "probabilities": current.tolist()})
    return smoothed, state
