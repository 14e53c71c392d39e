"""FER+ crowd votes: row alignment with FER-2013, vote distributions and the majority rule, the
data audit, and training on the votes (soft targets) with train.py."""

import json

import numpy as np
import pytest

from fer_model import DataError, FER2013_LABELS, FERNet
from fer_model.data.ferplus import VOTE_COLUMNS, data_audit, everyday_prior, load_ferplus, vote_targets
from fer_model.processing.processor import FaceProcessor


def _votes(**counts) -> np.ndarray:
    return np.array([[counts.get(name, 0) for name in VOTE_COLUMNS]])


def test_votes_become_distributions_in_the_model_label_order():
    crowd, majority = vote_targets(_votes(happiness=6, surprise=3, neutral=1))
    # the single neutral vote is an outlier (dropped); happy and surprise in FER-2013's order
    expected = np.zeros(7)
    expected[FER2013_LABELS.index("happy")], expected[FER2013_LABELS.index("surprise")] = 6 / 9, 3 / 9
    assert crowd[0] == pytest.approx(expected) and majority[0] == FER2013_LABELS.index("happy")


@pytest.mark.parametrize("counts, label", [
    (dict(anger=5, sadness=5), None),  # a tie: nobody holds more than half
    (dict(fear=4, surprise=3, neutral=3), None),  # 4 of 10 is no majority
    (dict(fear=4, surprise=3, neutral=1, sadness=1, anger=1), "fear"),  # 4 of 7 once single votes go
    (dict(unknown=6, happiness=4), None),  # "unknown" on top: no majority
    (dict(NF=10), None),
    (dict(contempt=7, anger=3), None),  # contempt has no FER-2013 class
])
def test_the_fer_plus_majority_rule(counts, label):
    _, majority = vote_targets(_votes(**counts))
    assert majority[0] == (FER2013_LABELS.index(label) if label else -1)


def test_contempt_unknown_and_non_face_votes_leave_the_distribution():
    crowd, _ = vote_targets(_votes(contempt=4, unknown=3, NF=3))
    assert crowd.sum() == 0  # nothing left: training falls back to the original label
    crowd, _ = vote_targets(_votes(contempt=4, sadness=6))
    assert crowd[0, FER2013_LABELS.index("sad")] == pytest.approx(1.0)


def test_the_real_votes_line_up_with_fer2013(ferplus_data):
    data = ferplus_data
    assert data.crowd.shape == (len(data), 7) and data.crowd.dtype == np.float32
    assert np.allclose(data.crowd[data.has_crowd].sum(1), 1, atol=1e-5)
    assert data.not_face.sum() == 173  # the rows FER+ gives no image name
    majority = data.crowd_majority >= 0
    # 31,412 faces have a FER+ majority (shared/ferplus/README.md); 148 of them are contempt
    assert majority.sum() == 31_412 - 148
    agreement = (data.crowd_majority[majority] == data.labels[majority]).mean()
    assert 0.66 < agreement < 0.70
    public = data.split("PublicTest")  # split() keeps the votes with their rows
    assert np.bincount(public.crowd_majority[public.crowd_majority >= 0], minlength=7).tolist() == \
        [287, 24, 62, 865, 351, 415, 1182]


def test_misaligned_votes_are_refused_naming_the_row(tmp_path, ferplus_csv, fer_data):
    lines = ferplus_csv.read_text().splitlines(keepends=True)
    short = tmp_path / "short.csv"
    short.write_text("".join(lines[:-1]))
    with pytest.raises(DataError, match="35886 rows but the FER-2013 data has 35887"):
        load_ferplus(short, fer_data)
    first_public = next(i for i, line in enumerate(lines) if line.startswith("PublicTest"))
    swapped = lines[:]
    swapped[first_public - 1], swapped[first_public] = swapped[first_public], swapped[first_public - 1]
    moved = tmp_path / "moved.csv"
    moved.write_text("".join(swapped))
    with pytest.raises(DataError, match=f"line {first_public}: Usage 'PublicTest' where FER-2013 row"):
        load_ferplus(moved, fer_data)
    with pytest.raises(DataError, match="not found"):
        load_ferplus(tmp_path / "missing.csv", fer_data)


def test_the_data_audit_counts_what_the_readme_of_the_votes_says(ferplus_data):
    audit = data_audit(ferplus_data)
    assert audit["rows"] == 35_887 and audit["not_face"] == 173
    assert audit["crowd_majority"] == 31_264 and audit["agreement"] == pytest.approx(0.6786, abs=1e-4)
    assert 0 < audit["conflicting_rows"] < audit["repeated_rows"]
    assert audit["splits"]["PublicTest"]["training_twins"] > 0


def test_everyday_prior_is_mostly_neutral_and_happy(ferplus_data):
    prior = dict(zip(FER2013_LABELS, everyday_prior(ferplus_data)))
    assert sum(prior.values()) == pytest.approx(1)
    assert prior["neutral"] > prior["happy"] > prior["sad"] > prior["fear"] > prior["disgust"]


@pytest.mark.slow  # trains two models
def test_train_learns_from_the_votes_and_records_both_benchmarks(tmp_path, fer_csv, ferplus_csv, fer_cache):
    import train

    out = tmp_path / "crowd"
    state = train.main(["--data", str(fer_csv), "--ferplus", str(ferplus_csv), "--cache-dir", str(fer_cache),
                        "--out", str(out), "--epochs", "1", "--limit", "300", "--crowd-weight", "0.5",
                        "--select", "both", "--class-weights", "sqrt", "--ema", "0.9"])
    row = state.history[0]
    assert 0 <= row["val_crowd_accuracy"] <= 1 and row["val_crowd_nll"] > 0
    assert state.best_score == pytest.approx((row["val_macro_f1"] + row["val_crowd_accuracy"]) / 2)
    processor = FaceProcessor.from_pretrained(out)
    assert processor.everyday_prior is not None and sum(processor.trained_prior) == pytest.approx(1)
    # the crowd's neutral-heavy votes raise neutral's share of the trained prior over its share of the labels
    labels_only = train.main(["--data", str(fer_csv), "--ferplus", str(ferplus_csv), "--cache-dir", str(fer_cache),
                              "--out", str(tmp_path / "labels"), "--epochs", "1", "--limit", "300",
                              "--class-weights", "sqrt", "--stop-after", "1"])
    assert labels_only.history[0]["val_loss"] != row["val_loss"]
    neutral = FER2013_LABELS.index("neutral")
    assert processor.trained_prior[neutral] > FaceProcessor.from_pretrained(tmp_path / "labels").trained_prior[neutral]
    saved = json.loads((out / "training_config.json").read_text())
    assert saved["crowd_weight"] == 0.5 and saved["select"] == "both"
    FERNet.from_pretrained(out)


def test_mixed_targets_weigh_the_label_and_the_votes(ferplus_data):
    from fer_model.training import targets
    from fer_model.training import config as train_config

    rows = ferplus_data.split("Training", 50)
    config = train_config.parse_args(["--crowd-weight", "0.25", "--ferplus", "votes.csv", "--data", "x.csv"])
    mixed = targets.mixed_targets(rows, config.crowd_weight)
    onehot = np.eye(7)[rows.labels]
    voted = rows.has_crowd
    assert mixed[voted] == pytest.approx(0.75 * onehot[voted] + 0.25 * rows.crowd[voted])
    assert mixed[~voted] == pytest.approx(onehot[~voted])
    assert mixed.sum(1) == pytest.approx(np.ones(len(rows)))
