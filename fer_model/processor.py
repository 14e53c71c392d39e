"""FaceProcessor: how a detected face becomes model inputs and how the model's logits become the
probabilities a user sees. It lives beside the weights in `preprocessor_config.json`, as Hugging
Face keeps an image processor beside `config.json`; the network config describes the network.

    face box --crop_scale, crop_shift, align_eyes, tta_scales, tta_flip--> views (V, 48, 48) --FERNet--> logits (V, 7)
      --/ temperature, + log(prior / trained_prior)--> softmax --mean over the V views--> (7,)

The class prior is a logit adjustment (Menon et al., "Long-tail learning via logit adjustment",
ICLR 2021): the model's calibrated posterior assumes the class distribution it was trained on
(`trained_prior`); Bayes' rule moves it to another one by adding log(prior) - log(trained_prior)
to the tempered logits. Named priors:

- "trained": the distribution the model learned, no adjustment;
- "balanced": every expression equally likely (posed faces, someone making faces at a camera);
- "everyday": the FER+ crowd's distribution of FER-2013's faces found on the web (mostly neutral
  and happy), stored as `everyday_prior`;
- or a list of one probability per label.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .model import CONFIG_NAME, LEGACY_KEYS, ModelLoadError, atomic_write, write_config
from .detect import Box
from .preprocess import eye_angle, face_views
from .errors import ProcessorError

PROCESSOR_NAME = "preprocessor_config.json"
PRIOR_NAMES = ("trained", "balanced", "everyday")


@dataclass
class FaceProcessor:
    """Crop, test-time views, calibration and class prior of a model (see the module docstring).

    Attributes:
        image_size: side of the model's square input.
        crop_scale: side of the square cropped around a detected face, relative to the longer side
            of the detector's box.
        crop_shift: (x, y) offset of that square's centre from the box's centre, in units of the
            box's longer side (y down). Together with `crop_scale` it maps the detector's box to
            the framing the model learned (docs/experiments.md measures it for YuNet's boxes on
            FER-2013's own faces). Folders saved before it existed load with [0, 0].
        align_eyes: turn each crop so that the detector's two eye landmarks are level (no effect
            for a box without landmarks). Folders saved before it existed load with False.
        tta_scales: crops at these scales (relative to `crop_scale`) are averaged; [1.0]: one crop.
        tta_flip: also average over the mirror image of every crop.
        temperature: logits are divided by it before the softmax (fitted on PublicTest).
        prior: the class prior assumed for the faces predicted: "trained", "balanced",
            "everyday", or one probability per label.
        trained_prior: the class distribution the model was trained on (None: uniform).
        everyday_prior: the crowd's distribution of everyday faces (None: "everyday" unavailable).
    """

    image_size: int = 48
    crop_scale: float = 1.0
    crop_shift: list[float] = field(default_factory=lambda: [0.0, 0.0])
    align_eyes: bool = False
    tta_scales: list[float] = field(default_factory=lambda: [1.0])
    tta_flip: bool = False
    temperature: float = 1.0
    prior: str | list[float] = "trained"
    trained_prior: list[float] | None = None
    everyday_prior: list[float] | None = None

    def __post_init__(self) -> None:
        if self.crop_scale <= 0 or not self.tta_scales or min(self.tta_scales) <= 0:
            raise ProcessorError(f"crop_scale ({self.crop_scale}) and tta_scales ({self.tta_scales}) must be positive")
        if self.temperature <= 0:
            raise ProcessorError(f"temperature must be positive, not {self.temperature}")
        self.crop_scale, self.temperature = float(self.crop_scale), float(self.temperature)
        if len(self.crop_shift) != 2:
            raise ProcessorError(f"crop_shift must be two numbers (x, y), not {self.crop_shift}")
        self.crop_shift, self.align_eyes = [float(v) for v in self.crop_shift], bool(self.align_eyes)
        self.tta_scales, self.tta_flip = [float(s) for s in self.tta_scales], bool(self.tta_flip)
        for name in ("trained_prior", "everyday_prior"):
            if getattr(self, name) is not None:
                setattr(self, name, _distribution(getattr(self, name), name))
        self.prior_vector()  # refuse an unknown name or a bad vector now, not at the first prediction

    # ----------------------------------------------------------------------------------- views

    @property
    def views_per_face(self) -> int:
        """How many model inputs one face becomes."""
        return len(self.tta_scales) * (2 if self.tta_flip else 1)

    def face_views(self, gray: np.ndarray, box: Box | tuple[int, int, int, int]) -> np.ndarray:
        """The model inputs (V, size, size) uint8 of the face at `box` (a detector's :class:`Box`,
        or (x, y, w, h)) of a grayscale image. View 0 is the plain crop at `crop_scale`."""
        angle = eye_angle(box.landmarks) if self.align_eyes and isinstance(box, Box) else 0.0
        xywh = box.as_tuple() if isinstance(box, Box) else tuple(box)
        return face_views(gray, xywh, self.image_size, self.crop_scale, self.tta_scales, self.tta_flip,
                          self.crop_shift, angle)

    def crop_views(self, faces: Sequence[np.ndarray]) -> np.ndarray:
        """Model inputs (N * V, size, size) of face crops already framed (FER-2013 rows, or images
        taken whole): the test-time views around each whole crop."""
        whole = dataclasses.replace(self, crop_scale=1.0, crop_shift=[0.0, 0.0])
        return np.concatenate([whole.face_views(face, (0, 0, face.shape[1], face.shape[0])) for face in faces])

    def single_view(self) -> "FaceProcessor":
        """The same processor with one plain crop per face (the model alone; the live webcam)."""
        return dataclasses.replace(self, tta_scales=[1.0], tta_flip=False)

    def with_prior(self, prior: str | Sequence[float] | None) -> "FaceProcessor":
        """The same processor assuming another class prior (None: unchanged)."""
        return self if prior is None else dataclasses.replace(self, prior=prior if isinstance(prior, str) else list(prior))

    # ----------------------------------------------------------------------------- probabilities

    def prior_vector(self, prior: str | Sequence[float] | None = None) -> np.ndarray | None:
        """The class distribution `prior` (default: this processor's) as a vector, or None for "trained"."""
        prior = self.prior if prior is None else prior
        if isinstance(prior, str):
            if prior not in PRIOR_NAMES:
                raise ProcessorError(f"unknown prior {prior!r}; use one of {', '.join(PRIOR_NAMES)} or a list of "
                                     "one probability per label")
            if prior == "trained":
                return None
            if prior == "balanced":
                return np.full(self.classes, 1 / self.classes)
            if self.everyday_prior is None:
                raise ProcessorError("this model has no everyday_prior in its preprocessor_config.json, so the "
                                     "'everyday' prior is not available; pass a list of probabilities instead")
            return np.asarray(self.everyday_prior)
        vector = np.asarray(_distribution(prior, "prior"))
        if len(vector) != self.classes:
            raise ProcessorError(f"the prior has {len(vector)} entries but the model has {self.classes} labels")
        return vector

    @property
    def classes(self) -> int:
        return len(self.trained_prior or self.everyday_prior or [0] * 7)

    def logit_adjustment(self, prior: str | Sequence[float] | None = None) -> torch.Tensor | None:
        """log(prior) - log(trained_prior), added to the tempered logits; None for "trained"."""
        vector = self.prior_vector(prior)
        if vector is None:
            return None
        trained = np.asarray(self.trained_prior) if self.trained_prior is not None else np.full(len(vector), 1 / len(vector))
        return torch.from_numpy(np.log(vector) - np.log(trained)).float()

    def probabilities(self, logits: torch.Tensor) -> np.ndarray:
        """Calibrated probabilities (N, classes) under this processor's prior, averaged over each
        face's views: logits (N * views_per_face, classes) in, as face_views/crop_views make them."""
        views = self.views_per_face
        scaled = logits.float() / self.temperature
        adjustment = self.logit_adjustment()
        if adjustment is not None:
            scaled = scaled + adjustment
        probabilities = torch.softmax(scaled, dim=1)
        return probabilities.view(-1, views, probabilities.shape[1]).mean(1).numpy()

    # ------------------------------------------------------------------------------------ files

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save_pretrained(self, folder: str | os.PathLike) -> None:
        """Write `folder/preprocessor_config.json` (atomically)."""
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True)
        atomic_write(Path(folder) / PROCESSOR_NAME, lambda path: Path(path).write_text(text))

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike) -> "FaceProcessor":
        """The processor saved in a model folder. A folder in the older layout (crop, views and
        temperature inside config.json, no preprocessor_config.json) loads with those values."""
        folder = Path(folder)
        path = folder / PROCESSOR_NAME
        source = path if path.is_file() else folder / CONFIG_NAME
        try:
            values = json.loads(source.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ModelLoadError(f"{source}: not a readable processor config ({error})") from error
        if source != path:  # the older layout, or a bare network folder: the settings config.json has
            values = {"image_size": values.get("image_size", 48),
                      **{key: values[key] for key in LEGACY_KEYS if key in values}}
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ModelLoadError(f"{source}: unknown processor entries {unknown}; expected some of {sorted(names)}")
        try:
            return cls(**values)
        except (ProcessorError, TypeError, ValueError) as error:
            raise ModelLoadError(f"{source}: {error}") from error


def _distribution(values: Sequence[float], name: str) -> list[float]:
    vector = np.asarray(values, dtype=np.float64)
    if vector.ndim != 1 or len(vector) < 2 or not np.all(np.isfinite(vector)) or np.any(vector <= 0):
        raise ProcessorError(f"{name} must be a list of positive probabilities, one per label, not {list(values)}")
    return (vector / vector.sum()).tolist()


def update_processor(folder: str | os.PathLike, **changes: Any) -> FaceProcessor:
    """Change entries of a saved model's processor (the fitted temperature, the chosen crop or prior),
    refusing names it does not have; returns the new processor. A folder in the older layout is
    moved to the new one: preprocessor_config.json written, the settings taken out of config.json."""
    names = {f.name for f in dataclasses.fields(FaceProcessor)}
    unknown = sorted(set(changes) - names)
    if unknown:
        raise ProcessorError(f"not processor entries: {', '.join(unknown)}; expected some of {sorted(names)}")
    processor = dataclasses.replace(FaceProcessor.from_pretrained(folder), **changes)
    processor.save_pretrained(folder)
    config_path = Path(folder) / CONFIG_NAME
    config = json.loads(config_path.read_text())
    if any(key in config for key in LEGACY_KEYS):
        write_config(folder, {key: value for key, value in config.items() if key not in LEGACY_KEYS})
    return processor


def parse_prior(text: str) -> str | list[float]:
    """A prior from the command line: a name, or comma-separated probabilities (argparse type)."""
    import argparse

    if text in PRIOR_NAMES:
        return text
    try:
        return _distribution([float(part) for part in text.split(",")], "the prior")
    except (ValueError, ProcessorError) as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not {', '.join(PRIOR_NAMES)} or comma-separated positive "
                                         f"probabilities, one per label") from error


def training_prior(targets: np.ndarray, classes: int, class_weights: np.ndarray | None = None,
                   label_smoothing: float = 0.0) -> list[float]:
    """The class distribution a cross-entropy loss teaches (Menon et al. 2021), to store as
    `trained_prior`: the frequencies of the targets (class indices (N,) or distributions
    (N, classes); a class without any counts as one), times the loss's class weights, with label
    smoothing's uniform share mixed in."""
    targets = np.asarray(targets)
    counts = targets.sum(0) if targets.ndim == 2 else np.bincount(targets, minlength=classes)
    counts = np.where(counts > 0, counts, 1.0).astype(np.float64)  # a class never seen counts once: no prior is 0
    counts = counts * (1.0 if class_weights is None else np.asarray(class_weights, dtype=np.float64))
    prior = counts / counts.sum()
    return ((1 - label_smoothing) * prior + label_smoothing / classes).tolist()

