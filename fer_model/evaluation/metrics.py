"""Metrics shared by train.py and evaluate.py (predictions come from :mod:`fer_model.pipelines.inference`)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def headline_metrics(logits: torch.Tensor, labels: np.ndarray | torch.Tensor) -> dict[str, float]:
    """Cross-entropy loss, accuracy and macro-F1 of logits against integer labels."""
    labels = torch.as_tensor(labels)
    names = [str(index) for index in range(logits.shape[1])]
    metrics = classification_metrics(labels.numpy(), logits.argmax(1).numpy(), names)
    return {"loss": F.cross_entropy(logits, labels).item(), "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}


def classification_metrics(labels: np.ndarray, predicted: np.ndarray, names: list[str]) -> dict:
    """Accuracy, macro/weighted F1, balanced accuracy, per-class precision/recall/F1/support and
    the confusion matrix (rows: true label, columns: prediction), all read off the confusion
    matrix. A ratio with nothing to count (a class never predicted, or never present) is 0, and
    balanced accuracy averages recall over the classes present, as scikit-learn defines them."""
    classes = len(names)
    matrix = np.bincount(np.asarray(labels) * classes + np.asarray(predicted), minlength=classes * classes)
    matrix = matrix.reshape(classes, classes)
    hits, support, predictions = np.diag(matrix), matrix.sum(1), matrix.sum(0)
    precision, recall = _ratio(hits, predictions), _ratio(hits, support)
    f1 = _ratio(2 * hits, support + predictions)
    return {
        "rows": int(len(labels)),
        "accuracy": float(hits.sum() / max(matrix.sum(), 1)),
        "macro_f1": float(f1.mean()),
        "weighted_f1": float((f1 * support).sum() / max(support.sum(), 1)),
        "balanced_accuracy": float(recall[support > 0].mean()) if support.any() else 0.0,
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(names, precision, recall, f1, support)
        },
        "confusion_matrix": matrix.tolist(),
    }


def _ratio(counts: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """counts / totals elementwise, 0 where the total is 0."""
    return np.divide(counts, totals, out=np.zeros(len(counts)), where=totals > 0)


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """ECE over `bins` equal-width confidence bins: sum over bins of |accuracy - confidence| * share."""
    return float(sum(abs(acc - conf) * count for acc, conf, count in reliability_bins(probabilities, labels, bins)) / len(labels))


def reliability_bins(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> list[tuple[float, float, int]]:
    """(accuracy, mean confidence, count) of each non-empty confidence bin."""
    confidence = probabilities.max(1)
    correct = probabilities.argmax(1) == labels
    edges = np.linspace(0, 1, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    return [(float(correct[index == b].mean()), float(confidence[index == b].mean()), int((index == b).sum()))
            for b in range(bins) if (index == b).any()]


def fit_temperature(logits: torch.Tensor, labels: np.ndarray | torch.Tensor) -> float:
    """The temperature T minimising the negative log-likelihood of softmax(logits / T)."""
    labels = torch.as_tensor(labels)
    logits = logits.detach().clone()  # may come from inference mode, which autograd cannot use
    log_t = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.exp().item())


def crowd_metrics(probabilities: np.ndarray, rows, names: list[str]) -> dict:
    """FER+ scores of probabilities (N, classes) for FER-2013 rows with crowd votes attached
    (fer_model.data.ferplus): classification metrics against the crowd's majority label (rows with one)
    and the cross-entropy to the vote distributions (rows with a usable vote)."""
    majority = rows.crowd_majority >= 0
    metrics = classification_metrics(rows.crowd_majority[majority], probabilities[majority].argmax(1), names)
    voted = rows.has_crowd
    metrics["cross_entropy"] = float(-(rows.crowd[voted] * np.log(np.clip(probabilities[voted], 1e-12, None))).sum(1).mean())
    return metrics
