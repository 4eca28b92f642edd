"""Classification metrics from gathered logits: one definition of each, used by training, evaluation and reports."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass
class PerClass:
    """Per-class scores from a confusion matrix (rows: true class, columns: predicted)."""

    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    present: np.ndarray  # the class occurs among the labels or the predictions

    @property
    def macro_f1(self) -> float:
        """Mean F1 over the present classes (a class absent from both labels and predictions is not scored)."""
        return float(self.f1[self.present].mean()) if self.present.any() else 0.0


def per_class(cm: np.ndarray) -> PerClass:
    """Precision, recall, F1 (``2 TP / (2 TP + FP + FN)``) and support of every class of ``cm``."""
    cm = np.asarray(cm, dtype=np.int64)
    tp = np.diag(cm).astype(float)
    support = cm.sum(1)
    predicted = cm.sum(0)
    prec = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    rec = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = (support + predicted).astype(float)  # 2 TP + FP + FN
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return PerClass(prec, rec, f1, support, (support > 0) | (predicted > 0))


def classification_metrics(logits: torch.Tensor, labels: torch.Tensor, prefix: str = "") -> dict[str, float]:
    """Loss, top-1, top-5 and macro-F1.

    Args:
        logits: ``(N, K)``.
        labels: ``(N,)``; negative labels (stand-ins for broken videos) are left out.
        prefix: key prefix, e.g. ``"val/"``.

    Returns:
        ``{prefix+"loss", "top1", "top5", "macro_f1", "num_samples"}``; accuracies in [0, 1].
        Macro-F1 averages over the classes present in the labels or the predictions.
    """
    keep = labels >= 0
    logits, labels = logits[keep].float(), labels[keep]
    n, k = logits.shape if logits.ndim == 2 else (0, 0)
    if n == 0:
        return {f"{prefix}loss": float("nan"), f"{prefix}top1": 0.0, f"{prefix}top5": 0.0,
                f"{prefix}macro_f1": 0.0, f"{prefix}num_samples": 0}
    loss = F.cross_entropy(logits, labels).item()
    topk = logits.topk(min(5, k), dim=1).indices
    pred = topk[:, 0]
    top1 = (pred == labels).float().mean().item()
    top5 = (topk == labels[:, None]).any(1).float().mean().item()
    macro_f1 = per_class(confusion_matrix(pred, labels, k).numpy()).macro_f1
    return {f"{prefix}loss": loss, f"{prefix}top1": top1, f"{prefix}top5": top5,
            f"{prefix}macro_f1": macro_f1, f"{prefix}num_samples": int(n)}


def confusion_matrix(preds: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``(K, K)`` counts, rows = true class, columns = predicted."""
    keep = labels >= 0
    idx = labels[keep] * num_classes + preds[keep]
    return torch.bincount(idx, minlength=num_classes * num_classes).view(num_classes, num_classes)
