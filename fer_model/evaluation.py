"""Batched inference over uint8 face arrays and the headline metrics, shared by train.py and evaluate.py."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score, f1_score

from .model import FERNet
from .preprocess import normalize


@torch.inference_mode()
def predict_logits(
    model: FERNet, images: np.ndarray | torch.Tensor, batch_size: int = 512, device: str | torch.device = "cpu",
    flip: bool = False,
) -> torch.Tensor:
    """Logits (N, classes) of uint8 faces (N, 48, 48), in eval mode, fp32, on `device`.

    With `flip=True` each face is mirrored left-right first (used for flip test-time augmentation).
    """
    was_training = model.training
    model.eval()
    faces = torch.as_tensor(images)
    outputs = []
    for start in range(0, len(faces), batch_size):
        batch = normalize(faces[start:start + batch_size].to(device), model.mean, model.std)
        outputs.append(model(batch.flip(-1) if flip else batch).float().cpu())
    model.train(was_training)
    return torch.cat(outputs)


def headline_metrics(logits: torch.Tensor, labels: np.ndarray | torch.Tensor) -> dict[str, float]:
    """Cross-entropy loss, accuracy and macro-F1 of logits against integer labels."""
    labels = torch.as_tensor(labels)
    predicted = logits.argmax(1).numpy()
    return {
        "loss": F.cross_entropy(logits, labels).item(),
        "accuracy": float(accuracy_score(labels.numpy(), predicted)),
        "macro_f1": float(f1_score(labels.numpy(), predicted, average="macro", labels=range(logits.shape[1]), zero_division=0)),
    }
