"""The model folder: the one contract every runtime, entry point and publisher reads.

A model folder holds

    config.json               the network (FERNet's constructor arguments: labels, input size, variant)
    preprocessor_config.json  the input transform and the reading of the logits (FaceProcessor)
    model.safetensors         the weights, float32
    model.onnx                the graph over those weights (fer_model.models.graph): onnxruntime and the page
    README.md                 the model card (evaluate.py writes the full one)

This module owns every file name (one constant each), how a model is named (a shipped model's
short name, a local folder, a Hub repo id: `resolve_model`, used by every backend and entry point),
fetching a Hub model's files, what is published, and the one way a folder's files are written
(`atomic_write`), so that no reader ever sees half of one. It imports no torch: the torch-free
runtime and the page's tooling use it too.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from .errors import ModelLoadError

CONFIG_NAME = "config.json"
PROCESSOR_NAME = "preprocessor_config.json"
WEIGHTS_NAME = "model.safetensors"
GRAPH_NAME = "model.onnx"
CARD_NAME = "README.md"
MODEL_FILES = (CONFIG_NAME, PROCESSOR_NAME, GRAPH_NAME, WEIGHTS_NAME)  # what a runtime reads
# What a model repo gets: the model files, the card, the figures it shows and the records behind them.
UPLOAD_PATTERNS = [*MODEL_FILES, CARD_NAME, "*.png", "metrics.json", "training_config.json", "*.csv"]

PACKAGE = Path(__file__).resolve().parent
CHECKOUT = PACKAGE.parent  # the repository (or site-packages) holding the package
PRETRAINED = PACKAGE / "pretrained"
EXAMPLES = PACKAGE / "examples"  # photos to try the models on (examples/README.md: licences)

# The models shipped inside the package, by short name (a folder of the same name elsewhere is
# reached by its path, e.g. `./fernet-fer2013`).
SHIPPED_MODELS = {
    "fernet-ferplus": "FERNet trained from scratch on the FER+ crowd's votes (reads expressions as ten "
                      "annotators agree on them)",
    "fernet-fer2013": "FERNet trained on FER-2013's original labels (compare with FER-2013 papers)",
    "fernet-compact": "a compact FERNet variant (depthwise-separable convolutions, no dense layer) trained from "
                      "scratch on the FER+ crowd's votes",
}
DEFAULT_MODEL_NAME = "fernet-ferplus"

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")


def resolve_model(name_or_path: str | os.PathLike | None) -> str | Path:
    """Where a model named by a user is: a shipped model's short name (None: the default model)
    gives its folder; an existing folder, itself; anything else must be a Hub repo id, returned as
    it is. Answered at once, without the network, with a ModelLoadError naming what is wrong: a
    path that does not exist, a name close to a shipped one, a name that no Hub repo can have."""
    if name_or_path is None:
        name_or_path = DEFAULT_MODEL_NAME
    if isinstance(name_or_path, str) and name_or_path in SHIPPED_MODELS:
        folder = PRETRAINED / name_or_path
        if not (folder / WEIGHTS_NAME).is_file():
            raise ModelLoadError(f"the shipped model is missing at {folder}; reinstall fer_model, train one with "
                                 "train.py or pass the path of a saved model")
        return folder
    text = os.fspath(name_or_path)
    path = Path(text).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise ModelLoadError(f"{path}: a file, not a model folder (a folder holding {CONFIG_NAME}, {PROCESSOR_NAME} "
                             f"and {WEIGHTS_NAME})")
    shipped = ", ".join(SHIPPED_MODELS)
    looks_local = isinstance(name_or_path, os.PathLike) or text.startswith((".", "/", "~")) or "\\" in text \
        or text.count("/") > 1  # a Hub id is NAME or OWNER/NAME
    if looks_local:
        raise ModelLoadError(f"{path}: no such model folder (the shipped models are {shipped})")
    close = "/" not in text and difflib.get_close_matches(text.lower(), list(SHIPPED_MODELS), n=1, cutoff=0.75)
    if close:
        raise ModelLoadError(f"{text!r} is not a model: did you mean {close[0]!r}? (the shipped models are {shipped}; "
                             "anything else is a folder path or a Hub repo id such as user/model)")
    if not _HUB_ID.match(text) or "--" in text or ".." in text:
        raise ModelLoadError(f"{text!r} is neither a model folder nor a Hub repo id (user/model); the shipped models "
                             f"are {shipped}")
    return text


def is_shipped(folder: str | os.PathLike) -> bool:
    """Whether `folder` is one of the models shipped in the package."""
    return Path(folder).resolve().parent == PRETRAINED.resolve()


def hub_snapshot(repo_id: str, weights: bool = False) -> Path:
    """The local copy of a Hub model's folder: its configs, and with `weights` its model.onnx and
    the weights that graph reads. A repo without preprocessor_config.json is refused (how its faces
    are cropped and normalised would be unknown)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    folder = Path(hf_hub_download(repo_id, CONFIG_NAME)).parent
    try:
        hf_hub_download(repo_id, PROCESSOR_NAME)
    except EntryNotFoundError as error:
        raise ModelLoadError(f"{repo_id}: the Hub repo has no {PROCESSOR_NAME}, so how its faces are cropped and "
                             "normalised is unknown; push the whole model folder (fer-model push, or "
                             "EmotionRecognizer.push_to_hub)") from error
    if weights:
        try:
            hf_hub_download(repo_id, GRAPH_NAME)
        except EntryNotFoundError as error:
            raise ModelLoadError(f"{repo_id}: the Hub repo has no {GRAPH_NAME}; save and push it again with this "
                                 "release, or use backend='torch'") from error
        hf_hub_download(repo_id, WEIGHTS_NAME)
    return folder


def read_config(folder: str | os.PathLike) -> dict[str, Any]:
    """The folder's config.json; a ModelLoadError names a missing or unreadable one."""
    path = Path(folder) / CONFIG_NAME
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise ModelLoadError(f"{Path(folder)}: no {CONFIG_NAME}; a model folder holds {CONFIG_NAME}, "
                             f"{PROCESSOR_NAME} and {WEIGHTS_NAME}") from error
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"{path}: not a readable model config ({error})") from error
    if not isinstance(config, dict) or not isinstance(config.get("labels"), list):
        raise ModelLoadError(f"{path}: not a FERNet config (it needs a list of labels)")
    return config


def portable(record: Any, home: Path | None = None) -> Any:
    """A record (training configuration, metrics) with every absolute path of this machine made
    portable: relative to the repository where it lies inside it or beside it (the data in
    ../shared), relative to the home folder as `~/...`, else its name alone. Published records
    then carry no machine's folders."""
    home = home or Path.home()
    if isinstance(record, dict):
        return {key: portable(value, home) for key, value in record.items()}
    if isinstance(record, list):
        return [portable(value, home) for value in record]
    if not isinstance(record, str) or not record.startswith("/") or "\n" in record:
        return record
    path = Path(record)
    for base, prefix in ((CHECKOUT, ""), (CHECKOUT.parent, "../"), (home, "~/")):
        try:
            return prefix + path.relative_to(base).as_posix()
        except ValueError:
            continue
    return path.name


def write_config(folder: str | os.PathLike, config: dict[str, Any]) -> None:
    """Write `folder/config.json` (atomically): the one writer of model configs."""
    text = json.dumps(config, sort_keys=True, indent=2)
    atomic_write(Path(folder) / CONFIG_NAME, lambda path: Path(path).write_text(text))


def atomic_write(target: str | os.PathLike, write: Any) -> None:
    """Call `write(temp_path)` on a temporary file beside `target`, then rename it into place."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(handle)
    try:
        write(temp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)  # mkstemp made it private; the result should read like any other file
        with open(temp, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
