"""EmotionRecognizer: image in, one prediction per face out."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Union

import numpy as np

from ..vision.detect import Box, DetectorError, FaceDetector, YuNetFaceDetector
from ..errors import ModelLoadError, TorchMissingError
from ..models.onnx_runtime import OnnxNetwork
from ..processing.preprocess import ImageLike, load_image, to_grayscale, to_rgb
from ..prediction import FacePrediction
from ..processing.processor import FaceProcessor

BACKENDS = ("auto", "torch", "onnx")


def torch_available() -> bool:
    """Whether PyTorch can be imported here (the torch-free install has none)."""
    import importlib.util

    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def predict_logits(model, inputs, batch_size: int = 64, device=None):
    """Logits (N, classes), float32 on the CPU, of the network's input (N, 1, size, size) as
    :class:`FaceProcessor` makes it (`processor(gray, boxes).pixel_values`, `crop_inputs`,
    `normalize`): a torch tensor from a torch network, a NumPy array from an
    :class:`~fer_model.models.onnx_runtime.OnnxNetwork` (no torch needed).

    The one forward pass behind every prediction: the recognizer, evaluation, training's
    validation and the app. Runs in eval mode (restoring the model's mode after) and in
    channels_last layout (measured faster for these convolutions in bench/inference.py), in
    batches of 64 (larger ones spend their time allocating activations: PrivateTest took 14 s in
    batches of 512 and 9 s in batches of 64 on a 2-core Xeon). The onnxruntime network gets the
    same batches.
    """
    if isinstance(model, OnnxNetwork):
        inputs = inputs.numpy() if hasattr(inputs, "numpy") else np.asarray(inputs)
        _check_float(inputs.dtype)
        outputs = [model.logits(inputs[start:start + batch_size]) for start in range(0, len(inputs), batch_size)]
        return np.concatenate(outputs) if outputs else np.empty((0, len(model.labels)), np.float32)
    import torch

    inputs = torch.as_tensor(inputs)
    _check_float(inputs.dtype)
    with torch.inference_mode():
        return _torch_logits(model, inputs, batch_size, device)


def _check_float(dtype) -> None:
    if "float" not in str(dtype):
        raise TypeError(f"predict_logits takes the processor's float input, not {dtype} pixels: "
                        "pass processor.normalize(faces) (or processor.crop_inputs(faces))")


def _torch_logits(model, inputs, batch_size: int, device):
    import torch

    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    outputs = []
    for start in range(0, len(inputs), batch_size):
        batch = inputs[start:start + batch_size].to(device).contiguous(memory_format=torch.channels_last)
        outputs.append(model(batch).float().cpu())
    model.train(was_training)
    return torch.cat(outputs) if outputs else torch.empty(0, len(model.labels))


def predict_crops(model, processor: FaceProcessor, faces: list[np.ndarray] | np.ndarray,
                  batch_size: int = 64) -> np.ndarray:
    """Probabilities (N, classes) of framed grayscale face crops through `processor`: its test-time
    views, normalisation, temperature and prior (``processor.single_view()`` for the model alone)."""
    return processor.probabilities(predict_logits(model, processor.crop_inputs(faces), batch_size))


class EmotionRecognizer:
    """Detects faces and classifies the expression of each one.

    Each face goes through the model's :class:`FaceProcessor` (`preprocessor_config.json`):
    cropped and averaged over views as the model was chosen with, calibrated, and read under its
    class prior, unless `prior` says otherwise.

    Example:
        >>> recognizer = EmotionRecognizer.from_pretrained(prior="balanced")
        >>> [(p.label, round(p.score, 2)) for p in recognizer.predict("photo.jpg")]

    Args:
        model: a FERNet, or an :class:`~fer_model.models.onnx_runtime.OnnxNetwork` (no torch needed);
            its config gives the labels.
        processor: the input transform and the reading of the logits (crop, views, normalisation,
            temperature, prior; default: one plain crop, T = 1, no prior, the model's labels).
        detector: a :class:`FaceDetector`; None classifies the whole image as one face.
        prior: the class prior to assume ("trained", "balanced", "everyday" or one probability per
            label); None keeps the processor's.
    """

    def __init__(self, model, processor: FaceProcessor | None = None, detector: FaceDetector | None = None,
                 device="cpu", prior: str | list[float] | None = None) -> None:
        self.device = device
        if not isinstance(model, OnnxNetwork):
            import torch

            self.device = torch.device(device)
            model = model.to(self.device, memory_format=torch.channels_last).eval()
        self.model = model
        processor = processor or FaceProcessor(image_size=model.image_size, labels=list(model.labels))
        self.processor = processor.with_prior(prior)
        self.detector = detector

    @classmethod
    def from_pretrained(cls, path: Union[str, os.PathLike, None] = None, detector: FaceDetector | None = None,
                        backend: str = "auto", **kwargs: Any) -> "EmotionRecognizer":
        """Load a saved model and its processor (a folder, a shipped model's short name such as
        "fernet-fer2013", or a Hub id; default: the default shipped model) and the shipped YuNet
        face detector. `backend`: "torch", "onnx" (the folder's model.onnx through onnxruntime:
        same crop, views, calibration and prior, no torch needed) or "auto" (torch where it is
        installed, else onnx). Keyword arguments (`prior`, `device`) go to the constructor."""
        model, processor = load_pretrained(path, backend)
        return cls(model, processor, detector or YuNetFaceDetector(), **kwargs)

    def save_pretrained(self, folder: str | os.PathLike) -> Path:
        """Write the model folder `from_pretrained` loads back: the network (FERNet.save_pretrained:
        weights, config, model.onnx, a card where none is there) and this recognizer's processor."""
        if self.backend != "torch":
            raise ValueError("save_pretrained writes the torch network's weights; an onnx recognizer's folder is "
                             "already saved: copy it")
        self.model.save_pretrained(folder)
        self.processor.save_pretrained(folder)
        return Path(folder)

    def push_to_hub(self, repo_id: str, private: bool = False, token: str | None = None) -> str:
        """Publish the model with its processor to the Hub model repo `repo_id` (fer_model.models.hub.push:
        checked, then uploaded); returns the commit URL."""
        import tempfile

        from ..models.hub import push

        with tempfile.TemporaryDirectory(prefix="fer_model_push_") as folder:
            return push(self.save_pretrained(Path(folder) / repo_id.split("/")[-1]), repo_id, private, token)

    @property
    def backend(self) -> str:
        """"onnx" or "torch": what runs the network."""
        return "onnx" if isinstance(self.model, OnnxNetwork) else "torch"

    @property
    def labels(self) -> list[str]:
        return self.model.labels

    def with_prior(self, prior: str | list[float] | None) -> "EmotionRecognizer":
        """The same model and detector under another class prior (None or the current one: self)."""
        if prior is None or prior == self.processor.prior:
            return self
        other = copy.copy(self)
        other.processor = self.processor.with_prior(prior)
        return other

    def predict(self, image: Union[ImageLike, str, os.PathLike, bytes], saliency: bool = False) -> list[FacePrediction]:
        """Predictions for every face in `image` (largest first), or one for the whole image when
        no face is found. Accepts a path, bytes, a PIL image or a numpy array (RGB or grayscale).
        With `saliency=True` each prediction also carries its Grad-CAM map (of the plain crop)."""
        return self.predict_boxes(*self.find_faces(image), saliency=saliency)

    def find_faces(self, image: Union[ImageLike, str, os.PathLike, bytes]) -> tuple[np.ndarray, list[Box]]:
        """The grayscale image and the boxes of its faces, as :meth:`predict` finds them (none for an
        image no larger than the processor's `crop_side`, which is taken as a face crop)."""
        if isinstance(image, (str, os.PathLike, bytes)):
            image = load_image(image)
        gray = to_grayscale(image)
        if self.detector is None or self.processor.is_face_crop(gray):
            return gray, []
        return gray, self.detector.detect(to_rgb(image))  # detectors get colour: YuNet was trained on it

    def predict_boxes(self, gray: np.ndarray, boxes: list[Box], saliency: bool = False) -> list[FacePrediction]:
        """Predictions for the faces at `boxes` of a grayscale image (H, W), or for the whole
        image when `boxes` is empty (taken as a framed face crop)."""
        if saliency and self.backend != "torch":
            if not torch_available():
                raise TorchMissingError("Grad-CAM (saliency=True)")
            raise ValueError("saliency (Grad-CAM) needs the torch backend: it reads the network's gradients")
        inputs = self.processor(gray, boxes)
        probabilities = self.processor.probabilities(predict_logits(self.model, inputs.pixel_values, device=self.device))
        results = [self._result(box, row, inputs.face_found) for box, row in zip(inputs.boxes, probabilities)]
        if saliency:  # of view 0 of each face, the plain crop, from the same input as the probabilities
            import torch

            from ..models.saliency import grad_cam

            plain = torch.from_numpy(np.ascontiguousarray(inputs.pixel_values[::self.processor.views_per_face]))
            plain = plain.to(self.device).contiguous(memory_format=torch.channels_last)
            maps = grad_cam(self.model, plain, torch.from_numpy(probabilities.argmax(1))).cpu().numpy()
            for result, heatmap in zip(results, maps):
                result.saliency = heatmap
        return results

    def predict_many(self, images: list, priors: list[str | list[float]],
                     batch_size: int = 64) -> list[list[list[FacePrediction]]]:
        """[image][prior] -> what :meth:`predict` returns, for many images at once: each image is
        read and searched as `predict` does, and their model inputs go through the network in
        shared batches (much faster than one call per image on a CPU)."""
        found = [self.processor(*self.find_faces(image)) for image in images]
        logits = predict_logits(self.model, np.concatenate([inputs.pixel_values for inputs in found]), batch_size,
                                self.device)
        results, start = [], 0
        for inputs in found:
            mine, start = logits[start:start + len(inputs.pixel_values)], start + len(inputs.pixel_values)
            results.append([[self._result(box, row, inputs.face_found) for box, row in
                             zip(inputs.boxes, self.processor.with_prior(prior).probabilities(mine))]
                            for prior in priors])
        return results

    def _result(self, box: Box, probabilities: np.ndarray, face_found: bool) -> FacePrediction:
        named = {label: float(p) for label, p in zip(self.labels, probabilities)}
        score = None if box.score is None else round(box.score, 4)
        return FacePrediction(box.as_tuple(), max(named, key=named.get), named, face_found,
                              landmarks=box.named_landmarks() if face_found else None,
                              detector_score=score if face_found else None)


def load_pretrained(path: Union[str, os.PathLike, None] = None, backend: str = "torch"):
    """The network and its processor from one model folder, a shipped model's short name
    (fer_model.folder; default: the default shipped model) or a Hub id: the one call every entry
    point loads a model through. `backend` "torch" gives a FERNet; "onnx" an
    :class:`~fer_model.models.onnx_runtime.OnnxNetwork` of the folder's model.onnx (no torch); "auto"
    torch where it is installed, else onnx."""
    from ..folder import hub_snapshot, resolve_model

    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if backend == "auto":
        backend = "torch" if torch_available() else "onnx"
    path = resolve_model(path)  # a folder, or a Hub id; a wrong name is refused here, on every backend
    folder = path if isinstance(path, Path) else None
    if backend == "onnx":
        folder = folder or hub_snapshot(path, weights=True)
        model = OnnxNetwork(folder)
    else:
        if not torch_available():
            raise TorchMissingError("backend='torch'")
        from ..models.fernet import FERNet

        model = FERNet.from_pretrained(path)
    processor = FaceProcessor.from_pretrained(folder or hub_snapshot(path))
    if len(processor.mean) != model.in_channels:
        raise ModelLoadError(f"{path}: the processor normalises {len(processor.mean)} channel(s) (mean {processor.mean}) "
                             f"but the network takes {model.in_channels}")
    return model, processor

