"""Video-level stratified splits (a video never lands on both sides)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np


def stratified_split(labels: Sequence[int], val_ratio: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """Split indices per class, seeded.

    Each class with at least two videos gives ``round(n * val_ratio)`` of them (at least
    one) to validation and keeps at least one for training; a class with a single video
    stays in training. Unlike scikit-learn's splitter it never fails on tiny classes.

    Args:
        labels: one label per video.
        val_ratio: fraction in (0, 1).
        seed: shuffling seed.

    Returns:
        ``(train_indices, val_indices)``, each sorted.
    """
    if not 0.0 < val_ratio < 1.0:
        raise ValueError(f"val_ratio must be in (0, 1), got {val_ratio}")
    by_class: dict[int, list[int]] = defaultdict(list)
    for i, y in enumerate(labels):
        by_class[int(y)].append(i)
    rng = np.random.default_rng(seed)
    train: list[int] = []
    val: list[int] = []
    for y in sorted(by_class):
        idx = np.array(by_class[y])
        rng.shuffle(idx)
        n_val = 0 if len(idx) < 2 else min(max(1, round(len(idx) * val_ratio)), len(idx) - 1)
        val.extend(idx[:n_val].tolist())
        train.extend(idx[n_val:].tolist())
    return sorted(train), sorted(val)
