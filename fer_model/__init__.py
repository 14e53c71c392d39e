"""fer_model: facial expression recognition on FER-2013 with a small, fast CNN."""

from pathlib import Path

from .detect import Box, DetectorError, FaceDetector, YuNetFaceDetector
from .data import DataError, FERData, default_data_path, load_fer2013
from .labels import FER2013_LABELS
from .model import FERNet, ModelLoadError
from .inference import EmotionRecognizer, FacePrediction
from .preprocess import ImageError, load_image, normalize, preprocess, to_grayscale

# The trained model shipped with the package (config.json, preprocessor_config.json,
# model.safetensors, model card), and example photos to try it on (examples/README.md: licences).
DEFAULT_MODEL = Path(__file__).resolve().parent / "pretrained" / "fernet-fer2013"
EXAMPLES = Path(__file__).resolve().parent / "examples"

__all__ = [
    "DEFAULT_MODEL", "EXAMPLES", "FER2013_LABELS", "Box", "EmotionRecognizer", "FaceDetector", "FacePrediction",
    "YuNetFaceDetector", "DetectorError", "DataError", "FERData", "FERNet", "ImageError",
    "ModelLoadError", "default_data_path", "load_fer2013", "load_image", "normalize", "preprocess",
    "to_grayscale",
]
