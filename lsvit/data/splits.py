"""Video-level stratified splits (a video, or a group of clips of one source, never lands on both sides)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np


def stratified_split(labels: Sequence[int], val_ratio: float, seed: int = 0,
                     groups: Sequence[str] | None = None) -> tuple[list[int], list[int]]:
    """Split indices per class, seeded, keeping groups whole.

    Each class with at least two groups gives about ``round(n * val_ratio)`` of its ``n``
    items (at least one group) to validation and keeps at least one group for training; a
    class with a single group stays in training. Unlike scikit-learn's splitters it never
    fails on tiny classes.

    Args:
        labels: one label per item.
        val_ratio: fraction in (0, 1).
        seed: shuffling seed.
        groups: items that must stay together (e.g. HMDB51 clips cut from one source video);
            default: every item is its own group.

    Returns:
        ``(train_indices, val_indices)``, each sorted.
    """
    if not 0.0 < val_ratio < 1.0:
        raise ValueError(f"val_ratio must be in (0, 1), got {val_ratio}")
    if groups is not None and len(groups) != len(labels):
        raise ValueError(f"{len(groups)} groups for {len(labels)} labels")
    by_class: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, y in enumerate(labels):
        by_class[int(y)][str(groups[i]) if groups is not None else str(i)].append(i)
    rng = np.random.default_rng(seed)
    train: list[int] = []
    val: list[int] = []
    for y in sorted(by_class):
        members = [by_class[y][g] for g in sorted(by_class[y])]
        order = rng.permutation(len(members))
        total = sum(len(m) for m in members)
        want = max(1, round(total * val_ratio))
        taken = 0
        for rank, gi in enumerate(order.tolist()):
            # whole groups until the target is reached; at least one group stays in training
            if len(members) >= 2 and taken < want and rank < len(members) - 1:
                val.extend(members[gi])
                taken += len(members[gi])
            else:
                train.extend(members[gi])
    return sorted(train), sorted(val)
