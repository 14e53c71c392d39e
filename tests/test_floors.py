"""The declared minimum of huggingface_hub really loads, saves and runs the shipped model.

The floor is read from requirements.txt, installed (without its dependencies, which the current
environment provides) into a temporary folder, and put first on the path of a subprocess.
"""

import re
import subprocess
import sys

import pytest

from conftest import ROOT


def declared_floor(package: str) -> str:
    text = (ROOT / "requirements.txt").read_text()
    match = re.search(rf"^{package}>=([\d.]+)", text, re.MULTILINE)
    assert match, f"requirements.txt declares no floor for {package}"
    return match.group(1)


@pytest.mark.slow
def test_the_declared_huggingface_hub_floor_loads_the_shipped_model(tmp_path):
    floor = declared_floor("huggingface_hub")
    install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(tmp_path),
                              f"huggingface_hub=={floor}"], capture_output=True, text=True, timeout=300)
    if install.returncode != 0:
        pytest.skip(f"could not install huggingface_hub=={floor} from the package index: {install.stderr[-300:]}")
    script = (
        "import huggingface_hub, tempfile\n"
        f"assert huggingface_hub.__version__.startswith({floor!r}), huggingface_hub.__version__\n"
        "from fer_model import DEFAULT_MODEL, EmotionRecognizer, FERNet\n"
        "model = FERNet.from_pretrained(DEFAULT_MODEL)\n"
        "folder = tempfile.mkdtemp()\n"
        "model.save_pretrained(folder)\n"
        "assert FERNet.from_pretrained(folder).config == model.config\n"
        "print(EmotionRecognizer.from_pretrained().predict('examples/astronaut.png')[0].label)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": f"{tmp_path}:{ROOT}", "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "happy"
