"""Every benchmark script imports and answers --help (a script whose imports rot fails here)."""

import subprocess
import sys

import pytest

from conftest import ROOT

HELPERS = ["launch.py"]  # imported by the scripts and the tests, not run
SCRIPTS = sorted(path.name for path in (ROOT / "bench").glob("*.py") if path.name not in HELPERS)


def test_every_bench_script_is_listed():
    assert len(SCRIPTS) >= 10 and "detector.py" in SCRIPTS and "framing.py" in SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS)
def test_bench_script_answers_help(script):
    run = subprocess.run([sys.executable, str(ROOT / "bench" / script), "--help"], capture_output=True, text=True,
                         timeout=180, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "usage:" in run.stdout


def test_the_helper_imports_without_starting_anything():
    import launch

    assert (launch.CHECKOUT / "app.py").exists() and callable(launch.running_app)
