"""Command-line entry points report a user's mistake (a wrong path, a broken file) as one line
on stderr with exit status 2, as argparse does for a bad flag; `--debug` shows the traceback."""

from __future__ import annotations

import sys
from typing import Any, Callable

from .data import DataError
from .model import ModelLoadError
from .preprocess import ImageError

USER_ERRORS = (ModelLoadError, DataError, ImageError, FileNotFoundError, NotADirectoryError, PermissionError)


def run(main: Callable[[list[str]], Any], argv: list[str] | None = None) -> None:
    """Call `main(argv)` (default: the command line without `--debug`) and exit 2 with a one-line
    message when it fails with one of :data:`USER_ERRORS`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [arg for arg in argv if arg != "--debug"]
    try:
        main(argv)
    except USER_ERRORS as error:
        if debug:
            raise
        print(f"error: {error} (run with --debug for the traceback)", file=sys.stderr)
        sys.exit(2)
