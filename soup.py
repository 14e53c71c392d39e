"""Average the weights of FERNets trained one from another, then measure their BatchNorm
statistics again on FER-2013 Training rows.

    python soup.py runs/fernet-fer2013-stage2 runs/robust --weights 0.5,0.5 --out runs/soup

A weighted average of models that share their start (each stage of `train.py --init-from` and the
stage it started from) stays one network and can beat both: a "model soup" (Wortsman et
al. 2022), or WiSE-FT when it interpolates a robust fine-tune with its starting point. Models that
were trained apart (different seeds from scratch) do not average; measure before shipping
(`bench/choose_views.py` and `evaluate.py` on the output, chosen on PublicTest and wild_faces).

The average is taken with torch.optim.swa_utils.AveragedModel (a running mean weighted as asked).
BatchNorm's running means and variances are not linear in the weights, and the ones a run kept
were measured on augmented faces; swa_utils.update_bn re-estimates them in one pass over the
Training rows and their mirror images (train mode, no gradients, a plain mean over the batches).
Only the Training split is read. The output folder gets the last model's config and processor
(labels, normalisation, crop, views, temperature, prior; the trained prior becomes the weighted
mean of the parts' where they all have one), its training record and logs, and a `soup` entry in
training_config.json with the command that made it. Fit the temperature again with
`evaluate.py --update-model`.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
from pathlib import Path

import numpy as np
from fer_model.errors import DEBUG_HELP
from fer_model.cli import require_torch

require_torch("soup.py")  # one line and exit 2 where PyTorch is missing

import torch  # noqa: E402
from torch.optim.swa_utils import AveragedModel, update_bn

from fer_model import FERNet, default_data_path, load_fer2013
from fer_model.data.fer2013 import DATA_REQUIRED
from fer_model.pipelines.inference import load_pretrained
from fer_model.models.fernet import ModelLoadError
from fer_model.processing.processor import FaceProcessor
from fer_model.training.records import copy_records, read_training_config, write_training_config


def weights_problem(weights: list[float], models: int) -> str | None:
    """What is wrong with averaging `models` models with these weights, or None."""
    if len(weights) != models or not weights:
        return f"{len(weights)} weights for {models} models"
    if abs(sum(weights) - 1) > 1e-6 or min(weights) < 0:
        return f"weights must be non-negative and sum to 1, got {weights}"
    return None


def average_weights(models: list[FERNet], weights: list[float]) -> dict[str, torch.Tensor]:
    """The weighted mean of the models' parameters (weights sum to 1), as a state dict of the last
    model (its buffers, BatchNorm statistics included, are measured again by recompute_batchnorm).
    The models must share one network config."""
    if problem := weights_problem(weights, len(models)):
        raise ValueError(problem)
    first = models[0].config
    shape = ("channels", "image_size", "hidden_size", "labels")
    for model in models[1:]:
        if any(model.config.get(key) != first.get(key) for key in shape):
            raise ModelLoadError("the models differ in " + ", ".join(
                key for key in shape if model.config.get(key) != first.get(key)) + ": only one network's weights average")
    seen = [sum(weights[:k + 1]) for k in range(len(weights))]  # the weight behind the running mean after model k

    def weighted(averaged, new, count):  # a running mean that gives model k its weight
        k = int(count)
        return averaged + (new - averaged) * (weights[k] / seen[k] if seen[k] else 0.0)

    average = AveragedModel(models[-1], avg_fn=weighted)
    for model in models:
        average.update_parameters(model)
    return {**models[-1].state_dict(), **{name: tensor for name, tensor in average.module.state_dict().items()
                                          if name in dict(models[-1].named_parameters())}}


def recompute_batchnorm(model: FERNet, processor: FaceProcessor, faces: torch.Tensor, batch_size: int = 256) -> FERNet:
    """Replace every BatchNorm layer's running mean and variance with their mean over batches of
    `faces` (uint8, (N, size, size)), normalised by `processor`, and their mirror images
    (swa_utils.update_bn: train mode, no gradients, a cumulative mean); the weights are not touched
    and the model is returned in eval mode."""
    def batches():
        for start in range(0, len(faces), batch_size):
            batch = processor.normalize(faces[start:start + batch_size])  # (B, 1, size, size)
            yield torch.cat([batch, batch.flip(-1)]).contiguous(memory_format=torch.channels_last)

    update_bn(batches(), model)
    return model.eval()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    parser.add_argument("models", nargs="+", help="saved model folders (the last one's config and record are kept)")
    parser.add_argument("--weights", help="comma-separated weights, one per model, summing to 1 (default: equal)")
    parser.add_argument("--out", required=True, help="folder to write the averaged model to")
    default = default_data_path()
    parser.add_argument("--data", default=str(default) if default else None,
                        help="FER-2013 CSV (only Training is read; default: %(default)s)")
    parser.add_argument("--limit", type=int, help="use only the first N Training rows for BatchNorm (for tests)")
    args = parser.parse_args(argv)
    try:
        args.weights = ([float(w) for w in args.weights.split(",")] if args.weights
                        else [1 / len(args.models)] * len(args.models))
    except ValueError:
        parser.error(f"--weights: not a comma-separated list of numbers: {args.weights!r}")
    if problem := weights_problem(args.weights, len(args.models)):
        parser.error(f"--weights: {problem}")
    if args.data is None:
        parser.error(DATA_REQUIRED)
    return args


def main(argv: list[str] | None = None) -> FERNet:
    args = parse_args(argv)
    loaded = [load_pretrained(path) for path in args.models]
    models, last = [model for model, _ in loaded], Path(args.models[-1])
    averaged = average_weights(models, args.weights)
    model, processor = loaded[-1]  # the last model keeps its config and processor and gets the averaged tensors
    model.load_state_dict(averaged)
    rows = load_fer2013(args.data).split("Training", limit=args.limit)
    recompute_batchnorm(model, processor, torch.from_numpy(rows.images))
    out = Path(args.out)
    parts = [part.trained_prior for _, part in loaded]
    if all(prior is not None for prior in parts):  # what the average learned lies between what its parts learned
        processor = dataclasses.replace(processor, trained_prior=sum(
            w * np.asarray(prior) for w, prior in zip(args.weights, parts)).tolist())
    model.save_pretrained(out)
    processor.save_pretrained(out)
    training = read_training_config(last) or {}
    command = ["python", "soup.py", *args.models, "--weights", ",".join(f"{w:g}" for w in args.weights),
               "--out", str(out)]
    training["soup"] = {
        "models": list(args.models), "weights": args.weights, "batchnorm_rows": len(rows.labels),
        "training_configs": [read_training_config(path) for path in args.models],
        "command": shlex.join(command), "out": str(out),
    }
    copy_records(last, out)  # the last model's logs travel with it
    write_training_config(out, training)
    print(f"averaged {len(models)} models (weights {args.weights}), BatchNorm measured on {len(rows.labels)} "
          f"Training rows and their mirror images; saved to {out}")
    return model


if __name__ == "__main__":
    from fer_model.cli import run

    run(main)
