"""`predict --ray`: the same rows as the one-process run, on a local Ray started here."""

import shutil

import pandas as pd
import pytest

from fer_model import EmotionRecognizer
from fer_model.pipelines.batch import BatchPredictor, collect_inputs, frame_recognizer, run
from fer_model.pipelines.distributed import plan, run_on_ray

from conftest import ASTRONAUT, ASTRONAUT_GRID, CAT
from test_batch import write_clip

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install .[ray])")


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             _temp_dir=str(tmp_path_factory.mktemp("ray")))
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("archive")
    for photo in (ASTRONAUT, ASTRONAUT_GRID, CAT):
        shutil.copy(photo, root / photo.name)
    write_clip(root / "two_faces.mp4", frames=24, faces=2)
    (root / "broken.jpg").write_bytes(b"not a picture")
    return root


@pytest.fixture(scope="module")
def predictor():
    recognizer = EmotionRecognizer.from_pretrained()
    return BatchPredictor(recognizer, every=2, video_recognizer=frame_recognizer(recognizer))


@pytest.mark.slow
def test_ray_gives_exactly_the_one_process_rows(local_ray, folder, predictor):
    expected, expected_summary = run(predictor, [folder], progress=False)
    files, _ = collect_inputs([folder])
    tasks = plan(files, predictor, range_frames=4)
    assert sum(task["path"].endswith(".mp4") for task in tasks) == 3  # 12 analysed frames in ranges of 4 (3 tasks)
    rows, summary = run_on_ray(predictor, files, None, None, "torch", 320, None, workers=2, range_frames=4)
    assert [row.as_dict() for row in rows] == [row.as_dict() for row in expected]
    assert {row.face_id for row in rows if row.frame is not None} == {1, 2}  # the clip's two faces keep their numbers
    assert (summary.files, summary.frames) == (expected_summary.files, expected_summary.frames)
    assert set(summary.failed) == {str(folder / "broken.jpg")}


@pytest.mark.slow
def test_the_ray_command_writes_the_same_table_as_parquet(local_ray, folder, tmp_path):
    from fer_model.__main__ import main

    assert main(["predict", str(folder), "--out", str(tmp_path / "one.csv"), "--quiet"]) == 0
    assert main(["predict", str(folder), "--out", str(tmp_path / "ray.parquet"), "--ray", "--quiet"]) == 0
    one = pd.read_csv(tmp_path / "one.csv")
    table = pd.read_parquet(tmp_path / "ray.parquet")
    assert list(table.columns) == list(one.columns) and len(table) == len(one)
    pd.testing.assert_frame_equal(table.astype(str).replace({"None": "nan", "<NA>": "nan"}),
                                  one.astype(str), check_dtype=False)


@pytest.mark.slow
def test_a_face_hidden_across_a_range_boundary_keeps_its_number(local_ray, tmp_path):
    """The face is gone for analysed frames 3-5 of a clip split into ranges of 4 analysed frames:
    one process's tracker keeps its number through its lost-track buffer, and so must Ray's ranges."""
    clip = write_clip(tmp_path / "hidden.mp4", frames=16, faces=1, blank=(3, 4, 5))
    recognizer = EmotionRecognizer.from_pretrained()
    predictor = BatchPredictor(recognizer, every=1, video_recognizer=frame_recognizer(recognizer))
    expected, _ = run(predictor, [clip], progress=False)
    assert {row.face_id for row in expected if row.face.face_found} == {1}
    assert len(plan([clip], predictor, range_frames=4)) == 4
    rows, _ = run_on_ray(predictor, [clip], None, None, "torch", 320, None, workers=2, range_frames=4)
    assert [row.as_dict() for row in rows] == [row.as_dict() for row in expected]
