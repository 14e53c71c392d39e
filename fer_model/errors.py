"""The error types a user of the package or its commands meets, in a leaf module that imports
nothing: the command line (fer_model.cli) tells them apart without importing torch, the Hub
client or the training code, and every module raises the same classes it is caught by. Each
message names what was wrong."""


# Every command's --debug help: with it, these errors show their traceback instead of one line.
DEBUG_HELP = "show the traceback instead of a one-line error"


class ModelLoadError(ValueError):
    """A model folder or weights file that cannot be loaded; the message names what is wrong."""


class ProcessorError(ValueError):
    """A processor setting that cannot be used; the message names it."""


class ImageError(ValueError):
    """An input that cannot be read as an image; the message says what was wrong."""


class InputError(ValueError):
    """An input of a batch (image or video) that could not be read; the message names it and says why."""


class DataError(ValueError):
    """The dataset on disk is not what FER-2013 loading expects; the message says where."""


class DetectorError(RuntimeError):
    """The face detector's model cannot be loaded; the message names the file."""


class ResumeError(ValueError):
    """A checkpoint that this run cannot continue; the message says why and what to do."""


class NotLoggedInError(RuntimeError):
    """No Hub token, or one the Hub refused: the message says how to log in."""


class PublishError(RuntimeError):
    """The upload itself failed (network, permissions); the message carries the Hub's reason."""


class TorchMissingError(ImportError):
    """PyTorch is not installed and the call needs it (training, evaluation, Grad-CAM, FERNet);
    predictions run without it."""

    def __init__(self, what: str) -> None:
        super().__init__(f"PyTorch is not installed; {what} needs it (pip install -r requirements.txt, or "
                         "pip install fer_model[torch]); predictions run without it (backend='onnx')")


class OutputError(ValueError):
    """The output asked for cannot be written (a format without its library, a missing folder);
    found before any work is done."""
