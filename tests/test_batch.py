"""`python -m fer_model predict` over real clips written here (faces moving across frames), folders
with a corrupt file, and the results' schema."""

import csv
import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
from PIL import Image

from fer_model import FER2013_LABELS
from fer_model.__main__ import main
from fer_model.pipelines.batch import FIXED_COLUMNS

from conftest import ASTRONAUT, ASTRONAUT_GRID, CAT, ROOT

FACE = np.asarray(Image.open(ASTRONAUT).convert("RGB"))[40:200, 150:300]  # her head with a margin


def write_clip(path, frames=24, fps=12, faces=1, size=(640, 480), blank=()):
    """A clip of `faces` copies of a real face sliding across a grey background (none in the
    frames numbered in `blank`)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    assert writer.isOpened()
    for index in range(frames):
        frame = np.full((size[1], size[0], 3), 110, dtype=np.uint8)
        for k in range(faces if index not in blank else 0):
            x, y = 20 + 6 * index + 320 * k, 120 + 2 * index
            frame[y:y + FACE.shape[0], x:x + FACE.shape[1]] = FACE
        writer.write(frame[:, :, ::-1])
    writer.release()
    return path


def read_rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    write_clip(root / "two_faces.mp4", faces=2)
    folder = root / "album" / "nested"
    folder.mkdir(parents=True)
    shutil.copy(ASTRONAUT_GRID, folder / "grid.jpg")
    shutil.copy(CAT, root / "album" / "cat.jpg")
    (root / "album" / "broken.jpg").write_bytes(ASTRONAUT.read_bytes()[:3000])
    (root / "album" / "notes.txt").write_text("not an image, not listed")
    return root


def test_images_folders_and_a_video_in_one_run(inputs, tmp_path, capsys):
    out = tmp_path / "results.csv"
    status = main(["predict", str(inputs / "album"), str(inputs / "two_faces.mp4"), "--out", str(out),
                   "--annotate", str(tmp_path / "annotated"), "--quiet"])
    assert status == 0
    rows = read_rows(out)
    assert list(rows[0]) == FIXED_COLUMNS + list(FER2013_LABELS)
    by_source = {}
    for row in rows:
        by_source.setdefault(row["source"], []).append(row)
    grid = by_source[str(inputs / "album" / "nested" / "grid.jpg")]
    assert len(grid) == 4 and all(row["frame"] == "" for row in grid)
    assert [row["face_id"] for row in grid] == ["1", "2", "3", "4"] and {row["face_found"] for row in grid} == {"True"}
    cat = by_source[str(inputs / "album" / "cat.jpg")]  # no face: the whole image, and the row says so
    assert len(cat) == 1 and cat[0]["face_found"] == "False" and cat[0]["x"] == "0"
    video = by_source[str(inputs / "two_faces.mp4")]
    frames = sorted({int(row["frame"]) for row in video})
    assert frames == list(range(24))
    assert float(video[-1]["time_s"]) == pytest.approx(int(video[-1]["frame"]) / 12, abs=1e-3)
    for row in rows:
        probabilities = [float(row[label]) for label in FER2013_LABELS]
        assert sum(probabilities) == pytest.approx(1, abs=1e-4)
        assert row["label"] == FER2013_LABELS[int(np.argmax(probabilities))]
    # the two sliding faces keep their ids: the left one stays left of the right one
    orders = {tuple(face_id for _, face_id in sorted((int(r["x"]), r["face_id"]) for r in video
                                                     if int(r["frame"]) == frame)) for frame in frames}
    assert len(orders) == 1 and sorted(orders.pop()) == ["1", "2"], orders
    assert str(inputs / "album" / "broken.jpg") not in by_source
    err = capsys.readouterr().err
    skipped = [line for line in err.splitlines() if "broken.jpg" in line]
    assert len(skipped) == 1 and skipped[0].startswith("skipped ") and "Warning" not in err  # one plain line
    assert "face(s) found, 1 image(s) without a face classified whole, 1 skipped" in err
    assert (tmp_path / "results.two_faces.timeline.png").stat().st_size > 10_000
    assert (tmp_path / "annotated" / "grid.annotated.jpg").exists()
    annotated = cv2.VideoCapture(str(tmp_path / "annotated" / "two_faces.annotated.mp4"))
    assert int(annotated.get(cv2.CAP_PROP_FRAME_COUNT)) == 24
    annotated.release()


def test_a_face_keeps_its_number_through_frames_without_it(tmp_path):
    clip = write_clip(tmp_path / "blink.mp4", frames=16, blank=(6, 7, 8))
    assert main(["predict", str(clip), "--out", str(tmp_path / "rows.csv"), "--quiet"]) == 0
    rows = read_rows(tmp_path / "rows.csv")
    found = [row for row in rows if row["face_found"] == "True"]
    assert {int(row["frame"]) for row in found} == set(range(16)) - {6, 7, 8}
    assert {row["face_id"] for row in found} == {"1"}  # the same face, the same number after the gap


def test_sampling_and_json_output(inputs, tmp_path):
    out = tmp_path / "results.json"
    assert main(["predict", str(inputs / "two_faces.mp4"), "--out", str(out), "--json", "--every", "5", "--quiet"]) == 0
    records = json.loads(out.read_text())
    assert sorted({r["frame"] for r in records}) == [0, 5, 10, 15, 20]
    assert main(["predict", str(inputs / "two_faces.mp4"), "--out", str(out), "--json", "--fps", "4", "--quiet",
                 "--overwrite"]) == 0
    assert sorted({r["frame"] for r in json.loads(out.read_text())}) == [0, 3, 6, 9, 12, 15, 18, 21]


def test_nothing_processable_fails_and_writes_nothing(tmp_path, capfd):
    empty = tmp_path / "empty"
    empty.mkdir()
    corrupt = tmp_path / "clip.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(500))
    out = tmp_path / "results.csv"
    status = main(["predict", str(empty), str(corrupt), "--out", str(out), "--quiet"])
    assert status == 1 and not out.exists()
    err = capfd.readouterr().err  # the process's stderr, FFmpeg's included
    assert "skipped" in err and "the folder holds no images or videos" in err and "clip.mp4" in err
    assert "moov atom" not in err and len([line for line in err.splitlines() if "clip.mp4" in line]) == 1


@pytest.mark.parametrize("called, shown", [("/usr/bin/fer-model", "usage: fer-model"),
                                           ("/x/fer_model/__main__.py", "usage: python -m fer_model")])
def test_help_shows_the_name_it_was_called_by(monkeypatch, capsys, called, shown):
    monkeypatch.setattr(sys, "argv", [called])
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    assert capsys.readouterr().out.startswith(shown)


def test_a_missing_path_is_one_line_and_status_2(tmp_path):
    run = subprocess.run([sys.executable, "-m", "fer_model", "predict", str(tmp_path / "nope.jpg"), "--out",
                          str(tmp_path / "r.csv")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "no such file or folder" in run.stderr
    assert not (tmp_path / "r.csv").exists()


def test_a_second_run_does_not_overwrite_the_first_without_being_asked(inputs, tmp_path):
    out = tmp_path / "results.csv"
    clip = str(inputs / "two_faces.mp4")
    assert main(["predict", clip, "--out", str(out), "--every", "6", "--quiet"]) == 0
    timeline = tmp_path / "results.two_faces.timeline.png"
    before = timeline.stat().st_mtime_ns
    with pytest.raises(FileExistsError, match="results.csv.*--overwrite"):
        main(["predict", clip, "--out", str(out), "--every", "6", "--quiet"])
    assert timeline.stat().st_mtime_ns == before
    assert main(["predict", clip, "--out", str(out), "--every", "6", "--quiet", "--overwrite"]) == 0


def test_the_command_runs_as_a_module(inputs, tmp_path):
    out = tmp_path / "r.csv"
    run = subprocess.run([sys.executable, "-m", "fer_model", "predict", str(ASTRONAUT), "--out", str(out), "--quiet"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert len(read_rows(out)) == 1 and "1 file(s)" in run.stderr


def test_parquet_without_an_engine_is_refused_before_any_work(monkeypatch, tmp_path, capsys):
    from fer_model.cli import run as run_cli

    for engine in ("pyarrow", "fastparquet"):  # as in a venv from requirements.txt, which has neither
        monkeypatch.setitem(sys.modules, engine, None)
        monkeypatch.setattr("importlib.util.find_spec", _hiding(engine, __import__("importlib.util").util.find_spec))
    with pytest.raises(SystemExit) as exit_:
        run_cli(main, ["predict", str(ASTRONAUT), "--out", str(tmp_path / "rows.parquet"), "--quiet"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1 and "writing Parquet needs pyarrow" in err
    assert "file(s)" not in err and not list(tmp_path.iterdir())  # nothing was predicted nor written


def _hiding(name, find_spec):
    return lambda module, *args: None if module == name else find_spec(module, *args)


def test_rows_that_cannot_be_written_after_the_work_are_kept(monkeypatch, tmp_path, capsys):
    import pandas as pd

    def full_disk(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full_disk)
    assert main(["predict", str(ASTRONAUT_GRID), "--out", str(tmp_path / "rows.parquet"), "--quiet"]) == 1
    err = capsys.readouterr().err
    rescued = tmp_path / "rows.rescued.csv"
    assert "No space left on device" in err and str(rescued) in err
    assert [row["label"] for row in read_rows(rescued)] == ["happy"] * 4 and not (tmp_path / "rows.parquet").exists()
