"""Train FERNet on FER-2013, optionally on the FER+ crowd's votes. Options: `python train.py --help`
(they are fer_model.training.config.TrainConfig, one line each).

    python train.py --data ../shared/fer2013/fer2013.csv.gz --out runs/fernet
    python train.py --init-from fer_model/pretrained/fernet-fer2013 --crowd-weight 0.5 --out runs/crowd
    torchrun --nproc_per_node 2 train.py ...        # DistributedDataParallel, one shard per rank

Trains on Training, keeps the best epoch by a PublicTest score (--select), never reads PrivateTest.
The output folder holds that model (config.json, preprocessor_config.json, model.safetensors), the
resolved options (training_config.json), the per-epoch log and curves, and checkpoint.pt, from
which `--resume` continues to the same weights as an uninterrupted run.

The whole loop is below, top to bottom: train_epoch is one pass over the batches, main the epochs
around it (validation, the kept epoch, early stopping, the schedule, the checkpoint).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from fer_model.cli import require_torch

require_torch("train.py")  # one line and exit 2 where PyTorch is missing

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist
from tqdm import tqdm

from fer_model.training.augment import augment_batch
from fer_model.training.checkpoints import Progress, restore, save_checkpoint
from fer_model.training.records import earlier_stage, plot_curves, teacher_records, write_log, write_training_config
from fer_model.training.targets import class_weights, load_splits, teacher_targets, training_loss
from fer_model.training.config import parse_args, selection_score
from fer_model.training.loop import (AUGMENT, DROPOUT, MIXUP, Run, augment_config, autocast_dtype, build, epoch_batches,
                                resolve_device, run_processor, setup_distributed, stream_seed, validate,
                                weight_average)


def train_epoch(run: Run, epoch: int) -> dict[str, float]:
    """One pass over this rank's shard. Everything random is seeded from (seed, purpose, epoch,
    rank), so a resumed epoch replays exactly."""
    config, module = run.config, run.module
    torch.manual_seed(stream_seed(config.seed, DROPOUT, epoch, run.rank))  # dropout draws from the global generator
    augment_rng = torch.Generator().manual_seed(stream_seed(config.seed, AUGMENT, epoch, run.rank))
    augment = augment_config(config)
    batches = epoch_batches(len(run.targets), config, epoch, run.rank, run.world)
    run.model.train()
    total_loss, seen, start = 0.0, 0, time.perf_counter()
    progress = tqdm(batches, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False, file=sys.stderr,
                    disable=run.rank != 0 or not sys.stderr.isatty())  # logs get the per-epoch line instead
    for step, index in enumerate(progress):
        faces = augment_batch(run.images[index].unsqueeze(1).float().div_(255), augment, augment_rng)
        inputs = run.processor.normalize(faces).to(run.device, non_blocking=True)  # (B, 1, 48, 48)
        if config.channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        targets = run.targets[index].to(run.device, non_blocking=True)
        soft = run.soft_targets[index].to(run.device, non_blocking=True) if run.soft_targets is not None else None
        if config.mixup:  # blend each face with another of the batch, and its vote distribution with the other's
            lam = float(np.random.default_rng(stream_seed(config.seed, MIXUP, epoch, run.rank, step))
                        .beta(config.mixup, config.mixup))
            other = torch.randperm(len(index), generator=augment_rng)
            inputs = lam * inputs + (1 - lam) * inputs[other]
            targets = lam * targets + (1 - lam) * targets[other]
            if soft is not None:
                soft = lam * soft + (1 - lam) * soft[other]
        with torch.autocast(run.device.type, dtype=run.amp_dtype or torch.float32, enabled=run.amp_dtype is not None):
            logits = run.model(inputs)
        loss = training_loss(logits.float(), targets, soft, run.loss_weights, config)
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        if run.average is not None:
            run.average.update_parameters(module)
        if config.schedule != "plateau":  # one-cycle and cosine move with every step, plateau once an epoch (main)
            run.scheduler.step()
        total_loss += loss.item() * len(index)
        seen += len(index)
        progress.set_postfix(loss=f"{total_loss / seen:.4f}", refresh=False)
    seconds = time.perf_counter() - start
    return {"train_loss": total_loss / seen, "epoch_seconds": seconds, "images_per_second": seen * run.world / seconds}


def main(argv: list[str] | None = None) -> Progress:
    config = parse_args(argv)
    rank, world = setup_distributed()
    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config)
    out = Path(config.out)

    # data: uint8 faces, targets (class indices, or distributions with --crowd-weight), PublicTest rows
    images, targets, val, everyday = load_splits(config)
    module, start_processor, optimizer, scheduler = build(config, device, len(targets) // world)
    weights = class_weights(targets.numpy(), len(module.labels), config.class_weights)
    # what is saved beside the weights: the starting processor with this run's class distribution
    processor = run_processor(start_processor, config, module.labels, targets.numpy(), weights, everyday)
    run = Run(config=config, model=module, module=module, processor=processor, optimizer=optimizer,
              scheduler=scheduler, images=images, targets=targets, device=device,
              amp_dtype=autocast_dtype(config, device), loss_weights=weights.to(device) if weights is not None else None,
              soft_targets=teacher_targets(config, images, device),
              average=weight_average(module, config.ema) if config.ema else None, rank=rank, world=world)

    progress, start_epoch = Progress(), 0
    if config.resume and (out / "checkpoint.pt").exists():
        start_epoch, progress = restore(out / "checkpoint.pt", config, module, run.average, optimizer, scheduler, device)
        if rank == 0:
            print(f"resumed from {out / 'checkpoint.pt'} after epoch {start_epoch}", flush=True)
    if world > 1:
        run.model = torch.nn.parallel.DistributedDataParallel(module)  # what trains; `module` is inside
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        write_training_config(out, {**config.as_record(), "world_size": world, "device": str(device),
                                    **earlier_stage(config.init_from, out), **teacher_records(config.teachers),
                                    "autocast": str(run.amp_dtype) if run.amp_dtype else "fp32",
                                    "random_streams": "SeedSequence per purpose", "weight_average": "swa_utils",
                                    "train_rows": len(targets), "val_rows": len(val)})
        print(f"training on {len(targets)} rows, validating on {len(val)}; device {device}, {world} process(es), "
              f"autocast {run.amp_dtype or 'off'}, {torch.get_num_threads()} threads", flush=True)

    for epoch in range(start_epoch, config.epochs):
        row = {"epoch": epoch + 1, **train_epoch(run, epoch)}
        shared = torch.zeros(2, device=device)  # (validation loss, stop now), decided on rank 0 and sent to all
        if rank == 0:
            row.update(validate(run.saved, processor, val, device, config))
            row["lr"] = optimizer.param_groups[0]["lr"]
            progress.history.append(row)
            # keep the epoch with the best --select score on PublicTest
            score = selection_score(row, config.select)
            best = score > progress.best_score
            if best:
                progress.best_score, progress.best_epoch = score, row["epoch"]
                run.saved.save_pretrained(out)
                processor.save_pretrained(out)
            # early stopping counts the epochs since the validation loss last improved
            if row["val_loss"] < progress.best_val_loss:
                progress.best_val_loss, progress.stale_epochs = row["val_loss"], 0
            else:
                progress.stale_epochs += 1
            write_log(out, progress.history)
            plot_curves(out, progress.history)
            print(f"epoch {row['epoch']:3d}  train loss {row['train_loss']:.4f}  val loss {row['val_loss']:.4f}  "
                  f"val acc {row['val_accuracy']:.4f}  val macro-F1 {row['val_macro_f1']:.4f}  "
                  + (f"val FER+ acc {row['val_crowd_accuracy']:.4f}  " if "val_crowd_accuracy" in row else "")
                  + f"lr {row['lr']:.2e}  {row['epoch_seconds']:.0f} s  {row['images_per_second']:.0f} img/s"
                  + ("  *best" if best else ""), flush=True)
            shared[0] = row["val_loss"]
            shared[1] = float(bool(config.early_stopping) and progress.stale_epochs >= config.early_stopping)
        if world > 1:
            dist.broadcast(shared, src=0)
        if config.schedule == "plateau":
            scheduler.step(shared[0].item())
        if rank == 0:
            save_checkpoint(out / "checkpoint.pt", epoch + 1, progress, config, module, run.average, optimizer,
                            scheduler)
        if shared[1] or (config.stop_after and epoch + 1 - start_epoch >= config.stop_after):
            break
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return progress


if __name__ == "__main__":
    from fer_model.cli import run as run_cli

    run_cli(main)
