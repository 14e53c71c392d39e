"""Measure a saved FERNet on FER-2013 (and on labelled photos through the face detector) and
write its metrics, figures and model card.

    python evaluate.py --model fernet-fer2013                                     # into runs/evaluate/
    python evaluate.py --model fernet-ferplus --update-model --default-prior balanced --card model_card.md

Writes metrics.json, confusion_matrix.png, reliability_diagram.png and README.md (the model card)
into --out (default: runs/evaluate/<model folder name>). With --update-model they go into the
model folder instead, and the temperature fitted on PublicTest (with --default-prior, that prior)
is stored in its preprocessor_config.json; without it the model folder is only read. --card
writes a copy of the card elsewhere with image links that still resolve.

Reported: the model alone (one crop, no test-time averaging) on --split; the default inference
path (the crop and test-time views of preprocessor_config.json) beside it; a robustness table (the same
split under the perturbations of fer_model.evaluation.robustness); and, where the wild_faces photos are
found, accuracy through EmotionRecognizer.predict (detection, crop, model) as an out-of-domain row.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from fer_model.errors import DEBUG_HELP
from fer_model.cli import require_torch

require_torch("evaluate.py")  # one line and exit 2 where PyTorch is missing

import torch  # noqa: E402
from tqdm import tqdm

from fer_model import EmotionRecognizer, FERNet, YuNetFaceDetector, default_data_path, load_fer2013, resolve_model
from fer_model.card import write_card
from fer_model.folder import DEFAULT_MODEL_NAME, SHIPPED_MODELS
from fer_model.data.fer2013 import FERData
from fer_model.evaluation.metrics import (classification_metrics, crowd_metrics, expected_calibration_error, fit_temperature,
                                  reliability_bins)
from fer_model.data.fer2013 import default_wild_path
from fer_model.data.fer2013 import DATA_REQUIRED
from fer_model.data.ferplus import data_audit, everyday_prior, load_ferplus, votes_beside
from fer_model.pipelines.inference import load_pretrained, predict_logits
from fer_model.vision.detect import file_sha256
from fer_model.folder import WEIGHTS_NAME, atomic_write, portable
from fer_model.processing.processor import PRIOR_NAMES, FaceProcessor, update_processor
from fer_model.evaluation.robustness import load_labelled_photos, photo_metrics, robustness_table
from fer_model.training.records import read_training_config
from fer_model.training.targets import recorded_prior
from fer_model.training.config import DEFAULT_CACHE

DEFAULT_DATA = default_data_path()
DEFAULT_WILD = default_wild_path()
CALIBRATION_SPLIT = "PublicTest"


@dataclass
class EvalConfig:
    model: str  # saved model folder
    data: str | None  # FER-2013 CSV or image folder
    ferplus: str | None  # FER+ votes, row-aligned with the CSV
    split: str  # the reported split
    out: str | None  # where outputs go (default: runs/evaluate/<model name>, or the model folder with update_model)
    update_model: bool  # write outputs into the model folder, the fitted temperature into its processor
    default_prior: str | None  # with update_model: the prior stored as the model's default
    card: str | None  # extra copy of the model card (e.g. model_card.md at the repo root)
    calibrate: bool  # fit the temperature on PublicTest
    robustness: bool  # measure the split under each perturbation (the model alone)
    robustness_views: bool  # also through the default path's views (six times the work)
    wild: str | None  # labelled photos (labels.csv beside them) measured through the detector
    quiet: bool  # no progress bars


def parse_args(argv: list[str] | None = None) -> EvalConfig:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    parser.add_argument("--model", default=DEFAULT_MODEL_NAME,
                        help="saved model folder (config.json + model.safetensors) or a shipped model's short name "
                             f"({', '.join(SHIPPED_MODELS)}; default: %(default)s)")
    parser.add_argument("--data", default=str(DEFAULT_DATA) if DEFAULT_DATA else None,
                        help="FER-2013 CSV or image folder (default: %(default)s)")
    parser.add_argument("--ferplus", help="FER+ crowd votes (fer2013new.csv), row-aligned with --data, for the FER+ "
                                          "benchmark (default: the shared copy when --data is the shared CSV; '' skips it)")
    parser.add_argument("--split", default="PrivateTest", choices=["PrivateTest", "PublicTest"],
                        help="split to report (default: %(default)s)")
    parser.add_argument("--out", help="output folder (default: runs/evaluate/<model folder name>)")
    parser.add_argument("--update-model", action="store_true",
                        help="write metrics, figures and card into the model folder and the fitted temperature "
                             "into its preprocessor_config.json")
    parser.add_argument("--default-prior", choices=PRIOR_NAMES,
                        help="with --update-model: store this class prior as the model's default")
    parser.add_argument("--card", help="also write the model card here, e.g. model_card.md")
    parser.add_argument("--no-calibrate", dest="calibrate", action="store_false",
                        help="keep the processor's temperature instead of fitting one on PublicTest")
    parser.add_argument("--no-robustness", dest="robustness", action="store_false",
                        help="skip the perturbation table (it runs the split 11 more times)")
    parser.add_argument("--robustness-views", action="store_true",
                        help="also measure the perturbations through the default path's views (several "
                             "minutes more on a laptop CPU)")
    parser.add_argument("--wild", default=str(DEFAULT_WILD) if DEFAULT_WILD else None,
                        help="folder of labelled photos for the out-of-domain rows (default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.data is None:
        parser.error(DATA_REQUIRED)
    if args.ferplus is None:
        args.ferplus = votes_beside(args.data)  # the shared votes, where --data is the shared CSV
    if args.wild and not (Path(args.wild) / "labels.csv").exists():
        parser.error(f"--wild {args.wild}: no labels.csv there")
    if args.default_prior and not args.update_model:
        parser.error("--default-prior changes the model folder: add --update-model")
    return EvalConfig(**vars(args))


def complete_processor(processor: FaceProcessor, model_dir: Path, data: FERData) -> FaceProcessor:
    """The processor with what a folder saved before train.py stored them lacks: the trained prior,
    worked out from its training record, and the crowd's everyday prior, from the FER+ votes."""
    record = read_training_config(model_dir)
    if processor.trained_prior is None and record and not record.get("soup"):
        processor = dataclasses.replace(processor, trained_prior=recorded_prior(record, data))
    if processor.everyday_prior is None and data.crowd is not None:
        processor = dataclasses.replace(processor, everyday_prior=everyday_prior(data))
    return processor


def training_twins(data: FERData, split: str) -> np.ndarray:
    """Mask over `split`'s rows whose exact pixels also occur in Training."""
    seen = {image.tobytes() for image in data.split("Training").images}
    return np.array([image.tobytes() in seen for image in data.split(split).images])


def measure(probabilities: np.ndarray, labels: np.ndarray, names: list[str]) -> dict:
    """Classification metrics plus the ECE of these probabilities."""
    metrics = classification_metrics(labels, probabilities.argmax(1), names)
    metrics["ece"] = expected_calibration_error(probabilities, labels)
    return metrics


class Phases:
    """One progress bar per phase of the evaluation (on stderr, where it is a terminal), so a long
    run shows where it is."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def __call__(self, items, desc: str, total: int | None = None):
        return tqdm(items, desc=desc, total=total, disable=True if self.quiet else None, file=sys.stderr, leave=False)


def calibration_targets(rows: FERData, crowd_trained: bool) -> tuple[np.ndarray, np.ndarray]:
    """(row mask, labels) the temperature is fitted to: the labels the model learned, i.e. the FER+
    crowd's majority (rows with one) for a model trained mostly on the votes, else FER-2013's."""
    if crowd_trained and rows.crowd is not None:
        mask = rows.crowd_majority >= 0
        return mask, rows.crowd_majority[mask]
    return np.ones(len(rows.labels), dtype=bool), rows.labels


def evaluate(model: FERNet, processor: FaceProcessor, data: FERData, config: EvalConfig,
             crowd_trained: bool = False) -> dict:
    names = model.labels
    progress = Phases(config.quiet)
    calibration = data.split(CALIBRATION_SPLIT)
    calibration_logits = predict_logits(model, processor.normalize(calibration.images))
    if config.calibrate:
        mask, targets = calibration_targets(calibration, crowd_trained)
        processor = dataclasses.replace(processor, temperature=fit_temperature(calibration_logits[torch.from_numpy(mask)],
                                                                               targets))
    alone = processor.single_view().with_prior("trained")  # the headline: one crop, the trained prior
    temperature = processor.temperature
    report = data.split(config.split)
    logits = predict_logits(model, processor.normalize(report.images))
    probabilities = alone.probabilities(logits)
    results = {"split": config.split, **measure(probabilities, report.labels, names)}
    # calibration is measured against the labels the temperature was fitted to (the crowd's for a crowd model)
    kept, targets = calibration_targets(report, crowd_trained)
    before = dataclasses.replace(alone, temperature=1.0).probabilities(logits)[kept]
    results["calibration"] = {
        "temperature": temperature, "bins": 15,
        "fitted_on": (CALIBRATION_SPLIT + (" (FER+ majority labels)" if crowd_trained else "")) if config.calibrate
                     else "config",
        "measured_on": "FER+ majority labels" if crowd_trained else "FER-2013 labels",
        "ece_before": expected_calibration_error(before, targets),
        "ece_after": expected_calibration_error(probabilities[kept], targets),
        "reliability_before": reliability_bins(before, targets),
        "reliability_after": reliability_bins(probabilities[kept], targets),
    }
    twins = training_twins(data, config.split)
    columns = {
        CALIBRATION_SPLIT: measure(alone.probabilities(calibration_logits), calibration.labels, names),
        f"{config.split} without Training twins": measure(probabilities[~twins], report.labels[~twins], names),
    }
    columns[f"{config.split} without Training twins"]["removed_rows"] = int(twins.sum())
    results["default_path"] = processor.describe()
    results["default_prior"] = processor.prior if isinstance(processor.prior, str) else "custom"
    default_logits = predict_logits(model, processor.crop_inputs(report.images)) if processor.views_per_face > 1 else logits
    columns[f"{config.split}, default path"] = measure(processor.probabilities(default_logits), report.labels, names)
    results["columns"] = {config.split: {k: v for k, v in results.items()
                                         if k not in ("calibration", "split", "default_path", "default_prior")},
                          **columns}
    priors = processor.prior_names()
    if data.crowd is not None:
        results["ferplus"] = {split: crowd_metrics(alone.probabilities(split_logits), rows, names)
                              for split, rows, split_logits in ((CALIBRATION_SPLIT, calibration, calibration_logits),
                                                                (config.split, report, logits))}
        results["audit"] = data_audit(data)
    results["priors"] = {}
    for prior in priors:
        under = processor.with_prior(prior)
        default = under.probabilities(default_logits)
        row = {"original": {k: v for k, v in classification_metrics(report.labels, default.argmax(1), names).items()
                            if k in ("accuracy", "macro_f1", "balanced_accuracy")}}
        if data.crowd is not None:
            row["ferplus"] = {k: v for k, v in crowd_metrics(default, report, names).items()
                              if k in ("accuracy", "macro_f1", "cross_entropy")}
        results["priors"][prior] = row
    if config.robustness:
        results["robustness"] = {"model alone": robustness_table(model, alone, report.images, report.labels,
                                                                 progress=progress, clean=probabilities)}
        if config.robustness_views:
            results["robustness"]["default path"] = robustness_table(
                model, processor.with_prior("trained"), report.images, report.labels, progress=progress)
    if config.wild:
        paths, labels = load_labelled_photos(config.wild, names)
        recognizer = EmotionRecognizer(model, processor, YuNetFaceDetector())
        wild = photo_metrics(recognizer, paths, labels, priors, progress=progress)
        results["wild_faces"] = {"path": config.wild, **wild[results["default_prior"]]} if results["default_prior"] in wild \
            else {"path": config.wild, **wild["trained"]}
        for prior in priors:
            results["priors"][prior]["wild_faces"] = {k: wild[prior][k] for k in
                                                      ("accuracy", "macro_f1", "balanced_accuracy", "rows")}
    return results


def plot_confusion_matrix(matrix: list[list[int]], names: list[str], title: str, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.array(matrix)
    rates = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    figure, axes = plt.subplots(1, 2, figsize=(13.5, 5.6), gridspec_kw={"wspace": 0.4})
    for axis, values, label in ((axes[0], counts, "counts"), (axes[1], rates, "share of each true label (row)")):
        image = axis.imshow(rates, cmap="Blues", vmin=0, vmax=1)
        for (i, j), value in np.ndenumerate(values):
            text = f"{value:d}" if values is counts else f"{value:.2f}"
            axis.text(j, i, text, ha="center", va="center", fontsize=9, color="white" if rates[i, j] > 0.5 else "black")
        axis.set_xticks(range(len(names)), names, rotation=35, ha="right")
        axis.set_yticks(range(len(names)), names)
        axis.set(xlabel="predicted", ylabel="true", title=f"{title}: {label}")
    figure.colorbar(image, ax=axes, shrink=0.8, label="row share")
    atomic_write(path, lambda temp: figure.savefig(temp, dpi=110, bbox_inches="tight", format="png"))
    plt.close(figure)


def plot_reliability(calibration: dict, title: str, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4.4), sharey=True)
    panels = (("reliability_before", "ece_before", "T = 1"),
              ("reliability_after", "ece_after", f"T = {calibration['temperature']:.2f}"))
    for axis, (bins_key, ece_key, label) in zip(axes, panels):
        accuracy, confidence, count = (np.array(v) for v in zip(*calibration[bins_key]))
        axis.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
        axis.bar(confidence, accuracy, width=1 / 15, edgecolor="black", alpha=0.7, label="accuracy per bin")
        axis.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence (top probability)",
                 title=f"{title}, {label}: ECE {calibration[ece_key]:.3f}")
        axis.legend(loc="upper left")
    axes[0].set_ylabel("accuracy")
    figure.tight_layout()
    atomic_write(path, lambda temp: figure.savefig(temp, dpi=110, format="png"))
    plt.close(figure)


def main(argv: list[str] | None = None) -> dict:
    config = parse_args(argv)
    model_dir = Path(resolve_model(config.model))
    out = Path(config.out) if config.out else model_dir if config.update_model else \
        Path("runs") / "evaluate" / model_dir.resolve().name
    model, processor = load_pretrained(model_dir)
    if config.default_prior:
        processor = processor.with_prior(config.default_prior)
    data = load_fer2013(config.data, cache_dir=DEFAULT_CACHE)  # the parsed CSV, where train.py keeps it
    if config.ferplus:
        data = load_ferplus(config.ferplus, data)
    processor = complete_processor(processor, model_dir, data)
    crowd_trained = float((read_training_config(model_dir) or {}).get("crowd_weight") or 0.0) >= 0.5
    results = evaluate(model, processor, data, config, crowd_trained)
    results["model"] = {"path": str(model_dir), "sha256": file_sha256(model_dir / WEIGHTS_NAME),
                        "parameters": sum(p.numel() for p in model.parameters())}
    out.mkdir(parents=True, exist_ok=True)
    if config.update_model:
        changes = {"trained_prior": processor.trained_prior, "everyday_prior": processor.everyday_prior}
        if config.calibrate:
            changes["temperature"] = results["calibration"]["temperature"]
        update_processor(model_dir, **changes, **({"prior": config.default_prior} if config.default_prior else {}))
    text = json.dumps(portable(results), indent=2)  # no folder of this machine in a published record
    atomic_write(out / "metrics.json", lambda temp: Path(temp).write_text(text))
    plot_confusion_matrix(results["confusion_matrix"], model.labels, config.split, out / "confusion_matrix.png")
    plot_reliability(results["calibration"], config.split, out / "reliability_diagram.png")
    write_card(model_dir, out, results, config.card)
    print(json.dumps({name: {"accuracy": round(c["accuracy"], 4), "macro_f1": round(c["macro_f1"], 4)}
                      for name, c in results["columns"].items()}, indent=2))
    for split, crowd in results.get("ferplus", {}).items():
        print(f"FER+ {split} (model alone): majority accuracy {crowd['accuracy']:.4f}, macro-F1 {crowd['macro_f1']:.4f}, "
              f"cross-entropy to the votes {crowd['cross_entropy']:.4f}")
    for name, table in results.get("robustness", {}).items():
        print(f"robustness, {name}: clean {table['clean']['accuracy']:.4f}, mean of perturbed "
              f"{table['mean of perturbed']['accuracy']:.4f}")
    for prior, row in results["priors"].items():
        wild = row.get("wild_faces")
        print(f"prior {prior}: {config.split} default path accuracy {row['original']['accuracy']:.4f}"
              + (f", FER+ {row['ferplus']['accuracy']:.4f}" if "ferplus" in row else "")
              + (f"; wild_faces accuracy {wild['accuracy']:.4f}, macro-F1 {wild['macro_f1']:.4f}, balanced "
                 f"{wild['balanced_accuracy']:.4f}" if wild else ""))
    headline = results["columns"][config.split]
    print(f"{config.split}: accuracy {headline['accuracy']:.4f}, macro-F1 {headline['macro_f1']:.4f}; "
          f"ECE {results['calibration']['ece_before']:.4f} -> {results['calibration']['ece_after']:.4f} "
          f"(T = {results['calibration']['temperature']:.3f}); wrote {out}")
    return results


if __name__ == "__main__":
    from fer_model.cli import run

    run(main)
