"""fer_model: facial expression recognition on FER-2013 with a small, fast CNN."""

from .vision.detect import Box, DetectorError, FaceDetector, YuNetFaceDetector
from .data.fer2013 import DataError, FERData, default_data_path, load_fer2013
from .errors import ModelLoadError
from .labels import FER2013_LABELS
from .pipelines.inference import EmotionRecognizer
from .prediction import FacePrediction
from .processing.preprocess import ImageError, load_image, to_grayscale
from .processing.processor import FaceProcessor

from .folder import DEFAULT_MODEL_NAME, EXAMPLES, SHIPPED_MODELS, resolve_model

# The default of the trained models shipped with the package (config.json, preprocessor_config.json,
# model.safetensors, model card; every one by short name in SHIPPED_MODELS); EXAMPLES: photos to try
# them on.
DEFAULT_MODEL = resolve_model(DEFAULT_MODEL_NAME)



def __getattr__(name: str):
    """FERNet, imported on first use: it is a torch module, and predictions run without torch."""
    if name == "FERNet":
        from .errors import TorchMissingError
        from .pipelines.inference import torch_available

        if not torch_available():
            raise TorchMissingError("FERNet")
        from .models.fernet import FERNet

        return FERNet
    raise AttributeError(f"module 'fer_model' has no attribute {name!r}")


__all__ = [
    "DEFAULT_MODEL", "DEFAULT_MODEL_NAME", "SHIPPED_MODELS", "EXAMPLES", "resolve_model", "FER2013_LABELS", "Box", "EmotionRecognizer", "FaceDetector", "FacePrediction",
    "YuNetFaceDetector", "DetectorError", "DataError", "FERData", "FERNet", "ImageError",
    "FaceProcessor", "ModelLoadError", "default_data_path", "load_fer2013", "load_image",
    "to_grayscale",
]
