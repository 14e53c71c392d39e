"""`fer-model predict --ray [ADDRESS]`: the same prediction on Ray Data, for archives that outgrow
one process or one machine.

Files become a dataset of tasks (an image, or a range of a video's frames), a pool of actors that
each hold one recognizer does the work (`map_batches` with a callable class), and the rows come
back to this process, which writes them as one table. Within a video, the ranges' faces are then
numbered by one face tracker replayed over every analysed frame in order (its lost-track buffer
included), so the numbers are those of the one-process run. With `--smoothing` a video is one task (its moving
average runs across the whole clip). Needs the `ray` extra: `pip install .[ray]`.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .batch import (FIXED_COLUMNS, VIDEO_SUFFIXES, BatchPredictor, FaceRow, InputError, Summary, frame_recognizer,
                    video_info)
from ..vision.detect import LANDMARK_NAMES
from .inference import EmotionRecognizer
from ..prediction import FacePrediction
from ..vision.tracking import FaceTracker

RANGE_FRAMES = 300  # analysed frames per video task


def plan(files: list[Path], predictor: BatchPredictor, range_frames: int = RANGE_FRAMES) -> list[dict]:
    """One task per image and per range of `range_frames` analysed frames of each video."""
    tasks = []
    for order, path in enumerate(files):
        if path.suffix.lower() not in VIDEO_SUFFIXES:
            tasks.append({"order": order, "path": str(path), "part": 0, "start": -1, "stop": -1})
            continue
        count, fps = video_info(path)
        step = range_frames * predictor.every_for(fps)
        if predictor.smoothing or count <= step:
            tasks.append({"order": order, "path": str(path), "part": 0, "start": 0, "stop": -1})
            continue
        for part, start in enumerate(range(0, count, step)):
            last = part == (count - 1) // step
            tasks.append({"order": order, "path": str(path), "part": part, "start": start,
                          "stop": -1 if last else start + step})  # the last range reads to the end
    return tasks


class TaskPredictor:
    """A Ray actor: one recognizer, loaded once, predicting the tasks of the batches it is given."""

    def __init__(self, model: str | None, prior: Any, backend: str, every: int, fps: float | None,
                 smoothing: float, video_detect_side: int) -> None:
        recognizer = EmotionRecognizer.from_pretrained(model, prior=prior, backend=backend)
        self.predictor = BatchPredictor(recognizer, every=every, fps=fps, smoothing=smoothing,
                                        video_recognizer=frame_recognizer(recognizer, video_detect_side))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        results = []
        for order, path, part, start, stop in zip(batch["order"], batch["path"], batch["part"], batch["start"],
                                                  batch["stop"]):
            result = {"order": int(order), "path": str(path), "part": int(part), "start": int(start), "frames": [],
                      "rows": [], "error": None}
            try:
                if start < 0:
                    rows = self.predictor.image_rows(Path(path))
                    result["frames"] = [None]
                else:
                    frames = result["frames"]
                    rows = list(self.predictor.video_rows(Path(path), lambda: frames.append(1), int(start),
                                                          None if stop < 0 else int(stop)))
                result["rows"] = [row.as_dict() for row in rows]
            except InputError as error:
                result["error"] = str(error).replace(f"{path}: ", "")
            results.append(json.dumps(result))
        return {"result": results}


def run_on_ray(predictor: BatchPredictor, files: list[Path], model: str | None, prior: Any, backend: str,
               video_detect_side: int, address: str | None, workers: int | None = None,
               range_frames: int = RANGE_FRAMES) -> tuple[list[FaceRow], Summary]:
    """The rows of every file (in the order `run` gives them) and a summary, computed on Ray."""
    import ray

    tasks = plan(files, predictor, range_frames)
    if not ray.is_initialized():
        ray.init(address=address or None, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # no per-dataset INFO lines on the user's terminal
    ray.data.DataContext.get_current().enable_progress_bars = False
    workers = workers or max(1, min(len(tasks), int(ray.cluster_resources().get("CPU", 1))))
    dataset = ray.data.from_items(tasks).map_batches(
        TaskPredictor, batch_size=1, compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=1,
        fn_constructor_kwargs={"model": model, "prior": prior, "backend": backend, "every": predictor.every,
                               "fps": predictor.fps, "smoothing": predictor.smoothing,
                               "video_detect_side": video_detect_side})
    results = sorted((json.loads(record["result"]) for record in dataset.take_all()),
                     key=lambda r: (r["order"], r["part"]))
    return stitch(results, predictor)


def stitch(results: list[dict], predictor: BatchPredictor) -> tuple[list[FaceRow], Summary]:
    """The tasks' rows as one run's: each video's ranges renumbered as one track sequence."""
    summary, rows = Summary(), []
    by_file: dict[int, list[dict]] = {}
    for result in results:
        by_file.setdefault(result["order"], []).append(result)
    for parts in by_file.values():
        path = parts[0]["path"]
        failed = next((part["error"] for part in parts if part["error"]), None)
        frames = sum(len(part["frames"]) for part in parts)
        if failed or frames == 0:
            reason = failed or "no video frames could be read"
            summary.failed[path] = reason
            print(f"skipped {path}: {reason}", file=sys.stderr)
            continue
        summary.files += 1
        summary.frames += frames
        rows += _renumbered(parts, predictor)
    return rows, summary


def _renumbered(parts: list[dict], predictor: BatchPredictor) -> list[FaceRow]:
    """A video's rows numbered by one tracker over all its analysed frames in order, as one process
    numbers them: the tracker's lost-track buffer, too, carries across the ranges' boundaries (a face
    hidden for a few frames at a boundary keeps its number). The ranges' rows carry plain
    probabilities (a video with --smoothing is one task, so replaying only renumbers)."""
    if parts[0]["start"] < 0:  # an image: its faces are numbered as they are
        return [_face_row(row) for row in parts[0]["rows"]]
    every = predictor.every_for(video_info(Path(parts[0]["path"]))[1])  # the frame step, once per video
    tracker = FaceTracker(keep=predictor.smoothing if len(parts) == 1 else 0.0)
    out: list[FaceRow] = []
    for part in parts:
        by_frame: dict[int, list[FaceRow]] = {}
        for row in (_face_row(row) for row in part["rows"]):
            by_frame.setdefault(row.frame, []).append(row)
        for index in range(len(part["frames"])):  # every analysed frame, those without a face too
            rows = by_frame.pop(part["start"] + index * every, [])
            if len(parts) == 1:  # numbered and smoothed by the task's own tracker already
                out += rows
                continue
            for (number, _), row in zip(tracker.update([row.face for row in rows]), rows):
                row.face_id = number
            out += rows
        if by_frame:  # a row of a frame the range did not analyse: the frame arithmetic is wrong, say so
            raise RuntimeError(f"{part['path']}: rows of frames {sorted(by_frame)[:3]} outside the range's analysed frames")
    return out


def _face_row(row: dict) -> FaceRow:
    """A row as FaceRow.as_dict wrote it, back as a FaceRow."""
    probabilities = {key: value for key, value in row.items() if key not in FIXED_COLUMNS}
    landmarks = None if row["right_eye_x"] is None else {
        name: [row[f"{name}_x"], row[f"{name}_y"]] for name in LANDMARK_NAMES}
    face = FacePrediction((row["x"], row["y"], row["w"], row["h"]), row["label"], probabilities, row["face_found"],
                          landmarks=landmarks, detector_score=row["detector_score"])
    return FaceRow(row["source"], row["frame"], row["time_s"], row["face_id"], face)
