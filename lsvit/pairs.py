"""Direction within reversal pairs: does a model tell a clip from its time reversal?

For classes that come in reversal pairs (``move_left``/``move_right``, ``grow``/``shrink``, ...),
an order-blind model can at best find the pair; only order tells the direction. The share of
correct directions among the clips whose prediction falls in their own pair measures exactly
that (50 % is what guessing within the pair gives).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def pair_direction_accuracy(labels: Sequence[int], predictions: Sequence[int], class_names: Sequence[str],
                            pairs: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Within-pair direction accuracy of predictions.

    Args:
        labels: true class index of each clip (clips of classes outside any pair, or label < 0, are left out).
        predictions: predicted class index of each clip.
        class_names: names indexed by class.
        pairs: the reversal pairs, as pairs of class names (names not in ``class_names`` are ignored).

    Returns:
        ``{"clips": clips of paired classes, "in_pair": predicted within their own pair,
        "pair_accuracy": in_pair / clips, "direction_correct": right class among those,
        "direction_accuracy": direction_correct / in_pair (None when in_pair is 0)}``.
    """
    if len(labels) != len(predictions):
        raise ValueError(f"{len(labels)} labels for {len(predictions)} predictions")
    index = {c: i for i, c in enumerate(class_names)}
    pair_of: dict[int, frozenset[int]] = {}
    for a, b in pairs:
        if a in index and b in index:
            pair_of[index[a]] = pair_of[index[b]] = frozenset((index[a], index[b]))
    clips = in_pair = correct = 0
    for y, p in zip(labels, predictions):
        y, p = int(y), int(p)
        if y < 0 or y not in pair_of:
            continue
        clips += 1
        if p in pair_of[y]:
            in_pair += 1
            correct += int(p == y)
    return {"clips": clips, "in_pair": in_pair, "pair_accuracy": in_pair / clips if clips else None,
            "direction_correct": correct, "direction_accuracy": correct / in_pair if in_pair else None}


def csv_direction_accuracy(csv_path: str, pairs: Sequence[Sequence[str]]) -> dict[str, Any]:
    """:func:`pair_direction_accuracy` of a ``submission.csv`` whose ids start with the true class folder.

    Also returns ``top1`` over its rows.
    """
    import csv

    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    truth = [r["id"].split("/", 1)[0] for r in rows]
    names = sorted(set(truth) | {r["class"] for r in rows} | {c for p in pairs for c in p})
    idx = {c: i for i, c in enumerate(names)}
    out = pair_direction_accuracy([idx[t] for t in truth], [idx[r["class"]] for r in rows], names, pairs)
    out["top1"] = sum(t == r["class"] for t, r in zip(truth, rows)) / len(rows) if rows else None
    out["rows"] = len(rows)
    return out


def synthetic_reversal_pairs() -> list[list[str]]:
    """The built-in motion dataset's reversal pairs (``lsvit.data.synthetic.REVERSAL_PAIRS``), for configs."""
    from lsvit.data.synthetic import REVERSAL_PAIRS

    return [list(p) for p in REVERSAL_PAIRS]
