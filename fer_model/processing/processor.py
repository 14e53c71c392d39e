"""FaceProcessor: the whole way from a grayscale image to model inputs, and from the model's
logits to the probabilities a user sees. It lives beside the weights in `preprocessor_config.json`,
as Hugging Face keeps an image processor (size, mean, std) beside `config.json`; the network
config describes the network, and holds the input size its layers are built for (the processor
reads it from there: one record of it).

    image --no larger than crop_side: already a face crop--> the whole image as one face
    face box --crop_scale, crop_shift, align_eyes, tta_scales, tta_flip--> views (V, 48, 48) uint8
      --(x / 255 - mean) / std--> pixel values (V, 1, 48, 48) --FERNet--> logits (V, 7)
      --/ temperature, + log(prior / trained_prior)--> softmax --mean over the V views--> (7,)

Every entry point goes through these calls: the recognizer and the app (`__call__`, NumPy only,
so inference runs without torch), evaluation (`crop_inputs`, `normalize`), training (`normalize`
on the augmented batches).

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

from ..vision.detect import Box
from ..errors import ModelLoadError, ProcessorError
from ..folder import CONFIG_NAME, PROCESSOR_NAME, WEIGHTS_NAME, atomic_write
from ..labels import FER2013_LABELS
from .preprocess import eye_angle, face_views

PRIOR_NAMES = ("trained", "balanced", "everyday")
# Hugging Face's image-processor keys (transformers' BaseImageProcessor) and the attribute each
# maps to; the rest of the file is this processor's own settings.
SCHEMA_KEYS = {"image_mean": "mean", "image_std": "std"}
PROCESSOR_TYPE = "FaceProcessor"
RESCALE_FACTOR = 1 / 255


@dataclass
class FaceInputs:
    """What FaceProcessor makes of one image: the faces' boxes (the whole image when none was
    found), whether a face was found, and the network's input (N * views_per_face, 1, size, size),
    float32."""

    boxes: list[Box]
    face_found: bool
    pixel_values: np.ndarray


@dataclass
class FaceProcessor:
    """Crop, test-time views, calibration and class prior of a model (see the module docstring).

    Attributes:
        image_size: side of the model's square input; not saved here: read from the network's
            config.json, which builds its layers for it (an older file's copy is checked against it).
        labels: the network's labels in output order; not saved here: read from config.json.
        mean: per-channel mean subtracted from pixels scaled to [0, 1].
        std: per-channel standard deviation the pixels are then divided by.
        crop_side: an image no larger than this on both sides is taken as a face crop already (as
            FER-2013's 48x48 faces are) and classified whole, without looking for faces.
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
    labels: list[str] = field(default_factory=lambda: list(FER2013_LABELS))
    mean: list[float] = field(default_factory=lambda: [0.5])
    std: list[float] = field(default_factory=lambda: [0.5])
    crop_side: int = 96
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
        if len(self.mean) != len(self.std) or not self.mean or min(self.std) <= 0:
            raise ProcessorError(f"mean ({self.mean}) and std ({self.std}) must be one number per channel, std positive")
        self.mean, self.std = [float(v) for v in self.mean], [float(v) for v in self.std]
        if len(self.crop_shift) != 2:
            raise ProcessorError(f"crop_shift must be two numbers (x, y), not {self.crop_shift}")
        self.crop_shift, self.align_eyes = [float(v) for v in self.crop_shift], bool(self.align_eyes)
        self.tta_scales, self.tta_flip = [float(s) for s in self.tta_scales], bool(self.tta_flip)
        for name in ("trained_prior", "everyday_prior"):
            if getattr(self, name) is not None:
                setattr(self, name, _distribution(getattr(self, name), name))
                if len(getattr(self, name)) != len(self.labels):
                    raise ProcessorError(f"{name} has {len(getattr(self, name))} entries but the model has "
                                         f"{len(self.labels)} labels ({', '.join(self.labels)})")
        self.prior_vector()  # refuse an unknown name or a bad vector now, not at the first prediction

    # ----------------------------------------------------------------------------------- inputs

    def __call__(self, gray: np.ndarray, boxes: Sequence[Box]) -> FaceInputs:
        """The model inputs of the faces at `boxes` of a grayscale image (H, W), or of the whole
        image taken as a framed face crop when there are none (no face found, or an image no
        larger than `crop_side`, which is not searched)."""
        face_found = bool(boxes)
        if face_found:
            views = np.concatenate([self.face_views(gray, box) for box in boxes])
        else:
            boxes = [Box(0, 0, gray.shape[1], gray.shape[0])]
            views = self.crop_views([gray])
        return FaceInputs(list(boxes), face_found, self.pixel_values(views))

    def is_face_crop(self, gray: np.ndarray) -> bool:
        """Whether an image is small enough to be a face crop already (not searched for faces)."""
        return max(gray.shape[:2]) <= self.crop_side

    def pixel_values(self, faces: np.ndarray) -> np.ndarray:
        """uint8 faces (N, H, W) or (N, 1, H, W) -> the network's input (N, 1, H, W) as a NumPy
        float32 array, (x / 255 - mean) / std: what inference feeds either runtime (no torch)."""
        faces = np.asarray(faces)
        faces = faces.astype(np.float32) / np.float32(255.0) if faces.dtype == np.uint8 else faces.astype(np.float32)
        if faces.ndim == 3:
            faces = faces[:, None]
        mean = np.asarray(self.mean, dtype=np.float32).reshape(1, -1, 1, 1)
        std = np.asarray(self.std, dtype=np.float32).reshape(1, -1, 1, 1)
        return (faces - mean) / std

    def normalize(self, faces):
        """uint8 faces (N, H, W) or (N, 1, H, W), or floats already in [0, 1] (the augmented
        training batches) -> the network's float32 input (N, 1, H, W) as a torch tensor:
        (x - mean) / std. Training and evaluation use it; it needs torch."""
        import torch

        if not isinstance(faces, torch.Tensor):
            return torch.from_numpy(self.pixel_values(faces))
        faces = faces.float().div_(255.0) if faces.dtype == torch.uint8 else faces.float()
        if faces.ndim == 3:
            faces = faces.unsqueeze(1)
        mean = torch.tensor(self.mean, device=faces.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=faces.device).view(1, -1, 1, 1)
        return (faces - mean) / std

    def crop_inputs(self, faces: Sequence[np.ndarray]) -> np.ndarray:
        """The network's input (N * V, 1, size, size) of framed face crops (FER-2013 rows)."""
        return self.pixel_values(self.crop_views(faces))


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

    def prior_names(self) -> list[str]:
        """The named priors this model offers: "everyday" only with an everyday_prior."""
        return [name for name in PRIOR_NAMES if name != "everyday" or self.everyday_prior is not None]

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
        return len(self.labels)

    def logit_adjustment(self, prior: str | Sequence[float] | None = None) -> np.ndarray | None:
        """log(prior) - log(trained_prior) (float32), added to the tempered logits; None for "trained"."""
        vector = self.prior_vector(prior)
        if vector is None:
            return None
        trained = np.asarray(self.trained_prior) if self.trained_prior is not None else np.full(len(vector), 1 / len(vector))
        return (np.log(vector) - np.log(trained)).astype(np.float32)

    def probabilities(self, logits) -> np.ndarray:
        """Calibrated probabilities (N, classes) under this processor's prior, averaged over each
        face's views: logits (N * views_per_face, classes) in (a NumPy array or a CPU torch
        tensor), as face_views/crop_views make them. float32, as the network computes."""
        views = self.views_per_face
        logits = logits.detach().cpu().numpy() if hasattr(logits, "detach") else np.asarray(logits)
        scaled = logits.astype(np.float32) / np.float32(self.temperature)
        adjustment = self.logit_adjustment()
        if adjustment is not None:
            scaled = scaled + adjustment
        scaled = np.exp(scaled - scaled.max(axis=1, keepdims=True))
        probabilities = scaled / scaled.sum(axis=1, keepdims=True)
        return probabilities.reshape(-1, views, probabilities.shape[1]).mean(1)

    def describe(self) -> str:
        """How the default path crops and averages, in words (the model card's "default path")."""
        crops = len(self.tta_scales)
        parts = [f"crop {self.crop_scale:g}x the face box"
                 + (f" moved by ({self.crop_shift[0]:+g}, {self.crop_shift[1]:+g}) box sides" if any(self.crop_shift) else "")
                 + (", eyes levelled" if self.align_eyes else "")]
        if crops > 1:
            parts.append(f"{crops} crops ({', '.join(f'{s:g}' for s in self.tta_scales)})")
        if self.tta_flip:
            parts.append("flip")
        return ", ".join(parts)

    # ------------------------------------------------------------------------------------ files

    def to_dict(self) -> dict[str, Any]:
        """What preprocessor_config.json holds, in the image-processor schema of Hugging Face
        (`image_processor_type`, `do_rescale`, `rescale_factor`, `do_normalize`, `image_mean`,
        `image_std`, `size`) with this processor's own settings beside them. `size` repeats
        config.json's image_size, which builds the network; loading checks that they agree."""
        values = dataclasses.asdict(self)
        size = values.pop("image_size")
        del values["labels"]  # config.json's
        for key, name in SCHEMA_KEYS.items():
            values[key] = values.pop(name)
        return {"image_processor_type": PROCESSOR_TYPE, "do_rescale": True, "rescale_factor": RESCALE_FACTOR,
                "do_normalize": True, "size": {"height": size, "width": size}, **values}

    def save_pretrained(self, folder: str | os.PathLike) -> None:
        """Write `folder/preprocessor_config.json` (atomically)."""
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True)
        atomic_write(Path(folder) / PROCESSOR_NAME, lambda path: Path(path).write_text(text))

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike) -> "FaceProcessor":
        """The processor saved in a model folder (`preprocessor_config.json`), with the input size
        and labels of its config.json; a file whose `size` disagrees with config.json is refused."""
        folder = Path(folder)
        path, config_path = folder / PROCESSOR_NAME, folder / CONFIG_NAME
        for needed in (path, config_path):
            if not needed.is_file():
                raise ModelLoadError(f"{folder}: no {needed.name}; a model folder holds {CONFIG_NAME}, {PROCESSOR_NAME} "
                                     f"and {WEIGHTS_NAME} (FERNet.save_pretrained writes them)")
        network = _read_json(config_path)
        size = network.get("image_size", 48)
        values = {**_from_schema(_read_json(path), path, size), "image_size": size}
        if "labels" in network:
            values["labels"] = list(network["labels"])
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ModelLoadError(f"{path}: unknown processor entries {unknown}; expected some of {sorted(names)}")
        try:
            return cls(**values)
        except (ProcessorError, TypeError, ValueError) as error:
            raise ModelLoadError(f"{path}: {error}") from error


def _from_schema(values: dict, source: Path, size: int) -> dict:
    """preprocessor_config.json's entries as FaceProcessor's attributes: the image-processor keys
    mapped to ours, the fixed ones checked."""
    values = dict(values)
    if "image_processor_type" not in values or not set(SCHEMA_KEYS) <= set(values):
        raise ModelLoadError(f"{source}: not an image-processor file (it needs image_processor_type, "
                             f"{', '.join(SCHEMA_KEYS)})")
    for key, name in SCHEMA_KEYS.items():
        values[name] = values.pop(key)
    kind = values.pop("image_processor_type")
    rescale = (values.pop("do_rescale", True), values.pop("rescale_factor", RESCALE_FACTOR), values.pop("do_normalize", True))
    if kind != PROCESSOR_TYPE:
        raise ModelLoadError(f"{source}: image_processor_type {kind!r}; fer_model reads {PROCESSOR_TYPE!r}")
    if rescale[0] is not True or abs(float(rescale[1]) - RESCALE_FACTOR) > 1e-12 or rescale[2] is not True:
        raise ModelLoadError(f"{source}: do_rescale {rescale[0]}, rescale_factor {rescale[1]}, do_normalize "
                             f"{rescale[2]}; the network was trained on pixels / 255, then normalised")
    if values.pop("image_size", size) != size:
        raise ModelLoadError(f"{source}: image_size disagrees with config.json, which builds the network for {size}")
    if "size" in values:
        given = values.pop("size")
        if not isinstance(given, dict) or given.get("height") != size or given.get("width") != size:
            raise ModelLoadError(f"{source}: size {given} but config.json builds the network for {size}x{size}")
    return values


def _read_json(path: Path) -> dict:
    """A config file's entries."""
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ModelLoadError(f"{path}: not a readable processor config ({error})") from error


def _distribution(values: Sequence[float], name: str) -> list[float]:
    vector = np.asarray(values, dtype=np.float64)
    if vector.ndim != 1 or len(vector) < 2 or not np.all(np.isfinite(vector)) or np.any(vector <= 0):
        raise ProcessorError(f"{name} must be a list of positive probabilities, one per label, not {list(values)}")
    return (vector / vector.sum()).tolist()


def update_processor(folder: str | os.PathLike, **changes: Any) -> FaceProcessor:
    """Change entries of a saved model's processor (the fitted temperature, the chosen crop or prior),
    refusing names it does not have; returns the new processor."""
    names = {f.name for f in dataclasses.fields(FaceProcessor)}
    unknown = sorted(set(changes) - names)
    if unknown:
        raise ProcessorError(f"not processor entries: {', '.join(unknown)}; expected some of {sorted(names)}")
    processor = dataclasses.replace(FaceProcessor.from_pretrained(folder), **changes)
    processor.save_pretrained(folder)
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
