"""Multi-view testing: several clips and crops per video, scores averaged."""

from __future__ import annotations

import torch
import torch.nn as nn

from lsvit.data.dataset import to_model_input


def view_scores(model: nn.Module, inputs: torch.Tensor, num_views: int = 1,
                color: torch.Tensor | None = None) -> torch.Tensor:
    """Class scores for a batch, averaging the softmax over ``num_views`` views per sample.

    Args:
        model: ``inputs -> logits``.
        inputs: ``(B, ...)`` for one view, ``(B, V, ...)`` for ``V = num_views`` views.
        num_views: views per sample.
        color: the batch's colour maps when ``inputs`` are uint8 clips (see
            :func:`lsvit.data.dataset.to_model_input`); each view is converted when it is used.

    Returns:
        ``(B, K)`` logits for one view; for several, the log of the mean view probability, so
        that ``softmax`` of the result is exactly the mean of the views' softmaxes and
        argmax/top-k/cross-entropy work on it unchanged.
    """
    if num_views == 1:
        return model(to_model_input(inputs, color))
    if inputs.shape[1] != num_views:
        raise ValueError(f"expected {num_views} views on axis 1, got inputs of shape {tuple(inputs.shape)}")
    # one view at a time: the memory of a single-view batch, whatever the number of views
    probs = sum(model(to_model_input(inputs[:, v], color)).float().softmax(-1) for v in range(num_views)) / num_views
    return probs.clamp_min(torch.finfo(torch.float32).tiny).log()
