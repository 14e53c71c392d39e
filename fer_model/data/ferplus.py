"""FER+ crowd votes (Barsoum et al., ICMI 2016): ten annotators per FER-2013 face.

`fer2013new.csv` has one row per FER-2013 row, in the same order, with vote counts for
neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown and NF (not a
face). :func:`load_ferplus` attaches them to a :class:`FERData` after checking that the two
files line up, as two arrays in the model's label order:

- `crowd` (N, 7) float32: the vote distribution used as a training target. Votes of 1 are
  dropped as outliers (the FER+ paper's rule); contempt (no FER-2013 class), "unknown" and "not a
  face" votes are dropped; the rest is normalised. A row with no emotion vote left is all zeros
  (`has_crowd` False): training falls back to its original label.
- `crowd_majority` (N,) int64: the FER+ majority label for evaluation, or -1. The paper's rule:
  after dropping votes of 1, the top category must hold more than half of the remaining votes,
  and must be an emotion (not "unknown" or "not a face"). Faces whose majority is contempt have no
  FER-2013 class and count as -1 too (they are left out of the FER+ scores).

The 173 rows whose `Image name` is empty are the faces the FER+ authors judged not to be faces;
they are marked in `not_face` and left out of training whenever crowd targets are used.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from .fer2013 import DataError, FERData, default_data_path, shared_path
from ..folder import CHECKOUT
from ..labels import FER2013_LABELS

VOTE_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")
# The FER+ emotion columns that have a FER-2013 class, by FER-2013 label.
FERPLUS_NAMES = {"angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "happiness", "sad": "sadness",
                 "surprise": "surprise", "neutral": "neutral"}


def default_ferplus_path(checkout: str | os.PathLike = CHECKOUT) -> Path | None:
    """The shared FER+ votes beside a checkout (`../shared/ferplus/fer2013new.csv`), or None."""
    return shared_path("ferplus", "fer2013new.csv", checkout=checkout)


def votes_beside(data: str | os.PathLike | None) -> str | None:
    """The default --ferplus of a command given `data`: the shared votes when `data` is the shared
    FER-2013 CSV they are row-aligned with, else None (votes for another CSV must be named)."""
    default_data, default_votes = default_data_path(), default_ferplus_path()
    if data is None or default_data is None or default_votes is None:
        return None
    return str(default_votes) if Path(data).resolve() == default_data.resolve() else None


def read_votes(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(votes (N, 10) int in VOTE_COLUMNS order, splits (N,), not_face (N,) bool) of fer2013new.csv."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"FER+ votes not found at {path}; pass fer2013new.csv")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as error:
        raise DataError(f"{path}: not a readable CSV file ({error})") from error
    missing = [c for c in ("Usage", "Image name", *VOTE_COLUMNS) if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; found {list(frame.columns)}")
    votes = frame[list(VOTE_COLUMNS)].apply(pd.to_numeric, errors="coerce")
    if votes.isna().any().any() or (votes < 0).any().any():
        row = int(np.flatnonzero((votes.isna() | (votes < 0)).any(axis=1).to_numpy())[0])
        raise DataError(f"{path}, line {row + 2}: vote counts must be non-negative integers")
    return (votes.to_numpy(dtype=np.int64), frame["Usage"].str.strip().to_numpy(dtype=object),
            (frame["Image name"].str.strip() == "").to_numpy())


def vote_targets(votes: np.ndarray, labels: list[str] = list(FER2013_LABELS)) -> tuple[np.ndarray, np.ndarray]:
    """(distributions (N, classes) float32, majority (N,) int64 or -1) of raw votes, in `labels` order."""
    votes = np.where(votes > 1, votes, 0)  # single votes are outliers (FER+ paper)
    emotion = np.stack([votes[:, VOTE_COLUMNS.index(FERPLUS_NAMES[name])] for name in labels], axis=1)
    totals = emotion.sum(1, keepdims=True)
    distributions = np.divide(emotion, totals, out=np.zeros(emotion.shape), where=totals > 0).astype(np.float32)
    top = votes.argmax(1)  # over all ten columns: an "unknown" or "not a face" top has no majority
    has_majority = votes.max(1) * 2 > votes.sum(1)
    to_label = {VOTE_COLUMNS.index(FERPLUS_NAMES[name]): index for index, name in enumerate(labels)}
    majority = np.array([to_label.get(int(t), -1) if ok else -1 for t, ok in zip(top, has_majority)], dtype=np.int64)
    return distributions, majority


def load_ferplus(path: str | os.PathLike, data: FERData) -> FERData:
    """`data` (the whole FER-2013 CSV, in file order) with the FER+ votes at `path` attached.

    Raises:
        DataError: the files do not line up (another row count, or a row whose Usage differs),
            naming the first row where they part.
    """
    votes, splits, not_face = read_votes(path)
    if len(votes) != len(data):
        raise DataError(f"{path} has {len(votes)} rows but the FER-2013 data has {len(data)}: the FER+ votes "
                        "are row-aligned with the full Kaggle CSV (fer2013.csv), in its order")
    differ = np.flatnonzero(splits != data.splits)
    if len(differ):
        row = int(differ[0])
        raise DataError(f"{path}, line {row + 2}: Usage {splits[row]!r} where FER-2013 row {row} is "
                        f"{data.splits[row]!r}; the FER+ votes must be in the FER-2013 CSV's row order")
    crowd, majority = vote_targets(votes)
    return replace(data, crowd=crowd, crowd_majority=majority, not_face=not_face)


def everyday_prior(data: FERData) -> list[float]:
    """The crowd's class distribution of everyday faces: the mean FER+ vote distribution over the
    Training faces with a usable vote (FER-2013's faces were found by web image search)."""
    train = data.split("Training")
    return train.crowd[train.has_crowd].mean(0).astype(np.float64).tolist()


def data_audit(data: FERData) -> dict:
    """Facts about the labels, computed from the data (FER-2013 with the FER+ votes attached):
    how often the crowd's majority agrees with the original label, how many faces repeat (exact
    pixels) and with conflicting labels, how many test faces also occur in Training, and how many
    rows are not faces."""
    majority = data.crowd_majority >= 0
    agree = data.crowd_majority[majority] == data.labels[majority]
    _, groups, sizes = np.unique(data.images.reshape(len(data), -1), axis=0, return_inverse=True, return_counts=True)
    groups = groups.ravel()
    repeated = sizes[groups] > 1
    label_sets = {}
    for group, label in zip(groups[repeated], data.labels[repeated]):
        label_sets.setdefault(int(group), set()).add(int(label))
    conflicting = {group for group, labels in label_sets.items() if len(labels) > 1}
    training_groups = set(groups[data.splits == "Training"].tolist())
    per_split = {}
    for split in ("Training", "PublicTest", "PrivateTest"):
        rows = data.splits == split
        both = rows & majority
        per_split[split] = {
            "rows": int(rows.sum()),
            "crowd_majority": int(both.sum()),
            "agreement": float((data.crowd_majority[both] == data.labels[both]).mean()),
            "training_twins": int(np.isin(groups[rows], list(training_groups)).sum()) if split != "Training" else None,
        }
    return {
        "rows": len(data),
        "crowd_majority": int(majority.sum()),
        "agreement": float(agree.mean()),
        "no_majority": int((~majority & ~data.not_face).sum()),
        "not_face": int(data.not_face.sum()),
        "repeated_rows": int(repeated.sum()),
        "conflicting_rows": int(np.isin(groups, list(conflicting)).sum()),
        "splits": per_split,
    }
