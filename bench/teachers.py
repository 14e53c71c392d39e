"""How good are distillation teachers? PublicTest accuracy and macro-F1 of each model alone, of
each with its mirror image averaged, and of the soft targets train.py --teacher builds from them
all (softmax averaged over the models and the mirror images), side by side in one run.

    python bench/teachers.py runs/stage2 runs/stage3 [--student runs/distilled]

PrivateTest is never read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fer_model.training.targets import teacher_targets  # noqa: E402
from fer_model.training.config import parse_args  # noqa: E402
from fer_model import default_data_path, load_fer2013  # noqa: E402
from fer_model.evaluation.metrics import headline_metrics  # noqa: E402
from fer_model.pipelines.inference import load_pretrained, predict_logits  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("teachers", nargs="+", help="saved model folders")
    parser.add_argument("--student", help="a distilled model, measured alone beside them")
    parser.add_argument("--data", default=str(default_data_path()))
    args = parser.parse_args()
    val = load_fer2013(args.data).split("PublicTest")
    images = torch.from_numpy(val.images)

    def report(name: str, probabilities: torch.Tensor) -> None:
        scores = headline_metrics(probabilities.clamp_min(1e-12).log(), val.labels)
        print(f"{name:<40} PublicTest accuracy {scores['accuracy']:.4f}  macro-F1 {scores['macro_f1']:.4f}")

    for path in args.teachers:
        model, processor = load_pretrained(path)
        plain = torch.softmax(predict_logits(model, processor.normalize(images)), dim=1)
        mirrored = torch.softmax(predict_logits(model, processor.normalize(images.flip(-1))), dim=1)
        report(f"{path} alone", plain)
        report(f"{path} + mirror image", (plain + mirrored) / 2)
    config = parse_args(["--data", args.data, "--teacher", ",".join(args.teachers), "--distill", "1",
                         "--distill-temperature", "1"])
    report("all of them averaged (train.py, T=1)", teacher_targets(config, images, torch.device("cpu")))
    if args.student:
        student, processor = load_pretrained(args.student)
        report(f"{args.student} alone", torch.softmax(predict_logits(student, processor.normalize(images)), 1))


if __name__ == "__main__":
    main()
