"""A mistyped path on the command line gets one clear line and exit status 2, not a traceback."""

import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.mark.parametrize("command, says", [
    (["app.py", "--model", "no/such/model"], "no such model folder"),
    (["evaluate.py", "--model", "no/such/model"], "no such model folder"),
    (["train.py", "--data", "no/such/fer2013.csv", "--out", "{tmp}/run"], "FER-2013 data not found"),
])
def test_a_wrong_path_gets_one_line_and_status_2(command, says, tmp_path):
    command = [arg.replace("{tmp}", str(tmp_path)) for arg in command]
    run = subprocess.run([sys.executable, *command], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], run.stderr


def test_debug_shows_the_traceback():
    command = [sys.executable, "evaluate.py", "--model", "no/such/model", "--debug"]
    debug = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "no such model folder" in debug.stderr
