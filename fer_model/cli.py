"""How every command-line entry point fails (train.py, evaluate.py, soup.py, app.py and `fer-model`
with its commands): one line on stderr, `--debug` for the traceback, and

- exit status 2 for a mistake in the command (a wrong path, a broken file, an option that does
  not fit), as argparse does for a bad flag;
- exit status 1 when the command was right but its work failed (nothing could be processed, the
  upload did not go through).
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from .errors import (DEBUG_HELP, DataError, DetectorError, ImageError, ModelLoadError, NotLoggedInError, OutputError,
                     ProcessorError, PublishError, ResumeError, TorchMissingError)

USER_ERRORS = (NotLoggedInError, ModelLoadError, DetectorError, DataError, ImageError, ProcessorError, ResumeError,
               TorchMissingError, OutputError, FileNotFoundError, FileExistsError, NotADirectoryError, PermissionError)
FAILURES = (PublishError,)


@contextmanager
def reported_errors(debug: bool = False) -> Iterator[None]:
    """Within this block, one of :data:`USER_ERRORS` exits 2 with a one-line message and one of
    :data:`FAILURES` exits 1; with `debug`, they propagate with their traceback."""
    try:
        yield
    except USER_ERRORS as error:
        if debug:
            raise
        print(f"error: {error} (run with --debug for the traceback)", file=sys.stderr)
        sys.exit(2)
    except FAILURES as error:
        if debug:
            raise
        print(f"error: {error} (run with --debug for the traceback)", file=sys.stderr)
        sys.exit(1)


def run(main: Callable[[list[str]], Any], argv: list[str] | None = None) -> None:
    """Call `main(argv)` (default: the command line without `--debug`) under :func:`reported_errors`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    with reported_errors("--debug" in argv):
        main([arg for arg in argv if arg != "--debug"])


def require_torch(what: str) -> None:
    """Exit 2 with one line where PyTorch is missing (the scripts that train or evaluate call this
    before importing it)."""
    from .pipelines.inference import torch_available

    if not torch_available():
        print(f"error: {TorchMissingError(what)}", file=sys.stderr)
        sys.exit(2)
