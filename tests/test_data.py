import time

import numpy as np
import pytest

from fer_model import FER2013_LABELS
from PIL import Image

from fer_model import DataError, load_fer2013


def test_shared_csv_rows_and_split_counts(fer_data):
    """fer_data is the shared CSV as parsed on a cache miss (the plain parse, then written)."""
    data = fer_data
    assert data.images.shape == (35_887, 48, 48) and data.images.dtype == np.uint8
    assert data.counts() == {"Training": 28_709, "PublicTest": 3_589, "PrivateTest": 3_589}
    assert np.bincount(data.split("Training").labels).tolist() == [3995, 436, 4097, 7215, 4830, 3171, 4965]
    assert np.bincount(data.split("PrivateTest").labels).tolist() == [491, 55, 528, 879, 594, 416, 626]
    assert data.images[0, 0, :10].tolist() == [70, 80, 82, 72, 58, 58, 60, 63, 54, 58]


def test_cache_gives_the_same_arrays(fer_csv, fer_data, fer_cache):
    # fer_data parsed the CSV and wrote the cache (test_shared_csv_rows_and_split_counts checks
    # what it parsed); this load reads it back.
    assert len(list(fer_cache.glob("*.npz"))) == 1
    start = time.perf_counter()
    cached = load_fer2013(fer_csv, cache_dir=fer_cache)
    print(f"read {len(cached)} rows from the cache in {time.perf_counter() - start:.1f} s")
    assert len(list(fer_cache.glob("*.npz"))) == 1
    assert np.array_equal(cached.images, fer_data.images) and np.array_equal(cached.labels, fer_data.labels)
    assert list(cached.splits) == list(fer_data.splits)


def test_icml_variant_with_spaced_headers(tmp_path, fer_csv_head, fer_data):
    lines = ["emotion, Usage, pixels\n"]
    for line in fer_csv_head[1:]:
        emotion, pixels, usage = line.strip().split(",")
        lines.append(f"{emotion}, {usage}, {pixels}\n")
    path = tmp_path / "icml_face_data.csv"
    path.write_text("".join(lines))
    data = load_fer2013(path)
    assert np.array_equal(data.images, fer_data.images[:400])
    assert np.array_equal(data.labels, fer_data.labels[:400])


def _broken(tmp_path, fer_csv_head, row, transform):
    lines = list(fer_csv_head)
    lines[row] = transform(lines[row])
    path = tmp_path / "broken.csv"
    path.write_text("".join(lines))
    return path


@pytest.mark.parametrize(
    "transform, message",
    [
        (lambda line: line.replace(" 58 ", " ", 1), r"line 6: 2303 pixel values, expected 2304"),
        (lambda line: line.replace(" 58 ", " x5 ", 1), r"line 6: pixel value 'x5' is not an integer 0-255"),
        (lambda line: line.replace(" 58 ", " 300 ", 1), r"line 6: pixel value '300' is not an integer 0-255"),
        (lambda line: "7" + line[1:], r"line 6: emotion '7' is not a label index 0-6"),
        (lambda line: line.replace(",Training", ",Holdout"), r"line 6: Usage 'Holdout' is not one of"),
    ],
)
def test_broken_rows_name_the_line_and_fault(tmp_path, fer_csv_head, transform, message):
    path = _broken(tmp_path, fer_csv_head, 5, transform)
    assert " 58 " in fer_csv_head[5] and ",Training" in fer_csv_head[5]
    with pytest.raises(DataError, match=message):
        load_fer2013(path)


def test_missing_column_and_empty_csv(tmp_path):
    (tmp_path / "a.csv").write_text("emotion,pixels\n0,1 2 3\n")
    with pytest.raises(DataError, match=r"missing column\(s\) \['Usage'\]"):
        load_fer2013(tmp_path / "a.csv")
    (tmp_path / "b.csv").write_text("emotion,pixels,Usage\n")
    with pytest.raises(DataError, match="no rows"):
        load_fer2013(tmp_path / "b.csv")
    with pytest.raises(DataError, match="not found"):
        load_fer2013(tmp_path / "absent.csv")


def test_empty_split_is_an_error(tmp_path, fer_csv_head):
    path = tmp_path / "train_only.csv"
    path.write_text("".join(fer_csv_head[:50]))
    data = load_fer2013(path)
    with pytest.raises(DataError, match="split 'PrivateTest' is empty"):
        data.split("PrivateTest")


def _write_folder(root, data, per_class=2):
    for folder, split in (("train", "Training"), ("val", "PublicTest"), ("test", "PrivateTest")):
        part = data.split(split)
        for label_index, label in enumerate(list(FER2013_LABELS)):
            (root / folder / label).mkdir(parents=True)
            for k, i in enumerate(np.flatnonzero(part.labels == label_index)[:per_class]):
                Image.fromarray(part.images[i]).save(root / folder / label / f"{k}.png")


def test_image_folder_layout(tmp_path, fer_data):
    _write_folder(tmp_path, fer_data)
    data = load_fer2013(tmp_path)
    assert data.counts() == {"Training": 14, "PublicTest": 14, "PrivateTest": 14}
    assert np.bincount(data.labels).tolist() == [6] * 7
    train = fer_data.split("Training")
    first_angry = train.images[np.flatnonzero(train.labels == 0)[0]]
    assert np.array_equal(data.split("Training").images[0], first_angry)  # lossless PNG round trip


def test_image_folder_faults(tmp_path, fer_data):
    _write_folder(tmp_path, fer_data, per_class=1)
    (tmp_path / "train" / "contempt").mkdir()
    with pytest.raises(DataError, match="contempt: unknown label folder"):
        load_fer2013(tmp_path)
    (tmp_path / "train" / "contempt").rmdir()
    (tmp_path / "train" / "happy" / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(DataError, match="broken.png: unreadable image"):
        load_fer2013(tmp_path)
