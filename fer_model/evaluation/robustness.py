"""What a detector, a camera and a photo do to a face, as fixed perturbations of framed crops,
and the accuracy of a model under each of them.

Every perturbation is deterministic (signs alternate from row to row where a direction matters),
so two models, or two runs, see exactly the same inputs.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from PIL import Image

from .metrics import classification_metrics
from ..models.fernet import FERNet
from ..processing.preprocess import crop_face, resize_face
from ..processing.processor import FaceProcessor

Perturbation = Callable[[np.ndarray, int], np.ndarray]  # (face (H, W) uint8, row index) -> face


def _sign(index: int) -> int:
    return 1 if index % 2 == 0 else -1


def _framed(scale: float, shift_x: float = 0.0, shift_y: float = 0.0) -> Perturbation:
    """A crop `scale` x the face's side (> 1 zooms out, edge pixels repeated beyond the image),
    its centre moved by a fraction of the side (sign alternating by row)."""
    def apply(face: np.ndarray, index: int) -> np.ndarray:
        side = face.shape[0]
        box = (int(round(_sign(index) * shift_x * side)), int(round(_sign(index) * shift_y * side)), side, side)
        return resize_face(np.ascontiguousarray(crop_face(face, box, scale)), side)
    return apply


def _rotated(degrees: float) -> Perturbation:
    def apply(face: np.ndarray, index: int) -> np.ndarray:
        side = face.shape[0]
        matrix = cv2.getRotationMatrix2D((side / 2 - 0.5, side / 2 - 0.5), _sign(index) * degrees, 1.0)
        return cv2.warpAffine(face, matrix, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return apply


def _lut(table: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    return np.clip(np.round(table(np.arange(256, dtype=np.float64) / 255) * 255), 0, 255).astype(np.uint8)


def _brightness(delta: float) -> Perturbation:
    brighter, darker = _lut(lambda v: v + delta), _lut(lambda v: v - delta)
    return lambda face, index: (brighter if _sign(index) > 0 else darker)[face]


def _contrast(factor: float) -> Perturbation:
    def apply(face: np.ndarray, index: int) -> np.ndarray:
        mean = face.mean()
        return np.clip(np.round((face - mean) * factor + mean), 0, 255).astype(np.uint8)
    return apply


def _gamma(power: float) -> Perturbation:
    up, down = _lut(lambda v: v ** power), _lut(lambda v: v ** (1 / power))
    return lambda face, index: (up if _sign(index) > 0 else down)[face]


def _blur(sigma: float) -> Perturbation:
    return lambda face, index: cv2.GaussianBlur(face, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REPLICATE)


def _jpeg(quality: int) -> Perturbation:
    def apply(face: np.ndarray, index: int) -> np.ndarray:
        buffer = io.BytesIO()
        Image.fromarray(face).save(buffer, format="JPEG", quality=quality)
        return np.asarray(Image.open(buffer).convert("L"), dtype=np.uint8)
    return apply


def _downscaled(side: int) -> Perturbation:
    def apply(face: np.ndarray, index: int) -> np.ndarray:
        small = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, face.shape[::-1], interpolation=cv2.INTER_LINEAR)
    return apply


# name -> perturbation of a framed face crop; "clean" first.
PERTURBATIONS: dict[str, Perturbation] = {
    "clean": lambda face, index: face,
    "zoom out 20%": _framed(1.2),
    "zoom in 20%": _framed(0.8),
    "shift 10% (x)": _framed(1.0, shift_x=0.1),
    "shift 10% (y)": _framed(1.0, shift_y=0.1),
    "rotation 15 deg": _rotated(15),
    "brightness +/-0.2": _brightness(0.2),
    "contrast x0.5": _contrast(0.5),
    "gamma 0.6 / 1.67": _gamma(0.6),
    "blur sigma 1 px": _blur(1.0),
    "JPEG quality 30": _jpeg(30),
    "downscaled to 24 px": _downscaled(24),
}


def perturb(faces: np.ndarray, name: str) -> np.ndarray:
    """The faces (N, H, W) uint8 under the named perturbation."""
    apply = PERTURBATIONS[name]
    return np.stack([apply(face, index) for index, face in enumerate(faces)])


def robustness_table(model: FERNet, processor: FaceProcessor, faces: np.ndarray, labels: np.ndarray,
                     names: list[str] | None = None, progress=lambda items, desc: items,
                     clean: np.ndarray | None = None) -> dict[str, dict]:
    """Accuracy and macro-F1 of `model` through `processor` (``processor.single_view()`` for the
    model alone) under each perturbation, plus the mean over the perturbed rows. `clean`: the
    probabilities of the unperturbed faces where they are already at hand."""
    from ..pipelines.inference import predict_crops

    table = {}
    views = "one crop" if processor.views_per_face == 1 else f"{processor.views_per_face} views"
    for name in progress(names or list(PERTURBATIONS), desc=f"robustness ({views})"):
        reuse = name == "clean" and clean is not None
        predicted = (clean if reuse else predict_crops(model, processor, perturb(faces, name))).argmax(1)
        metrics = classification_metrics(labels, predicted, model.labels)
        table[name] = {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}
    perturbed = [row for name, row in table.items() if name != "clean"]
    if perturbed:
        table["mean of perturbed"] = {key: float(np.mean([row[key] for row in perturbed]))
                                      for key in ("accuracy", "macro_f1")}
    return table


def load_labelled_photos(folder: str | Path, labels: list[str]) -> tuple[list[Path], np.ndarray]:
    """Photos listed in `folder/labels.csv` (columns file, label) and their label indices in `labels` order."""
    import csv

    folder = Path(folder)
    index = {name: i for i, name in enumerate(labels)}
    with open(folder / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    unknown = sorted({row["label"] for row in rows} - set(index))
    if unknown:
        raise ValueError(f"{folder / 'labels.csv'}: labels {unknown} are not among the model's {labels}")
    return [folder / row["file"] for row in rows], np.array([index[row["label"]] for row in rows])


def photo_metrics(recognizer, photos: list[Path], labels: np.ndarray, priors: list[str] | None = None,
                  progress=lambda items, desc: items, chunk: int = 64) -> dict:
    """Metrics of the top (largest) face of each photo through the default path (detection, crop,
    views, model, calibration and prior, as `recognizer.predict` runs them), with the share of
    photos where a face was detected. With `priors`, {prior: metrics}: each photo is read, searched
    and run through the model once, `chunk` photos at a time (EmotionRecognizer.predict_many)."""
    outcomes = {prior: [] for prior in priors or [None]}
    found = []
    for start in progress(range(0, len(photos), chunk), desc=f"wild_faces photos ({chunk} at a time)"):
        for answers in recognizer.predict_many(photos[start:start + chunk], list(outcomes)):
            found.append(answers[0][0].face_found)
            for predicted, faces in zip(outcomes.values(), answers):
                predicted.append(recognizer.labels.index(faces[0].label))
    results = {}
    for prior, predicted in outcomes.items():
        results[prior] = classification_metrics(labels, np.array(predicted), recognizer.labels)
        results[prior]["faces_found"] = float(np.mean(found))
    return results if priors else results[None]
