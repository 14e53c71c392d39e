"""Train FERNet on FER-2013, optionally on the FER+ crowd's votes. Options: `python train.py --help`
(they are fer_model.training.TrainConfig, one line each).

    python train.py --data ../shared/fer2013/fer2013.csv.gz --out runs/fernet
    python train.py --init-from fer_model/pretrained/fernet-fer2013 --crowd-weight 0.5 --out runs/crowd
    torchrun --nproc_per_node 2 train.py ...        # DistributedDataParallel, one shard per rank

Trains on Training, keeps the best epoch by a PublicTest score (--select), never reads PrivateTest.
The output folder holds that model (config.json, preprocessor_config.json, model.safetensors), the
resolved options (training_config.json), the per-epoch log and curves, and checkpoint.pt, from
which `--resume` continues to the same weights as an uninterrupted run.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.distributed as dist

from fer_model.records import earlier_stage, teacher_records, write_training_config
from fer_model.training import (Run, autocast_dtype, build, class_weights, load_splits, parse_args, record_epoch,
                                resolve_device, restore, run_processor, save_checkpoint, setup_distributed,
                                teacher_paths, teacher_targets, train_one_epoch, validate, weight_average)


def main(argv: list[str] | None = None) -> dict:
    config = parse_args(argv)
    rank, world = setup_distributed()
    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config)
    out = Path(config.out)

    # data: uint8 faces, targets (class indices, or distributions with --crowd-weight), PublicTest rows
    images, targets, val, everyday = load_splits(config)
    module, optimizer, scheduler = build(config, device, len(targets) // world)  # module: the FERNet itself
    weights = class_weights(targets.numpy(), len(module.labels), config.class_weights)
    run = Run(config, module, module, optimizer, scheduler, images, targets, device, autocast_dtype(config, device),
              loss_weights=weights.to(device) if weights is not None else None,
              soft_targets=teacher_targets(config, images, device),
              average=weight_average(module, config.ema) if config.ema else None, rank=rank, world=world)
    processor = run_processor(config, module, targets.numpy(), weights, everyday)  # saved beside the weights

    state = {"best_score": -1.0, "best_epoch": 0, "best_val_loss": math.inf, "stale_epochs": 0, "history": []}
    start_epoch = 0
    if config.resume and (out / "checkpoint.pt").exists():
        start_epoch, state = restore(out / "checkpoint.pt", run)
        if rank == 0:
            print(f"resumed from {out / 'checkpoint.pt'} after epoch {start_epoch}", flush=True)
    if world > 1:
        run.model = torch.nn.parallel.DistributedDataParallel(module)  # what trains; `module` is inside
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        write_training_config(out, {**config.as_record(), "world_size": world, "device": str(device),
                                    **earlier_stage(config.init_from, out), **teacher_records(teacher_paths(config)),
                                    "autocast": str(run.amp_dtype) if run.amp_dtype else "fp32",
                                    "random_streams": "SeedSequence per purpose", "weight_average": "swa_utils",
                                    "train_rows": len(targets), "val_rows": len(val)})
        print(f"training on {len(targets)} rows, validating on {len(val)}; device {device}, {world} process(es), "
              f"autocast {run.amp_dtype or 'off'}, {torch.get_num_threads()} threads", flush=True)

    for epoch in range(start_epoch, config.epochs):
        row = {"epoch": epoch + 1, **train_one_epoch(run, epoch)}
        stop = torch.zeros(2, device=device)  # (val loss, stop flag), decided on rank 0 and shared
        if rank == 0:
            row.update(validate(run.saved, val, device, config))
            row["lr"] = optimizer.param_groups[0]["lr"]
            stop[0] = row["val_loss"]
            stop[1] = float(record_epoch(out, run.saved, processor, state, row, config))
        if world > 1:
            dist.broadcast(stop, src=0)
        if config.schedule == "plateau":
            scheduler.step(stop[0].item())
        if rank == 0:
            save_checkpoint(out / "checkpoint.pt", run, epoch + 1, state)
        if stop[1] or (config.stop_after and epoch + 1 - start_epoch >= config.stop_after):
            break
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return state


if __name__ == "__main__":
    from fer_model.cli import run as run_cli

    run_cli(main)
