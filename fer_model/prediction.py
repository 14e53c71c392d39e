"""FacePrediction: what the recognizer says about one face, and what the tracker, the renderer
and the batch writers read (a module of its own, below all of them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class FacePrediction:
    """The emotion of one face.

    Attributes:
        box: (x, y, w, h) in pixels of the input image; the whole image when no face was found.
        label: the most probable emotion.
        probabilities: every label's probability (temperature-calibrated), summing to 1.
        face_found: False when no face was detected and the whole image was classified.
        landmarks: the detector's five points by name (right_eye, left_eye, nose_tip,
            mouth_right, mouth_left; the person's own right and left), [x, y] in pixels of the
            input image; None when the detector gives none or no face was found.
        detector_score: the detector's confidence in the face (None likewise).
    """

    box: tuple[int, int, int, int]
    label: str
    probabilities: dict[str, float]
    face_found: bool
    saliency: np.ndarray | None = field(default=None, repr=False)  # Grad-CAM map (48, 48) in [0, 1]
    landmarks: dict[str, list[float]] | None = None
    detector_score: float | None = None

    @property
    def score(self) -> float:
        return self.probabilities[self.label]

    def to_dict(self) -> dict[str, Any]:
        return {"box": list(self.box), "label": self.label, "score": self.score,
                "probabilities": dict(self.probabilities), "face_found": self.face_found,
                "landmarks": self.landmarks, "detector_score": self.detector_score}
