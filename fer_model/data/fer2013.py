"""FER-2013 loading: the Kaggle CSV (plain or gzipped, also the `icml_face_data.csv` variant)
and the image-folder layout `ROOT/<split>/<label>/*.png`.

Both give the same thing: a :class:`FERData` of uint8 faces (N, 48, 48), int64 labels in
FER-2013 order and the split of every row.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..labels import FER2013_LABELS, FOLDER_SPLITS, SPLITS
from ..processing.preprocess import IMAGE_SUFFIXES
from ..errors import DataError
from ..folder import CHECKOUT

IMAGE_SIZE = 48


@dataclass
class FERData:
    """FER-2013 faces held in memory.

    Attributes:
        images: uint8 array (N, 48, 48), grayscale, row-major as in the CSV.
        labels: int64 array (N,), indices into :data:`FER2013_LABELS`.
        splits: array (N,) of split names: "Training", "PublicTest" or "PrivateTest".
    """

    images: np.ndarray
    labels: np.ndarray
    splits: np.ndarray
    # FER+ crowd votes, when attached by fer_model.data.ferplus.load_ferplus (see there).
    crowd: np.ndarray | None = None  # (N, classes) float32 vote distributions; all zeros: no usable vote
    crowd_majority: np.ndarray | None = None  # (N,) int64 FER+ majority label, -1 where there is none
    not_face: np.ndarray | None = None  # (N,) bool: judged not a face by the FER+ annotators

    def __len__(self) -> int:
        return len(self.labels)

    def split(self, name: str, limit: int | None = None) -> "FERData":
        """Rows of one split (at most `limit` of them, in file order)."""
        if name not in SPLITS:
            raise DataError(f"unknown split {name!r}; expected one of {', '.join(SPLITS)}")
        index = np.flatnonzero(self.splits == name)[:limit]
        if len(index) == 0:
            raise DataError(f"split {name!r} is empty in this dataset")
        return self.take(index)

    def take(self, index: np.ndarray) -> "FERData":
        """The rows at `index`, with whatever FER+ votes are attached."""
        def pick(array):
            return None if array is None else array[index]
        return FERData(self.images[index], self.labels[index], self.splits[index], pick(self.crowd),
                       pick(self.crowd_majority), pick(self.not_face))

    @property
    def has_crowd(self) -> np.ndarray:
        """(N,) bool: rows with a usable crowd vote distribution."""
        if self.crowd is None:
            raise DataError("no FER+ votes attached; load them with fer_model.data.ferplus.load_ferplus")
        return self.crowd.sum(1) > 0

    def counts(self) -> dict[str, int]:
        """Rows per split."""
        names, counts = np.unique(self.splits, return_counts=True)
        return {str(n): int(c) for n, c in zip(names, counts)}


# The folder of this package's checkout (the repository root when the package is used from a clone).


def shared_path(*parts: str, checkout: str | os.PathLike = CHECKOUT) -> Path | None:
    """`CHECKOUT/../shared/<parts>` where it exists, else None: the one place the default data
    locations are worked out (an installed package, away from a checkout, has none)."""
    path = Path(checkout).resolve().parent.joinpath("shared", *parts)
    return path if path.exists() else None


def default_data_path(checkout: str | os.PathLike = CHECKOUT) -> Path | None:
    """The shared FER-2013 CSV beside a checkout (`../shared/fer2013/fer2013.csv.gz`), or None."""
    return shared_path("fer2013", "fer2013.csv.gz", checkout=checkout)


# What train.py, evaluate.py and soup.py say when there is no --data and no shared copy to default to.
DATA_REQUIRED = "--data is required: no FER-2013 CSV found at the default location"


def default_wild_path(checkout: str | os.PathLike = CHECKOUT) -> Path | None:
    """The shared labelled photos beside a checkout (`../shared/wild_faces`, labels.csv inside), or None."""
    return shared_path("wild_faces", "labels.csv", checkout=checkout) and shared_path("wild_faces", checkout=checkout)


def load_fer2013(path: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> FERData:
    """Load FER-2013 from a Kaggle CSV (`.csv` or `.csv.gz`) or an image folder.

    Args:
        path: the CSV file, or a folder laid out as `ROOT/<split>/<label>/*.png` with splits
            train, val|validation, test and labels named as in FER-2013.
        cache_dir: where to keep a parsed `.npz` copy of a CSV, keyed by the file's size and
            modification time; None parses every time (about 3 s for the full CSV).

    Raises:
        DataError: a missing path, a malformed row (named by its line number), an unknown label
            or split, an unreadable image file.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"FER-2013 data not found at {path}; pass the CSV file or image folder")
    if path.is_dir():
        return _load_image_folder(path)
    if cache_dir is None:
        return _load_csv(path)
    return _load_csv_cached(path, Path(cache_dir))


def _load_csv_cached(path: Path, cache_dir: Path) -> FERData:
    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    cached = cache_dir / f"fer2013-{key}.npz"
    if cached.exists():
        with np.load(cached) as arrays:
            return FERData(arrays["images"], arrays["labels"], arrays["splits"].astype(object))
    data = _load_csv(path)
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(".partial.npz")
    np.savez(partial, images=data.images, labels=data.labels, splits=data.splits.astype(str))
    os.replace(partial, cached)  # a killed process never leaves a half-written cache behind
    return data


def _load_csv(path: Path) -> FERData:
    import pandas as pd  # here, not at the top: `import fer_model` stays without pandas
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as error:
        raise DataError(f"{path}: not a readable CSV file ({error})") from error
    frame.columns = [str(c).strip() for c in frame.columns]  # icml_face_data.csv: " Usage", " pixels"
    missing = [c for c in ("emotion", "pixels", "Usage") if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; found {list(frame.columns)}")
    if frame.empty:
        raise DataError(f"{path}: the CSV has a header but no rows")
    labels = _parse_labels(path, frame["emotion"])
    splits = _parse_splits(path, frame["Usage"])
    images = _parse_pixels(path, frame["pixels"])
    return FERData(images, labels, splits)


def _line(row: int) -> int:
    return row + 2  # 1-based, after the header line


def _parse_labels(path: Path, column: pd.Series) -> np.ndarray:
    import pandas as pd  # here, not at the top: `import fer_model` stays without pandas
    labels = pd.to_numeric(column.str.strip(), errors="coerce")
    bad = ~labels.isin(range(len(FER2013_LABELS)))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"{path}, line {_line(row)}: emotion {column.iloc[row]!r} is not a label index 0-6 "
            f"({', '.join(FER2013_LABELS)})"
        )
    return labels.to_numpy(dtype=np.int64)


def _parse_splits(path: Path, column: pd.Series) -> np.ndarray:
    splits = column.str.strip()
    bad = ~splits.isin(SPLITS)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"{path}, line {_line(row)}: Usage {column.iloc[row]!r} is not one of {', '.join(SPLITS)}"
        )
    return splits.to_numpy(dtype=object)


def _parse_pixels(path: Path, column: pd.Series) -> np.ndarray:
    """Parse all pixel strings in one pass; go row by row only when that pass does not fit."""
    size = IMAGE_SIZE * IMAGE_SIZE
    one_space_rows = (column.str.strip().str.count(" ") + 1 == size).all()
    flat = None
    if one_space_rows:
        try:
            flat = np.fromstring(" ".join(column.to_list()), dtype=np.int64, sep=" ")
        except ValueError:  # a non-numeric token; the row-by-row pass below names it
            pass
    if flat is not None and flat.size == size * len(column) and flat.min() >= 0 and flat.max() <= 255:
        return flat.astype(np.uint8).reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
    rows = [_parse_pixel_row(path, row, text, size) for row, text in enumerate(column.to_list())]
    return np.stack(rows).reshape(-1, IMAGE_SIZE, IMAGE_SIZE)


def _parse_pixel_row(path: Path, row: int, text: str, size: int) -> np.ndarray:
    tokens = text.split()
    if len(tokens) != size:
        raise DataError(f"{path}, line {_line(row)}: {len(tokens)} pixel values, expected {size} (48x48)")
    for token in tokens:
        if not token.isdigit() or int(token) > 255:
            raise DataError(f"{path}, line {_line(row)}: pixel value {token!r} is not an integer 0-255")
    return np.array(tokens, dtype=np.uint8)


def _load_image_folder(root: Path) -> FERData:
    from ..processing.preprocess import ImageError, load_image, resize_face, to_grayscale

    images, labels, splits = [], [], []
    for split_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        split = FOLDER_SPLITS.get(split_dir.name.lower())
        if split is None:
            raise DataError(f"{split_dir}: unknown split folder; expected train, val|validation or test")
        for label_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
            label = label_dir.name.lower()
            if label not in FER2013_LABELS:
                raise DataError(f"{label_dir}: unknown label folder; expected one of {', '.join(FER2013_LABELS)}")
            for file in sorted(label_dir.iterdir()):
                if file.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                try:  # the one preprocessing path: luminance grayscale, then the model's resize
                    images.append(resize_face(to_grayscale(load_image(file)), IMAGE_SIZE))
                except ImageError as error:
                    raise DataError(f"{file}: unreadable image ({error})") from error
                labels.append(FER2013_LABELS.index(label))
                splits.append(split)
    if not images:
        raise DataError(f"{root}: no images found under {root}/<split>/<label>/")
    return FERData(np.stack(images), np.array(labels, dtype=np.int64), np.array(splits, dtype=object))
