"""Training throughput on this machine, side by side in one run.

    python bench/train_throughput.py [--steps 40]

(a) the reference way: per-sample torchvision transforms (RandomHorizontalFlip, RandomRotation(10),
    RandomResizedCrop(48, scale=(0.9, 1.0)), ToTensor, Normalize) on PIL images through a
    DataLoader into a plain eager fp32 NCHW FERNet;
(b) train.py itself (a process of its own, two epochs on the same number of rows; the second is
    timed): the split held as uint8, batched affine augmentation, channels_last and autocast as
    train.py picks them.
Prints images/s of both, the ratio (b)/(a), seconds per FER-2013 epoch, the share of a step (b)
spends on its data pipeline, and (b)'s achieved FLOP/s against this machine's measured large
matrix-multiply rate in the same precision (FLOPs counted by torch's FlopCounterMode).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fer_model.processing.processor import FaceProcessor  # noqa: E402
from fer_model import FERNet, default_data_path, load_fer2013  # noqa: E402
from fer_model.training.augment import AugmentConfig, augment_batch  # noqa: E402

TRAIN_ROWS = 28_709


def reference_images_per_second(images: np.ndarray, labels: np.ndarray, batch: int, steps: int) -> float:
    from torchvision import transforms

    transform = transforms.Compose([
        transforms.RandomHorizontalFlip(), transforms.RandomRotation(10),
        transforms.RandomResizedCrop(48, scale=(0.9, 1.0)), transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,)),
    ])

    class FaceDataset(torch.utils.data.Dataset):
        def __len__(self):
            return len(labels)

        def __getitem__(self, i):
            return transform(Image.fromarray(images[i])), int(labels[i])

    loader = torch.utils.data.DataLoader(FaceDataset(), batch_size=batch, shuffle=True, num_workers=0)
    torch.manual_seed(0)
    model = FERNet()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    model.train()
    batches = iter(loader)
    seen, start = 0, None
    for step in range(steps + 3):
        if step == 3:  # warm-up steps excluded
            seen, start = 0, time.perf_counter()
        x, y = next(batches)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        seen += len(y)
    return seen / (time.perf_counter() - start)


def pipeline_images_per_second(data: str, batch: int, steps: int) -> tuple[float, str]:
    """train.py itself, run as a user runs it on `batch * steps` Training rows for two epochs: the
    second epoch's images/s from its log (the first warms up), and the autocast it chose."""
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([sys.executable, str(ROOT / "train.py"), "--data", data, "--out", out, "--epochs", "2",
                        "--limit", str(batch * steps), "--batch-size", str(batch), "--early-stopping", "0"],
                       check=True, stdout=subprocess.DEVNULL)
        with open(Path(out) / "log.csv") as handle:
            rows = list(csv.DictReader(handle))
        record = json.loads((Path(out) / "training_config.json").read_text())
    return float(rows[-1]["images_per_second"]), record["autocast"]


def data_pipeline_seconds(images: np.ndarray, batch: int, steps: int) -> float:
    """Seconds per batch of train.py's augmentation + normalisation alone."""
    x = torch.from_numpy(images[: batch * steps])
    generator, processor = torch.Generator().manual_seed(0), FaceProcessor()
    times = []
    for index in torch.split(torch.randperm(len(x), generator=generator), batch):
        start = time.perf_counter()
        faces = augment_batch(x[index].unsqueeze(1).float().div_(255), AugmentConfig(), generator)
        processor.normalize(faces).contiguous(memory_format=torch.channels_last)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def training_flops_per_image() -> float:
    """Forward + backward FLOPs of one FERNet training image, counted by torch."""
    from torch.utils.flop_counter import FlopCounterMode

    model = FERNet()
    x = torch.randn(8, 1, 48, 48)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), torch.zeros(8, dtype=torch.long)).backward()
    return counter.get_total_flops() / 8


def matmul_flops_per_second(dtype: torch.dtype, size: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size ** 3 * repeats / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(default_data_path()), help="FER-2013 CSV (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=40, help="timed training steps per pipeline")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    start = time.perf_counter()
    data = load_fer2013(args.data)
    print(f"parsed {args.data} ({len(data)} rows) in {time.perf_counter() - start:.1f} s, no cache")
    train_split = data.split("Training")
    images, labels = train_split.images, train_split.labels
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, {args.steps} steps each")

    reference = reference_images_per_second(images, labels, args.batch_size, args.steps)
    ours, precision = pipeline_images_per_second(args.data, args.batch_size, args.steps)
    pipeline = data_pipeline_seconds(images, args.batch_size, args.steps)
    step = args.batch_size / ours
    flops = training_flops_per_image()
    matmul = matmul_flops_per_second(torch.bfloat16 if precision != "fp32" else torch.float32)
    matmul_fp32 = matmul_flops_per_second(torch.float32) if precision != "fp32" else matmul

    print(f"(a) reference (PIL + torchvision + DataLoader, eager fp32 NCHW): {reference:7.1f} images/s   "
          f"{TRAIN_ROWS / reference / 60:5.2f} min per FER-2013 epoch")
    print(f"(b) train.py (uint8 in memory, batched affine, channels_last, {precision}): {ours:7.1f} images/s   "
          f"{TRAIN_ROWS / ours / 60:5.2f} min per FER-2013 epoch")
    print(f"ratio (b)/(a): {ours / reference:.2f}")
    print(f"(b) data pipeline: {pipeline * 1000:.2f} ms of a {step * 1000:.1f} ms step = {pipeline / step:.1%}")
    print(f"training FLOPs per image (forward + backward, counted): {flops / 1e9:.3f} GFLOP")
    print(f"(b) achieved {ours * flops / 1e9:.1f} GFLOP/s = {ours * flops / matmul:.1%} of the measured "
          f"{'bf16' if precision != 'fp32' else 'fp32'} 2048x2048 matmul rate ({matmul / 1e9:.1f} GFLOP/s); "
          f"fp32 matmul: {matmul_fp32 / 1e9:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
