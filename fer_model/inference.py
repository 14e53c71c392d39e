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
from .preprocess import ImageLike, face_views, load_image, normalize, to_grayscale


@torch.inference_mode()
def predict_logits(model: FERNet, faces: np.ndarray | torch.Tensor, batch_size: int = 512,
                   device: str | torch.device | None = None) -> torch.Tensor:
    """Logits (N, classes), float32 on the CPU, of uint8 model inputs (N, size, size).

    The one forward pass behind every prediction: the recognizer, evaluation, training's
    validation and the app. Runs in eval mode (restoring the model's mode after) and in
    channels_last layout (measured faster for these convolutions in bench/inference.py).
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    faces = torch.as_tensor(faces)
    outputs = []
    for start in range(0, len(faces), batch_size):
        batch = normalize(faces[start:start + batch_size].to(device), model.mean, model.std)
        outputs.append(model(batch.contiguous(memory_format=torch.channels_last)).float().cpu())
    model.train(was_training)
    return torch.cat(outputs) if outputs else torch.empty(0, len(model.labels))


def calibrated_probabilities(logits: torch.Tensor, temperature: float, views: int = 1) -> np.ndarray:
    """softmax(logits / temperature), averaged over each run of `views` consecutive rows
    (the views of one face): (N * views, classes) -> (N, classes)."""
    probabilities = torch.softmax(logits.float() / temperature, dim=1)
    return probabilities.view(-1, views, probabilities.shape[1]).mean(1).numpy()


def views_of_crops(model: FERNet, faces: list[np.ndarray] | np.ndarray, test_time: bool = True) -> np.ndarray:
    """Model inputs (N * V, size, size) of face crops that are already framed (FER-2013 rows, or
    images taken whole): the config's test-time views around each whole crop, or one plain view."""
    options = model.views
    if not test_time:
        options.update(scales=[1.0], flip=False)
    options["crop_scale"] = 1.0
    return np.concatenate([face_views(face, (0, 0, face.shape[1], face.shape[0]), **options) for face in faces])


def predict_crops(model: FERNet, faces: list[np.ndarray] | np.ndarray, test_time: bool = True,
                  batch_size: int = 512) -> np.ndarray:
    """Calibrated probabilities (N, classes) of framed grayscale face crops, through the config's
    test-time averaging (or a single view with `test_time=False`)."""
    views = model.views_per_face if test_time else 1
    logits = predict_logits(model, views_of_crops(model, faces, test_time), batch_size)
    return calibrated_probabilities(logits, model.temperature, views)


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

    Each face is cropped and averaged over views as the model's config says (`crop_scale`,
    `tta_scales`, `tta_flip`), so every caller gets the framing the model was chosen with.

    Example:
        >>> recognizer = EmotionRecognizer.from_pretrained()
        >>> [(p.label, round(p.score, 2)) for p in recognizer.predict("photo.jpg")]

    Args:
        model: a FERNet; its config gives labels, input size, normalisation, temperature, crop
            and test-time views.
        detector: a :class:`FaceDetector`; None classifies the whole image as one face.
        crop_side: images no larger than this on both sides are taken as face crops already (as
            FER-2013's 48x48 faces are) and classified whole, without detection.
    """

    def __init__(self, model: FERNet, detector: FaceDetector | None = None, crop_side: int = 96,
                 device: Union[str, torch.device] = "cpu") -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device, memory_format=torch.channels_last).eval()
        self.detector = detector
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
        With `saliency=True` each prediction also carries its Grad-CAM map (of the plain crop)."""
        if isinstance(image, (str, os.PathLike, bytes)):
            image = load_image(image)
        gray = to_grayscale(image)
        is_crop = max(gray.shape) <= self.crop_side
        boxes = self.detector.detect(gray) if self.detector is not None and not is_crop else []
        return self.predict_boxes(gray, boxes, saliency=saliency)

    def predict_boxes(self, gray: np.ndarray, boxes: list[Box], saliency: bool = False) -> list[FacePrediction]:
        """Predictions for the faces at `boxes` of a grayscale image (H, W), or for the whole
        image when `boxes` is empty (taken as a framed face crop)."""
        face_found = bool(boxes)
        if face_found:
            views = np.concatenate([face_views(gray, box.as_tuple(), **self.model.views) for box in boxes])
        else:
            boxes = [Box(0, 0, gray.shape[1], gray.shape[0])]
            views = views_of_crops(self.model, [gray])
        logits = predict_logits(self.model, views, device=self.device)
        probabilities = calibrated_probabilities(logits, self.model.temperature, self.model.views_per_face)
        results = [self._result(box, row, face_found) for box, row in zip(boxes, probabilities)]
        if saliency:
            plain = normalize(torch.from_numpy(views[::self.model.views_per_face]), self.model.mean, self.model.std)
            plain = plain.to(self.device).contiguous(memory_format=torch.channels_last)
            maps = grad_cam(self.model, plain, torch.from_numpy(probabilities.argmax(1))).cpu().numpy()
            for result, heatmap in zip(results, maps):
                result.saliency = heatmap
        return results

    def predict_faces(self, faces: list[np.ndarray]) -> np.ndarray:
        """Probabilities (N, classes) for framed grayscale face crops of any size, in one batch."""
        return predict_crops(self.model, faces)

    def _result(self, box: Box, probabilities: np.ndarray, face_found: bool) -> FacePrediction:
        named = {label: float(p) for label, p in zip(self.labels, probabilities)}
        return FacePrediction(box.as_tuple(), max(named, key=named.get), named, face_found)
