"""The torch-free install, as the README gives it (`pip install -e ".[app]"`), in a virtual
environment of its own with no PyTorch: the README's Python snippet, `fer-model predict` and the
app's upload API (started from `fer-model export-space`'s folder, as a Space starts it) give the
PyTorch path's labels; what needs PyTorch says so in one line.

The venv is built from the package index like the floor tests' venvs; where the index cannot be
reached the test fails saying so.
"""

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ASTRONAUT, ROOT
from fer_model import EXAMPLES, EmotionRecognizer
from launch import app_client, running_app

pytestmark = [pytest.mark.slow, pytest.mark.floor]


@pytest.fixture(scope="module")
def slim(tmp_path_factory) -> Path:
    """The venv's python, after the README's torch-free install of this checkout."""
    folder = tmp_path_factory.mktemp("slim")
    subprocess.run([sys.executable, "-m", "venv", str(folder / "venv")], check=True, timeout=120)
    python = folder / "venv" / "bin" / "python"
    command = re.search(r"^pip install (-e \"\.\[app\]\")", (ROOT / "README.md").read_text(), re.MULTILINE)
    assert command, "the README gives no torch-free install command (pip install -e \".[app]\")"
    run = subprocess.run([str(python), "-m", "pip", "install", "-q", "-e", f"{ROOT}[app]"], capture_output=True,
                         text=True, timeout=900)
    if run.returncode != 0:
        pytest.fail(f"could not install fer_model[app] from the package index (is it reachable?): {run.stderr[-800:]}")
    return python


def _run(python: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), *args], capture_output=True, text=True, timeout=600, cwd=cwd)


def test_the_venv_holds_no_torch_and_the_package_imports(slim):
    assert _run(slim, "-c", "import torch").returncode != 0
    done = _run(slim, "-c", "import fer_model; print(fer_model.EmotionRecognizer.from_pretrained().backend)")
    assert done.returncode == 0 and done.stdout.strip() == "onnx", done.stderr


def test_the_readme_snippet_gives_the_pytorch_labels(slim, tmp_path):
    text = (ROOT / "README.md").read_text()
    snippet = text.split("## Use it in Python", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    (tmp_path / "snippet.py").write_text(snippet)
    done = _run(slim, str(tmp_path / "snippet.py"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    expected = EmotionRecognizer.from_pretrained(backend="torch").predict(EXAMPLES / "astronaut.png")
    for face in expected:  # the snippet prints box, label, score and face_found first
        assert f"{face.box} {face.label}" in done.stdout


def test_predict_on_the_examples_gives_the_pytorch_labels(slim, tmp_path):
    done = _run(slim, "-m", "fer_model", "predict", str(EXAMPLES), "--out", str(tmp_path / "rows.csv"), "--quiet")
    assert done.returncode == 0, done.stderr[-2000:]
    rows = list(csv.DictReader(open(tmp_path / "rows.csv")))
    recognizer = EmotionRecognizer.from_pretrained(backend="torch")
    for image in sorted(p for p in EXAMPLES.iterdir() if p.suffix != ".md"):
        mine = [row for row in rows if Path(row["source"]).name == image.name]
        theirs = recognizer.predict(image)
        assert [row["label"] for row in mine] == [face.label for face in theirs], image.name
        for row, face in zip(mine, theirs):
            assert max(abs(float(row[label]) - p) for label, p in face.probabilities.items()) < 1e-4


def test_what_needs_torch_says_so_in_one_line(slim, tmp_path):
    for args in (["train.py", "--out", str(tmp_path / "run")], ["evaluate.py"], ["soup.py", "a", "b", "--out", "c"],
                 ["-m", "fer_model", "export", "fernet-ferplus", "--out", str(tmp_path / "onnx")]):
        done = _run(slim, *args, cwd=ROOT)
        assert done.returncode == 2, (args, done.stderr[-1000:])
        assert done.stderr.strip().count("\n") == 0 and "PyTorch is not installed" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_the_space_folder_serves_the_upload_api_without_torch(slim, tmp_path):
    space = tmp_path / "space"
    done = _run(slim, "-m", "fer_model", "export-space", "--out", str(space))
    assert done.returncode == 0, done.stderr
    front = (space / "README.md").read_text().split("---")[1]
    assert 'sdk: "gradio"' in front and 'app_file: "app.py"' in front
    assert not [line for line in (space / "requirements.txt").read_text().splitlines() if line.startswith("torch")]
    with running_app("fernet-ferplus", python=slim, app=space / "app.py") as (url, _):
        client = app_client(url)
        from gradio_client import handle_file

        *_, faces, status = client.predict(handle_file(str(ASTRONAUT)), False, "balanced", api_name="/predict")
    expected = EmotionRecognizer.from_pretrained(backend="torch", prior="balanced").predict(ASTRONAUT)
    assert [face["label"] for face in faces] == [face.label for face in expected]
    assert json.dumps(faces)  # plain JSON, as the API promises
