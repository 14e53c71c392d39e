"""Publish a saved model folder to the Hugging Face Hub.

    fer-model push fer_model/pretrained/fernet-ferplus your-name/fernet-ferplus
"""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import HfApi, get_token
from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError

from ..errors import NotLoggedInError, PublishError
from ..folder import CARD_NAME, UPLOAD_PATTERNS
from .onnx_runtime import OnnxNetwork
from ..processing.processor import FaceProcessor



def check_folder(folder: Path) -> None:
    """Load what a runtime loads from the folder: its processor, its graph over the weights
    (onnxruntime), and with PyTorch installed the network itself (strict). A ModelLoadError names
    what is broken."""
    import importlib.util

    FaceProcessor.from_pretrained(folder)
    OnnxNetwork(folder)
    if importlib.util.find_spec("torch") is not None:
        from .fernet import FERNet

        FERNet.from_pretrained(folder)


def push(folder: str | Path, repo_id: str, private: bool = False, token: str | None = None) -> str:
    """Upload `folder` to the model repo `repo_id` (created if needed); returns the commit URL.

    The folder is loaded first (network and processor), so a broken model is never published.
    """
    folder = Path(folder)
    check_folder(folder)  # without torch too: the graph and the processor are loaded
    if not (folder / CARD_NAME).exists():
        raise FileNotFoundError(f"{folder}: no README.md model card; run evaluate.py --model {folder} first")
    token = token or get_token()
    if not token:
        raise NotLoggedInError("not logged in to the Hugging Face Hub: run `hf auth login` or set HF_TOKEN, "
                               "then try again")
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        commit = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model",
                                   allow_patterns=UPLOAD_PATTERNS, commit_message="Upload FERNet")
    except LocalTokenNotFoundError as error:
        raise NotLoggedInError("not logged in to the Hugging Face Hub: run `hf auth login` "
                               "or set HF_TOKEN, then try again") from error
    except HfHubHTTPError as error:
        if error.response is not None and error.response.status_code == 401:
            raise NotLoggedInError("the Hub refused the token (401): log in again with `hf auth login`") from error
        raise PublishError(f"could not upload to {repo_id} ({error})") from error
    except OSError as error:  # no network
        raise PublishError(f"could not reach the Hub ({type(error).__name__}: {error})") from error
    return str(getattr(commit, "commit_url", commit))
