"""A candidate against the shipped model it would replace, on PublicTest only (where models are
chosen; PrivateTest is never read here): the FER+ figures of the model alone, calibration after
the temperature fitted on PublicTest, and the drop in FER+ majority accuracy under each of the
card's perturbations, side by side in one run. `--fit` first stores the candidate's fitted
temperature in its preprocessor_config.json (as evaluate.py --update-model would).

    python bench/candidate.py fer_model/pretrained/fernet-ferplus fer_model/pretrained/fernet-compact --fit
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fer_model import default_data_path, load_fer2013  # noqa: E402
from fer_model.data.ferplus import default_ferplus_path, load_ferplus  # noqa: E402
from fer_model.evaluation.metrics import (classification_metrics, expected_calibration_error,  # noqa: E402
                                          fit_temperature)
from fer_model.evaluation.robustness import PERTURBATIONS, robustness_table  # noqa: E402
from fer_model.pipelines.inference import load_pretrained, predict_logits  # noqa: E402
from fer_model.processing.processor import update_processor  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("shipped")
    parser.add_argument("candidate")
    parser.add_argument("--fit", action="store_true", help="store the candidate's temperature fitted on PublicTest")
    args = parser.parse_args()
    data = load_ferplus(default_ferplus_path(), load_fer2013(default_data_path()))
    rows = data.split("PublicTest")
    mask = rows.crowd_majority >= 0
    faces, labels = rows.images[mask], rows.crowd_majority[mask]
    if args.fit:
        model, processor = load_pretrained(args.candidate, backend="torch")
        logits = predict_logits(model, processor.normalize(faces))
        temperature = fit_temperature(logits, labels)
        update_processor(Path(args.candidate), temperature=temperature)
        print(f"{args.candidate}: temperature {temperature:.4f} fitted on PublicTest's FER+ majority labels")
    table = {}
    for folder in (args.shipped, args.candidate):
        model, processor = load_pretrained(folder, backend="torch")
        alone = processor.single_view().with_prior("trained")
        probabilities = alone.probabilities(predict_logits(model, processor.normalize(faces)))
        metrics = classification_metrics(labels, probabilities.argmax(1), model.labels)
        robust = robustness_table(model, alone, faces, labels, clean=probabilities)
        table[folder] = {"FER+ accuracy (alone)": metrics["accuracy"], "FER+ macro-F1 (alone)": metrics["macro_f1"],
                         "ECE after T": expected_calibration_error(probabilities, labels),
                         "temperature": processor.temperature,
                         **{f"drop: {name}": robust["clean"]["accuracy"] - robust[name]["accuracy"]
                            for name in PERTURBATIONS if name != "clean"}}
    print("| PublicTest | " + " | ".join(Path(f).name for f in table) + " | candidate - shipped |")
    print("|---|---|---|---|")
    shipped, candidate = table.values()
    for key in shipped:
        print(f"| {key} | {shipped[key]:.4f} | {candidate[key]:.4f} | {candidate[key] - shipped[key]:+.4f} |")


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
