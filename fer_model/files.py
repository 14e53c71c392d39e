"""Writing files so that a reader never sees half of one (no torch here: the torch-free runtime uses it too)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any


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
