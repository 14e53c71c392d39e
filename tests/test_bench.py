"""Every benchmark script imports and answers --help (a script whose imports rot fails here)."""

import subprocess
import sys

import pytest

from conftest import ROOT

SCRIPTS = sorted(path.name for path in (ROOT / "bench").glob("*.py"))


def test_every_bench_script_is_listed():
    assert len(SCRIPTS) >= 10 and "detector.py" in SCRIPTS and "framing.py" in SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS)
def test_bench_script_answers_help(script):
    run = subprocess.run([sys.executable, str(ROOT / "bench" / script), "--help"], capture_output=True, text=True,
                         timeout=180, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "usage:" in run.stdout
