"""The checkpoint that makes a training run resumable: the network, its weight average, the
optimizer, the schedule, the global random state and the run's progress (best epoch, early
stopping, the log so far), refused when the run resuming it was configured differently.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import ResumeError
from ..folder import atomic_write

# Options that may differ between a run and its resumption (where and how fast, not what is trained).
RESUMABLE_CHANGES = {"resume", "stop_after", "threads", "cache_dir", "data", "device", "out"}


@dataclass
class Progress:
    """Where a run stands after its last epoch: the best epoch by the --select score, the best
    validation loss and the epochs since it improved (early stopping), and the log rows."""

    best_score: float = -1.0
    best_epoch: int = 0
    best_val_loss: float = float("inf")
    stale_epochs: int = 0
    history: list[dict] = field(default_factory=list)


def save_checkpoint(path: Path, epoch: int, progress: Progress, config, module: torch.nn.Module, average,
                    optimizer: torch.optim.Optimizer, scheduler) -> None:
    """Write everything a resumed run needs after `epoch` completed epochs (atomically)."""
    checkpoint = {
        "model": module.state_dict(),
        "average": average.state_dict() if average is not None else None,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "epoch": epoch,
        "state": dataclasses.asdict(progress),
        "config": dataclasses.asdict(config),
    }
    atomic_write(path, lambda temp: torch.save(checkpoint, temp))


def restore(path: Path, config, module: torch.nn.Module, average, optimizer: torch.optim.Optimizer, scheduler,
            device: torch.device) -> tuple[int, Progress]:
    """Load a checkpoint written by save_checkpoint into the run's parts; returns (epochs
    completed, progress). Refuses a checkpoint whose run was configured differently (a resumed
    run must replay the same recipe), naming the options that differ."""
    checkpoint = torch.load(path, map_location=device, weights_only=True)
    saved, current = checkpoint["config"], dataclasses.asdict(config)
    differ = [f"--{name.replace('_', '-')} {saved.get(name)!r} (now {current[name]!r})"
              for name in current if name not in RESUMABLE_CHANGES and saved.get(name) != current[name]]
    if differ:
        raise ResumeError(f"{path} was written by a run with other options: {'; '.join(differ)}. "
                          "Resume with the same options, or start a new --out.")
    module.load_state_dict(checkpoint["model"])
    if average is not None:
        if checkpoint.get("average") is None:
            raise ResumeError(f"{path} was written without --ema; resume it without --ema or start a new --out")
        average.load_state_dict(checkpoint["average"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])
    torch.set_rng_state(checkpoint["torch_rng"].cpu())  # the CPU generator, even when mapped to a GPU
    return checkpoint["epoch"], Progress(**checkpoint["state"])
