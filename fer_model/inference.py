"""EmotionRecognizer: image in, one prediction per face out."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch

from .detect import Box, FaceDetector, HaarFaceDetector
from .model import FERNet, ModelLoadError
from .saliency import grad_cam
from .preprocess import ImageLike, load_image, normalize, resize_face, to_grayscale


@dataclass
class FacePrediction:
    """The emotion of one face.

    Attributes:
        box: (x, y, w, h) in pixels of the input image; the whole image when no face was found.
        label: the most probable emotion.
        probabilities: every label's probability (temperature-calibrated), summing to 1.
        face_found: False when no face was detected and the whole image was classified.
    """

    box: tuple[int, int, int, int]
    label: str
    probabilities: dict[str, float]
    face_found: bool
    saliency: np.ndarray | None = field(default=None, repr=False)  # Grad-CAM map (48, 48) in [0, 1]

    @property
    def score(self) -> float:
        return self.probabilities[self.label]

    def to_dict(self) -> dict[str, Any]:
        return {"box": list(self.box), "label": self.label, "score": self.score,
                "probabilities": dict(self.probabilities), "face_found": self.face_found}


class EmotionRecognizer:
    """Detects faces and classifies the expression of each one.

    Example:
        >>> recognizer = EmotionRecognizer.from_pretrained()
        >>> [(p.label, round(p.score, 2)) for p in recognizer.predict("photo.jpg")]

    Args:
        model: a FERNet; its config gives labels, input size, normalisation and temperature.
        detector: a :class:`FaceDetector`; None classifies the whole image as one face.
        margin: fraction of the box size added on every side of a detected face before cropping.
        crop_side: images no larger than this on both sides are taken as face crops already (as
            FER-2013's 48x48 faces are) and classified whole, without detection.
    """

    def __init__(self, model: FERNet, detector: FaceDetector | None = None, margin: float = 0.1,
                 crop_side: int = 96, device: Union[str, torch.device] = "cpu") -> None:
        self.device = torch.device(device)
        # channels_last: measured faster for these convolutions (bench/inference.py), same outputs to 1e-5
        self.model = model.to(self.device, memory_format=torch.channels_last).eval()
        self.detector = detector
        self.margin = margin
        self.crop_side = crop_side

    @classmethod
    def from_pretrained(cls, path: Union[str, os.PathLike, None] = None, detector: FaceDetector | None = None,
                        **kwargs: Any) -> "EmotionRecognizer":
        """Load a saved FERNet (default: the model shipped with the package) and the Haar detector."""
        from . import DEFAULT_MODEL

        path = DEFAULT_MODEL if path is None else path
        if Path(path) == DEFAULT_MODEL and not (DEFAULT_MODEL / "model.safetensors").exists():
            raise ModelLoadError(f"the shipped model is missing at {DEFAULT_MODEL}; train one with train.py "
                                 "or pass the path of a saved model")
        return cls(FERNet.from_pretrained(path), detector or HaarFaceDetector(), **kwargs)

    @property
    def labels(self) -> list[str]:
        return self.model.labels

    def predict(self, image: Union[ImageLike, str, os.PathLike, bytes], saliency: bool = False) -> list[FacePrediction]:
        """Predictions for every face in `image` (largest first), or one for the whole image when
        no face is found. Accepts a path, bytes, a PIL image or a numpy array (RGB or grayscale).
        With `saliency=True` each prediction also carries its Grad-CAM map."""
        if isinstance(image, (str, os.PathLike, bytes)):
            image = load_image(image)
        gray = to_grayscale(image)
        is_crop = max(gray.shape) <= self.crop_side
        boxes = self.detector.detect(gray) if self.detector is not None and not is_crop else []
        face_found = bool(boxes)
        if not boxes:
            boxes = [Box(0, 0, gray.shape[1], gray.shape[0])]
        crops = [self._crop(gray, box) for box in boxes]
        batch = self._batch(crops)
        probabilities = self._probabilities(batch)
        results = [self._result(box, row, face_found) for box, row in zip(boxes, probabilities)]
        if saliency:
            maps = grad_cam(self.model, batch, torch.from_numpy(probabilities.argmax(1))).cpu().numpy()
            for result, heatmap in zip(results, maps):
                result.saliency = heatmap
        return results

    def predict_faces(self, faces: list[np.ndarray]) -> np.ndarray:
        """Probabilities (N, classes) for grayscale face crops of any size, in one batch."""
        return self._probabilities(self._batch(faces))

    def _batch(self, faces: list[np.ndarray]) -> torch.Tensor:
        size = self.model.image_size
        batch = torch.from_numpy(np.stack([resize_face(face, size) for face in faces]))
        faces = normalize(batch, self.model.mean, self.model.std).to(self.device)
        return faces.contiguous(memory_format=torch.channels_last)

    def _probabilities(self, batch: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            logits = self.model(batch)
            return torch.softmax(logits.float() / self.model.temperature, dim=1).cpu().numpy()

    def _crop(self, gray: np.ndarray, box: Box) -> np.ndarray:
        grown = box.expanded(self.margin, gray.shape[1], gray.shape[0])
        return gray[grown.y:grown.y + grown.h, grown.x:grown.x + grown.w]

    def _result(self, box: Box, probabilities: np.ndarray, face_found: bool) -> FacePrediction:
        named = {label: float(p) for label, p in zip(self.labels, probabilities)}
        return FacePrediction(box.as_tuple(), max(named, key=named.get), named, face_found)
