"""The models shipped inside the package, by short name.

    fernet-ferplus   FERNet trained from scratch on the FER+ crowd's votes (reads expressions as
                     ten annotators agree on them)
    fernet-fer2013   FERNet trained on FER-2013's original labels (compare with FER-2013 papers)

A short name always means the shipped folder (a folder of the same name elsewhere is reached by
its path, e.g. `./fernet-fer2013`); anything else is a folder path or a Hub repo id.
"""

from __future__ import annotations

import os
from pathlib import Path

PRETRAINED = Path(__file__).resolve().parent / "pretrained"
SHIPPED_MODELS = ("fernet-ferplus", "fernet-fer2013")
DEFAULT_MODEL_NAME = "fernet-ferplus"


def resolve_model(name_or_path: str | os.PathLike | None) -> str | Path:
    """The folder of a shipped model's short name (None: the default model); anything else unchanged."""
    if name_or_path is None:
        name_or_path = DEFAULT_MODEL_NAME
    if isinstance(name_or_path, str) and name_or_path in SHIPPED_MODELS:
        return PRETRAINED / name_or_path
    return name_or_path
