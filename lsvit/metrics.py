"""Classification metrics from gathered logits."""

from __future__ import annotations

import torch
import torch.nn.functional as F


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
    present = torch.unique(torch.cat([labels, pred]))
    f1s = []
    for c in present.tolist():
        tp = ((pred == c) & (labels == c)).sum().item()
        fp = ((pred == c) & (labels != c)).sum().item()
        fn = ((pred != c) & (labels == c)).sum().item()
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return {f"{prefix}loss": loss, f"{prefix}top1": top1, f"{prefix}top5": top5,
            f"{prefix}macro_f1": float(sum(f1s) / len(f1s)), f"{prefix}num_samples": int(n)}


def confusion_matrix(preds: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``(K, K)`` counts, rows = true class, columns = predicted."""
    keep = labels >= 0
    idx = labels[keep] * num_classes + preds[keep]
    return torch.bincount(idx, minlength=num_classes * num_classes).view(num_classes, num_classes)
