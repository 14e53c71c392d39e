"""Error types of the Hub publish step, in a leaf module that imports nothing: the command line
(fer_model.cli) tells them apart without importing huggingface_hub, and `python -m fer_model.hub`
raises the same classes it catches."""


class NotLoggedInError(RuntimeError):
    """No Hub token, or one the Hub refused: the message says how to log in."""


class PublishError(RuntimeError):
    """The upload itself failed (network, permissions); the message carries the Hub's reason."""
