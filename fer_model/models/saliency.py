"""Grad-CAM on the last conv block: where in the face the model looked for its answer."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .fernet import FERNet


def grad_cam(model: FERNet, inputs: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
    """Heatmaps (N, H, W) in [0, 1] for normalised faces (N, 1, H, W).

    Each map weights the last conv block's channels (N, 256, 6, 6) by the mean gradient of the
    class logit (the predicted class unless `classes` is given), keeps the positive evidence and
    upsamples it to the input size.
    """
    model.eval()
    with torch.enable_grad():
        features = model.forward_features(inputs).detach().requires_grad_(True)  # (N, 256, 6, 6)
        logits = model.forward_head(features)
        chosen = logits.argmax(1) if classes is None else classes
        logits.gather(1, chosen[:, None]).sum().backward()
    weights = features.grad.mean(dim=(2, 3), keepdim=True)  # (N, 256, 1, 1)
    cam = F.relu((weights * features).sum(dim=1, keepdim=True)).detach()  # (N, 1, 6, 6)
    cam = F.interpolate(cam, size=inputs.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    peak = cam.flatten(1).amax(1).clamp_min(1e-8).view(-1, 1, 1)
    return cam / peak
