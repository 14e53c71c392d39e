"""Measure a saved FERNet on FER-2013 (and on labelled photos through the face detector) and
write its metrics, figures and model card.

    python evaluate.py --model fer_model/pretrained/fernet-fer2013                 # into runs/evaluate/
    python evaluate.py --model fer_model/pretrained/fernet-fer2013 --update-model --card model_card.md

Writes metrics.json, confusion_matrix.png, reliability_diagram.png and README.md (the model card)
into --out (default: runs/evaluate/<model folder name>). With --update-model they go into the
model folder instead and the temperature fitted on PublicTest is stored in its config.json;
without it the model folder is only read. --card writes a copy of the card elsewhere with image
links that still resolve.

Reported: the model alone (one crop, no test-time averaging) on --split; the default inference
path (the crop and test-time views in config.json) beside it; a robustness table (the same
split under the perturbations of fer_model.robustness); and, where the wild_faces photos are
found, accuracy through EmotionRecognizer.predict (detection, crop, model) as an out-of-domain row.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fer_model import EmotionRecognizer, FERNet, HaarFaceDetector, default_data_path, load_fer2013
from fer_model.card import write_card
from fer_model.data import FERData
from fer_model.evaluation import classification_metrics, expected_calibration_error, fit_temperature, reliability_bins
from fer_model.inference import calibrated_probabilities, predict_crops, predict_logits
from fer_model.model import WEIGHTS_NAME, atomic_write, update_config
from fer_model.robustness import load_labelled_photos, photo_metrics, robustness_table

DEFAULT_DATA = default_data_path(Path(__file__).resolve().parent)
DEFAULT_WILD = Path(__file__).resolve().parent.parent / "shared" / "wild_faces"
CALIBRATION_SPLIT = "PublicTest"


@dataclass
class EvalConfig:
    model: str  # saved model folder
    data: str | None  # FER-2013 CSV or image folder
    split: str  # the reported split
    out: str | None  # where outputs go (default: runs/evaluate/<model name>, or the model folder with update_model)
    update_model: bool  # write outputs into the model folder and store the fitted temperature in its config
    card: str | None  # extra copy of the model card (e.g. model_card.md at the repo root)
    calibrate: bool  # fit the temperature on PublicTest
    robustness: bool  # measure the split under each perturbation
    wild: str | None  # labelled photos (labels.csv beside them) measured through the detector


def parse_args(argv: list[str] | None = None) -> EvalConfig:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="saved model folder (config.json + model.safetensors)")
    parser.add_argument("--data", default=str(DEFAULT_DATA) if DEFAULT_DATA else None,
                        help="FER-2013 CSV or image folder (default: %(default)s)")
    parser.add_argument("--split", default="PrivateTest", choices=["PrivateTest", "PublicTest"],
                        help="split to report (default: %(default)s)")
    parser.add_argument("--out", help="output folder (default: runs/evaluate/<model folder name>)")
    parser.add_argument("--update-model", action="store_true",
                        help="write metrics, figures and card into the model folder and the fitted temperature "
                             "into its config.json")
    parser.add_argument("--card", help="also write the model card here, e.g. model_card.md")
    parser.add_argument("--no-calibrate", dest="calibrate", action="store_false",
                        help="keep the config's temperature instead of fitting one on PublicTest")
    parser.add_argument("--no-robustness", dest="robustness", action="store_false",
                        help="skip the perturbation table (it runs the split 24 more times)")
    parser.add_argument("--wild", default=str(DEFAULT_WILD) if DEFAULT_WILD.exists() else None,
                        help="folder of labelled photos for the out-of-domain row (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.data is None:
        parser.error("--data is required: no FER-2013 CSV found at the default location")
    if args.wild and not (Path(args.wild) / "labels.csv").exists():
        parser.error(f"--wild {args.wild}: no labels.csv there")
    return EvalConfig(**vars(args))


def describe_views(model: FERNet) -> str:
    """How the default path crops and averages, in words."""
    crops = len(model.tta_scales)
    parts = [f"crop {model.crop_scale:g}x the face box"]
    if crops > 1:
        parts.append(f"{crops} crops ({', '.join(f'{s:g}' for s in model.tta_scales)})")
    if model.tta_flip:
        parts.append("flip")
    return ", ".join(parts)


def training_twins(data: FERData, split: str) -> np.ndarray:
    """Mask over `split`'s rows whose exact pixels also occur in Training."""
    seen = {image.tobytes() for image in data.split("Training").images}
    return np.array([image.tobytes() in seen for image in data.split(split).images])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def measure(probabilities: np.ndarray, labels: np.ndarray, names: list[str]) -> dict:
    """Classification metrics plus the ECE of these probabilities."""
    metrics = classification_metrics(labels, probabilities.argmax(1), names)
    metrics["ece"] = expected_calibration_error(probabilities, labels)
    return metrics


def evaluate(model: FERNet, data: FERData, config: EvalConfig) -> dict:
    names = model.labels
    calibration = data.split(CALIBRATION_SPLIT)
    calibration_logits = predict_logits(model, calibration.images)
    temperature = fit_temperature(calibration_logits, calibration.labels) if config.calibrate else model.temperature
    model.temperature = temperature  # every probability below, the default path's included, uses it
    report = data.split(config.split)
    logits = predict_logits(model, report.images)
    probabilities = calibrated_probabilities(logits, temperature)
    results = {"split": config.split, **measure(probabilities, report.labels, names)}
    results["calibration"] = {
        "temperature": temperature, "fitted_on": CALIBRATION_SPLIT if config.calibrate else "config", "bins": 15,
        "ece_before": expected_calibration_error(calibrated_probabilities(logits, 1.0), report.labels),
        "ece_after": results["ece"],
        "reliability_before": reliability_bins(calibrated_probabilities(logits, 1.0), report.labels),
        "reliability_after": reliability_bins(probabilities, report.labels),
    }
    twins = training_twins(data, config.split)
    columns = {
        CALIBRATION_SPLIT: measure(calibrated_probabilities(calibration_logits, temperature), calibration.labels, names),
        f"{config.split} without Training twins": measure(probabilities[~twins], report.labels[~twins], names),
    }
    columns[f"{config.split} without Training twins"]["removed_rows"] = int(twins.sum())
    results["default_path"] = describe_views(model)
    if len(model.tta_scales) > 1 or model.tta_flip:
        columns[f"{config.split}, default path"] = measure(predict_crops(model, report.images), report.labels, names)
    results["columns"] = {config.split: {k: v for k, v in results.items()
                                         if k not in ("calibration", "split", "default_path")}, **columns}
    if config.robustness:
        results["robustness"] = {
            "model alone": robustness_table(model, report.images, report.labels),
            "default path": robustness_table(model, report.images, report.labels, test_time=True),
        }
    if config.wild:
        paths, labels = load_labelled_photos(config.wild, names)
        results["wild_faces"] = {"path": config.wild, **photo_metrics(EmotionRecognizer(model, HaarFaceDetector()),
                                                                      paths, labels)}
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
    model_dir = Path(config.model)
    out = Path(config.out) if config.out else model_dir if config.update_model else \
        Path("runs") / "evaluate" / model_dir.resolve().name
    out.mkdir(parents=True, exist_ok=True)
    model = FERNet.from_pretrained(model_dir)
    data = load_fer2013(config.data)
    results = evaluate(model, data, config)
    results["model"] = {"path": str(model_dir), "sha256": sha256(model_dir / WEIGHTS_NAME),
                        "parameters": sum(p.numel() for p in model.parameters())}
    if config.update_model and config.calibrate:
        update_config(model_dir, temperature=results["calibration"]["temperature"])
    text = json.dumps(results, indent=2)
    atomic_write(out / "metrics.json", lambda temp: Path(temp).write_text(text))
    plot_confusion_matrix(results["confusion_matrix"], model.labels, config.split, out / "confusion_matrix.png")
    plot_reliability(results["calibration"], config.split, out / "reliability_diagram.png")
    write_card(model_dir, out, results, config.card)
    print(json.dumps({name: {"accuracy": round(c["accuracy"], 4), "macro_f1": round(c["macro_f1"], 4)}
                      for name, c in results["columns"].items()}, indent=2))
    for name, table in results.get("robustness", {}).items():
        print(f"robustness, {name}: clean {table['clean']['accuracy']:.4f}, mean of perturbed "
              f"{table['mean of perturbed']['accuracy']:.4f}")
    if "wild_faces" in results:
        wild = results["wild_faces"]
        print(f"wild_faces ({wild['rows']} photos, faces found in {wild['faces_found']:.1%}): accuracy "
              f"{wild['accuracy']:.4f}, macro-F1 {wild['macro_f1']:.4f}")
    headline = results["columns"][config.split]
    print(f"{config.split}: accuracy {headline['accuracy']:.4f}, macro-F1 {headline['macro_f1']:.4f}; "
          f"ECE {results['calibration']['ece_before']:.4f} -> {results['calibration']['ece_after']:.4f} "
          f"(T = {results['calibration']['temperature']:.3f}); wrote {out}")
    return results


if __name__ == "__main__":
    from fer_model.cli import run

    run(main)
