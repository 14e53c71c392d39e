"""Following faces across video or webcam frames by box overlap: a number that stays with each
face, and optionally a moving average of its probabilities so live bars do not flicker."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .detect import iou
from ..prediction import FacePrediction


LOST_FRAMES = 10  # frames a face may go unseen (a blink, a turned head) and keep its number


class FaceTracker:
    """Gives each detected face a number (from 1) that stays with it across frames, and blends its
    probabilities with its own in the previous frame it was seen in.

    A face continues the track whose last box overlaps it most (IoU >= `min_iou`), else starts a
    new track with the next number. A track that finds no face is kept for `lost_frames` frames
    (a lost-track buffer, as ByteTrack keeps one), so a face missed for a frame or two keeps its
    number and its average. Its probabilities become ``keep * previous + (1 - keep) * current``
    (an exponential moving average; `keep` 0: none). A whole-image prediction (no face found) is
    passed through without a number.
    """

    def __init__(self, keep: float = 0.0, min_iou: float = 0.3, lost_frames: int = LOST_FRAMES) -> None:
        if not 0 <= keep < 1:
            raise ValueError(f"keep must be in [0, 1), not {keep}")
        if lost_frames < 0:
            raise ValueError(f"lost_frames must be 0 or more, not {lost_frames}")
        self.keep, self.min_iou, self.lost_frames = keep, min_iou, lost_frames
        # id -> (last box, probabilities, frames since it was last seen), oldest track first
        self.tracks: dict[int, tuple[tuple[int, int, int, int], np.ndarray, int]] = {}
        self.next_id = 1

    def update(self, faces: list[FacePrediction], keep: float | None = None) -> list[tuple[int | None, FacePrediction]]:
        """(track number or None, prediction with smoothed probabilities) of each face of a frame;
        `keep` overrides the tracker's weight of the past for this frame (the live slider)."""
        keep = self.keep if keep is None else keep
        free, tracks, out = dict(self.tracks), {}, []
        for face in faces:
            if not face.face_found:
                out.append((None, face))
                continue
            labels = list(face.probabilities)
            current = np.array([face.probabilities[label] for label in labels])
            best = max(free, key=lambda track: iou(free[track][0], face.box), default=None)
            if best is not None and iou(free[best][0], face.box) >= self.min_iou:
                number, (_, previous, _) = best, free.pop(best)
                current = keep * previous + (1 - keep) * current
            else:
                number, self.next_id = self.next_id, self.next_id + 1
            named = dict(zip(labels, current.tolist()))
            tracks[number] = (face.box, current, 0)
            out.append((number, replace(face, label=max(named, key=named.get), probabilities=named)))  # keeps saliency
        for number, (box, probabilities, missed) in free.items():  # unseen this frame: kept a while
            if missed < self.lost_frames:
                tracks[number] = (box, probabilities, missed + 1)
        self.tracks = dict(sorted(tracks.items()))
        return out
