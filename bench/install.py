"""The torch-free install against the full one, side by side in one run: each in a virtual
environment of its own, made as the README says (`pip install -e ".[app]"`; `pip install -r
requirements.txt && pip install -e .`), then measured in fresh processes:

    python bench/install.py [--work DIR] [--runs 5]

  - size: `du -sb` of the venv (what a container or a Space carries);
  - import: `import fer_model` (median of --runs processes);
  - first prediction: a new process from before the import to the first faces of an example photo
    (model and detector loaded), median of --runs;
  - per face: `EmotionRecognizer.predict` on the four-face example, median of 30 calls, per face.
The venvs are kept in --work (default: a temporary folder, removed after) so a rerun can skip the
installs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTALLS = {"torch-free": [["-m", "pip", "install", "-q", "-e", f"{ROOT}[app]"]],
            "full": [["-m", "pip", "install", "-q", "-r", str(ROOT / "requirements.txt")],
                     ["-m", "pip", "install", "-q", "-e", str(ROOT)]]}
PROBE = """
import json, statistics, sys, time
start = time.perf_counter()
import fer_model
imported = time.perf_counter()
recognizer = fer_model.EmotionRecognizer.from_pretrained()
recognizer.predict(fer_model.EXAMPLES / "astronaut.png")
first = time.perf_counter()
calls = []
for _ in range(int(sys.argv[1])):
    t = time.perf_counter()
    faces = recognizer.predict(fer_model.EXAMPLES / "astronaut_grid.jpg")
    calls.append((time.perf_counter() - t) / len(faces))
print(json.dumps({"import": imported - start, "first": first - start, "face": statistics.median(calls),
                  "backend": recognizer.backend, "torch": "torch" in sys.modules}))
"""


def venv(folder: Path, name: str) -> Path:
    python = folder / name / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(folder / name)], check=True)
        for command in INSTALLS[name]:
            subprocess.run([str(python), *command], check=True)
    return python


def measure(python: Path, runs: int) -> dict:
    probes = [json.loads(subprocess.run([str(python), "-c", PROBE, "30" if k == 0 else "1"], capture_output=True,
                                        text=True, check=True, cwd="/").stdout) for k in range(runs)]
    size = int(subprocess.run(["du", "-sb", str(python.parent.parent)], capture_output=True, text=True,
                              check=True).stdout.split()[0])
    return {"size": size, "import": statistics.median(p["import"] for p in probes),
            "first": statistics.median(p["first"] for p in probes), "face": probes[0]["face"],
            "backend": probes[0]["backend"], "torch": probes[0]["torch"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, help="folder for the two venvs (kept; default: temporary)")
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per figure (default: %(default)s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        work = args.work or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        rows = {name: measure(venv(work, name), args.runs) for name in INSTALLS}
    full = rows["full"]
    for name, row in rows.items():
        print(f"{name} ({row['backend']} backend, torch imported: {row['torch']}): venv {row['size'] / 1e9:.2f} GB "
              f"(x{row['size'] / full['size']:.2f}); import fer_model {row['import'] * 1000:.0f} ms "
              f"(x{row['import'] / full['import']:.2f}); first prediction {row['first']:.2f} s "
              f"(x{row['first'] / full['first']:.2f}); per face {row['face'] * 1000:.1f} ms "
              f"(x{row['face'] / full['face']:.2f})")


if __name__ == "__main__":
    main()
