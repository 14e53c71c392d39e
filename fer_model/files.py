"""A model folder's file names and the one way its files are written, so that a reader never sees
half of one (no torch here: the torch-free runtime and the page's tooling use it too)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


CHECKOUT = Path(__file__).resolve().parent.parent  # the repository (or site-packages) holding the package


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
