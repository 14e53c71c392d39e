"""Run the recognizer over many images and videos: one row per face, faces followed across frames.

    python -m fer_model predict photos/ clip.mp4 --out results.csv --every 2 --annotate annotated/

Used by the `predict` command (`fer_model/__main__.py`) and the app's Video tab.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from .inference import EmotionRecognizer
from ..prediction import FacePrediction
from ..folder import atomic_write
from ..processing.preprocess import IMAGE_SUFFIXES, ImageError, load_image, to_rgb
from ..vision.render import annotate
from ..vision.detect import LANDMARK_NAMES, VIDEO_DETECT_SIDE
from ..vision.tracking import FaceTracker
from ..errors import InputError, OutputError

# FFmpeg inside OpenCV prints its own complaints about a broken file (several times); the
# InputError raised for that file says it once, in words.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".webm", ".mkv", ".m4v", ".mpg", ".mpeg"}
VIDEO_CODECS = {"mp4": "mp4v", "webm": "VP80"}  # what the opencv-python wheels can encode
LANDMARK_COLUMNS = [f"{name}_{axis}" for name in LANDMARK_NAMES for axis in "xy"]
FIXED_COLUMNS = ["source", "frame", "time_s", "face_id", "face_found", "x", "y", "w", "h", "detector_score",
                 *LANDMARK_COLUMNS, "label", "score"]


@dataclass
class FaceRow:
    source: str
    frame: int | None  # None for images
    time_s: float | None
    face_id: int  # from 1: the face's number in the image, or its track across a video's frames
    face: FacePrediction

    def as_dict(self) -> dict:
        x, y, w, h = self.face.box
        row = {"source": self.source, "frame": self.frame, "time_s": None if self.time_s is None else round(self.time_s, 4),
               "face_id": self.face_id, "face_found": self.face.face_found, "x": x, "y": y, "w": w, "h": h,
               "detector_score": self.face.detector_score}
        points = self.face.landmarks or {}
        row.update({f"{name}_{axis}": points[name][k] if name in points else None
                    for name in LANDMARK_NAMES for k, axis in enumerate("xy")})
        row.update({"label": self.face.label, "score": round(self.face.score, 6)})
        row.update({label: round(p, 6) for label, p in self.face.probabilities.items()})
        return row


@dataclass
class Summary:
    files: int = 0
    frames: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # source -> reason


def collect_inputs(paths: Iterable[str | Path]) -> tuple[list[Path], dict[str, str]]:
    """Files to process (folders searched recursively for images and videos, sorted) and the
    inputs that yielded nothing, with the reason."""
    files, problems = [], {}
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
            if not found:
                problems[str(path)] = "the folder holds no images or videos"
            files += found
        elif path.is_file():
            files.append(path)
        else:
            problems[str(path)] = "no such file or folder"
    return files, problems


def unique_stems(files: list[Path]) -> dict[Path, str]:
    """A name for each input's output files: its stem, numbered (-2, -3, ...) where stems repeat."""
    stems, seen = {}, {}
    for path in files:
        seen[path.stem] = seen.get(path.stem, 0) + 1
        stems[path] = path.stem if seen[path.stem] == 1 else f"{path.stem}-{seen[path.stem]}"
    return stems


def planned_outputs(files: list[Path], out: Path, annotate: str | Path | None,
                    video_format: str = "mp4") -> tuple[dict[Path, Path], list[Path]]:
    """What a run over `files` writes besides `out`: {video: its timeline PNG} and the annotated copies."""
    stems = unique_stems(files)
    videos = [path for path in files if path.suffix.lower() in VIDEO_SUFFIXES]
    timelines = {video: out.with_name(f"{out.stem}.{stems[video]}.timeline.png") for video in videos}
    annotated = [] if not annotate else [
        Path(annotate) / f"{stems[path]}.annotated.{video_format if path in videos else 'jpg'}" for path in files]
    return timelines, annotated


def video_frames(path: Path, every: int = 1, start: int = 0,
                 stop: int | None = None) -> Iterator[tuple[int, float, np.ndarray]]:
    """(frame index, time in seconds, RGB frame) of every `every`-th frame of a video file (frame
    indices from `start` up to `stop`, a range of the whole video's frames: `start` is a multiple
    of `every`)."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise InputError(f"{path}: not a video OpenCV can open (no video stream, or a format its FFmpeg lacks)")
        fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
        if start:
            capture.set(cv2.CAP_PROP_POS_FRAMES, start)
        index, yielded = start, 0
        while stop is None or index < stop:
            grabbed = capture.grab()
            if not grabbed:
                break
            if index % every == 0:
                ok, frame = capture.retrieve()
                if not ok:
                    raise InputError(f"{path}: frame {index} could not be decoded")
                yield index, (index / fps if fps > 0 else float(index)), frame[:, :, ::-1]
                yielded += 1
            index += 1
        if yielded == 0:
            raise InputError(f"{path}: no video frames could be read (empty or corrupt file)")
    finally:
        capture.release()



def frame_recognizer(recognizer: EmotionRecognizer, side: int = VIDEO_DETECT_SIDE,
                     single_view: bool = False) -> EmotionRecognizer:
    """The recognizer's model and processor with a detector for video and webcam frames, which
    searches them at `side` pixels: about 4x cheaper than 640 for a 640x480 frame and enough for
    the faces they hold. `single_view`: one plain crop per face (the live webcam)."""
    from ..vision.detect import YuNetFaceDetector

    processor = recognizer.processor.single_view() if single_view else recognizer.processor
    detector = YuNetFaceDetector(max_side=side, retry_pad=0)  # a frame is a scene, never a tight crop of a face
    return EmotionRecognizer(recognizer.model, processor, detector, device=recognizer.device)


def video_info(path: Path) -> tuple[int, float]:
    """(frame count, frames per second) as the container states them (0 where unknown)."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        return int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0), float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    finally:
        capture.release()


class BatchPredictor:
    """Predictions over images and videos, streamed as :class:`FaceRow` per face.

    Args:
        recognizer: the recognizer used for images (and for video frames unless `video_recognizer`).
        video_recognizer: the recognizer for video frames, e.g. one that detects on fewer pixels.
        every: analyse every N-th video frame.
        fps: instead of `every`, analyse about this many frames per second of each video.
        smoothing: weight of the past in a per-face moving average of video probabilities (0: none).
        annotate: folder for annotated copies (images as JPEG, videos as `video_format`), or None.
        video_format: "mp4" (MPEG-4, for desktop players) or "webm" (VP8, which browsers play).
        landmarks: also mark the detector's five landmarks on the annotated copies.
    """

    def __init__(self, recognizer: EmotionRecognizer, every: int = 1, smoothing: float = 0.0,
                 annotate: str | Path | None = None, fps: float | None = None, video_format: str = "mp4",
                 video_recognizer: EmotionRecognizer | None = None, landmarks: bool = False) -> None:
        if video_format not in VIDEO_CODECS:
            raise ValueError(f"video_format must be one of {sorted(VIDEO_CODECS)}, not {video_format!r}")
        if every < 1 or (fps is not None and fps <= 0):
            raise ValueError(f"every must be at least 1 and fps positive (got every={every}, fps={fps})")
        if not 0 <= smoothing < 1:
            raise ValueError(f"smoothing must be in [0, 1), not {smoothing}")
        self.recognizer, self.video_recognizer = recognizer, video_recognizer or recognizer
        self.every, self.fps, self.smoothing, self.video_format = every, fps, smoothing, video_format
        self.annotate, self.landmarks = (Path(annotate) if annotate else None), landmarks
        self.stems: dict[Path, str] = {}  # output names of the inputs of a run (see unique_stems)

    def image_rows(self, path: Path) -> list[FaceRow]:
        try:
            image = load_image(path)
        except ImageError as error:
            raise InputError(str(error)) from None
        frame = to_rgb(image)
        faces = self.recognizer.predict(frame)
        if self.annotate:
            self._write_annotated_image(path, frame, faces)
        return [FaceRow(str(path), None, None, number, face) for number, face in enumerate(faces, start=1)]

    def video_rows(self, path: Path, on_frame: Callable[[], None] = lambda: None, start: int = 0,
                   stop: int | None = None) -> Iterator[FaceRow]:
        """Rows of the faces in a video's analysed frames (those from `start` up to `stop` only: a
        range's faces are numbered from 1 in the order they appear, as a whole video's are)."""
        tracker, writer = FaceTracker(keep=self.smoothing), None
        fps = video_info(path)[1]
        every = self.every_for(fps)
        try:
            for index, seconds, frame in video_frames(path, every, start, stop):
                tracked = [(number, face) for number, face in tracker.update(self.video_recognizer.predict(frame))
                           if number is not None]  # frames without a face give no row
                for number, face in tracked:
                    yield FaceRow(str(path), index, seconds, number, face)
                if self.annotate:
                    writer = writer or self._video_writer(path, frame, (fps or 30.0) / every)
                    writer.write(annotate(frame, [face for _, face in tracked], [n for n, _ in tracked],
                                          self.landmarks)[:, :, ::-1])
                on_frame()
        finally:
            if writer is not None:
                writer.release()

    def _write_annotated_image(self, path: Path, frame: np.ndarray, faces: list[FacePrediction]) -> None:
        from PIL import Image

        target = self.annotate / f"{self.stems.get(path, path.stem)}.annotated.jpg"
        picture = Image.fromarray(annotate(frame, faces, landmarks=self.landmarks))
        atomic_write(target, lambda temp: picture.save(temp, format="JPEG", quality=90))

    def every_for(self, video_fps: float) -> int:
        """The frame step for a video of `video_fps` frames a second: `every`, or the step that
        gives about `fps` analysed frames a second."""
        if self.fps is None:
            return self.every
        return max(1, round(video_fps / self.fps))

    def _video_writer(self, path: Path, frame: np.ndarray, fps: float):
        import cv2

        self.annotate.mkdir(parents=True, exist_ok=True)
        target = self.annotated_video(path)
        codec = cv2.VideoWriter_fourcc(*VIDEO_CODECS[self.video_format])
        writer = cv2.VideoWriter(str(target), codec, fps, (frame.shape[1], frame.shape[0]))
        if not writer.isOpened():
            raise InputError(f"{target}: OpenCV cannot write {self.video_format} video here")
        return writer

    def annotated_video(self, path: Path) -> Path:
        return self.annotate / f"{self.stems.get(Path(path), Path(path).stem)}.annotated.{self.video_format}"


def run(predictor: BatchPredictor, inputs: list[str | Path], progress: bool = True) -> tuple[list[FaceRow], Summary]:
    """Every face of every input, with a summary naming what failed; a failing file never stops the
    rest, and each is named in one line on stderr as it is skipped."""
    from tqdm import tqdm

    files, problems = collect_inputs(inputs)
    predictor.stems = unique_stems(files)
    summary = Summary(failed=dict(problems))
    for source, reason in problems.items():
        tqdm.write(f"skipped {source}: {reason}", file=sys.stderr)
    rows: list[FaceRow] = []
    with tqdm(files, desc="files", unit="file", disable=not progress) as bar:
        for path in bar:
            try:
                if path.suffix.lower() in VIDEO_SUFFIXES:
                    count, fps = video_info(path)
                    with tqdm(total=count // predictor.every_for(fps) or None, desc=path.name, unit="frame",
                              leave=False, disable=not progress) as frames:
                        before = summary.frames

                        def counted() -> None:
                            summary.frames += 1
                            frames.update()

                        found = list(predictor.video_rows(path, counted))
                        if summary.frames == before:
                            raise InputError(f"{path}: no video frames could be read")
                else:
                    found = predictor.image_rows(path)
                    summary.frames += 1
            except InputError as error:
                reason = str(error).replace(f"{path}: ", "")
                summary.failed[str(path)] = reason
                tqdm.write(f"skipped {path}: {reason}", file=sys.stderr)
                continue
            rows += found
            summary.files += 1
    return rows, summary


def check_output(target: str | Path) -> None:
    """Refuse, before any work, an output that could not be written at the end: a folder that
    does not exist, or Parquet without a Parquet engine for pandas (pyarrow or fastparquet)."""
    import importlib.util

    target = Path(target)
    if not target.parent.is_dir():
        raise OutputError(f"{target}: the folder {target.parent} does not exist")
    if target.suffix.lower() == ".parquet" and not any(importlib.util.find_spec(engine) is not None
                                                       for engine in ("pyarrow", "fastparquet")):
        raise OutputError(f"{target}: writing Parquet needs pyarrow (pip install pyarrow; fer_model[ray] has it), "
                          "or name a .csv output (--json for JSON)")


def rescue_rows(rows: list[FaceRow], labels: list[str], target: str | Path) -> Path:
    """Where the rows go when `target` could not be written after the work: a CSV beside it, else
    in the temporary folder. Returns the file written."""
    import tempfile

    target = Path(target)
    for place in (target.with_name(f"{target.stem}.rescued.csv"),
                  Path(tempfile.gettempdir()) / f"{target.stem}.rescued.csv"):
        try:
            write_rows(rows, labels, place)
            return place
        except OSError:
            continue
    raise OutputError(f"{target}: could not be written, nor a rescue copy beside it or in the temporary folder")


def write_rows(rows: list[FaceRow], labels: list[str], target: str | Path, as_json: bool = False) -> None:
    """The rows as CSV, JSON records or (a `.parquet` target) Parquet, written atomically."""
    records = [row.as_dict() for row in rows]
    if Path(target).suffix.lower() == ".parquet":
        import pandas as pd

        table = pd.DataFrame(records, columns=FIXED_COLUMNS + list(labels))
        atomic_write(target, lambda temp: table.to_parquet(temp, index=False))
        return
    if as_json:
        text = json.dumps(records, indent=1)
    else:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=FIXED_COLUMNS + list(labels))
        writer.writeheader()
        writer.writerows(records)
        text = buffer.getvalue()
    atomic_write(target, lambda temp: Path(temp).write_text(text))


def plot_timeline(rows: list[FaceRow], labels: list[str], target: str | Path, title: str = "") -> None:
    """Probability of each label over time, one panel per face id, written as PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ids = sorted({row.face_id for row in rows}) or [1]
    figure, axes = plt.subplots(len(ids), 1, figsize=(10, 2.6 * len(ids)), squeeze=False, sharex=True)
    for axis, face_id in zip(axes[:, 0], ids):
        mine = [row for row in rows if row.face_id == face_id]
        times = [row.time_s for row in mine]
        marker = "o" if len(mine) < 3 else None  # a face seen in one or two frames still shows
        for label in labels:
            axis.plot(times, [row.face.probabilities[label] for row in mine], label=label, linewidth=1.4, marker=marker)
        axis.set(ylim=(0, 1), ylabel="probability",
                 title=(f"{title} face {face_id}" + (f" (seen in {len(mine)} frame{'s' if len(mine) > 1 else ''})"
                                                     if len(mine) < 3 else "")) if mine else f"{title}: no face found")
        axis.grid(alpha=0.3)
    axes[0, 0].legend(ncol=len(labels), fontsize=8, loc="upper center", bbox_to_anchor=(0.5, 1.45))
    axes[-1, 0].set_xlabel("time (s)")
    figure.tight_layout()
    atomic_write(target, lambda temp: figure.savefig(temp, dpi=100, format="png"))
    plt.close(figure)
