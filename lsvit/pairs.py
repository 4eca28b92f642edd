"""Direction within reversal pairs: does a model tell a clip from its time reversal?

For classes that come in reversal pairs (``move_left``/``move_right``, ``grow``/``shrink``, ...),
an order-blind model can at best find the pair; only order tells the direction. The share of
correct directions among the clips whose prediction falls in their own pair measures exactly
that (50 % is what guessing within the pair gives).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lsvit import LsvitError
from lsvit.data.labelmaps import reversal_pairs


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


def csv_direction_accuracy(csv_path: str | Path, pairs: Sequence[Sequence[str]] | None = None,
                           class_names: Sequence[str] | None = None) -> dict[str, Any]:
    """:func:`pair_direction_accuracy` of a predictions file.

    Reads a run's ``{val,test}_predictions.csv`` (``label`` and ``prediction`` columns) or a
    ``submission.csv`` whose ids start with the true class folder (``class`` column). Also returns
    ``top1`` and ``rows``.

    Args:
        csv_path: the file.
        pairs: the reversal pairs; None: found from the class names (:func:`lsvit.data.labelmaps.reversal_pairs`).
        class_names: the classes of the model (a submission.csv's ids name only the classes it holds).

    Raises:
        LsvitError: no such file, or a file without true labels (a submission.csv of unlabelled videos).
    """
    path = Path(csv_path)
    if not path.is_file():
        raise LsvitError(f"{path}: no such file (give run folders, or their *_predictions.csv / submission.csv)")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if rows and "label" not in rows[0] and not all("/" in r.get("id", "") for r in rows):
        raise LsvitError(f"{path}: no true labels (its ids do not start with a class folder, and it has no 'label' "
                         "column): nothing to score")
    if rows and "prediction" not in rows[0] and "class" not in rows[0]:
        raise LsvitError(f"{path}: neither a 'prediction' nor a 'class' column: not a predictions file")
    truth = [r["label"] if "label" in r else r["id"].split("/", 1)[0] for r in rows]
    preds = [r["prediction"] if "prediction" in r else r["class"] for r in rows]
    names = sorted(set(truth) | set(preds) | set(class_names or ()))
    if pairs is None:
        pairs = reversal_pairs(names)
    names = sorted(set(names) | {c for p in pairs for c in p})
    idx = {c: i for i, c in enumerate(names)}
    out = pair_direction_accuracy([idx[t] for t in truth], [idx[p] for p in preds], names, pairs)
    out["top1"] = sum(t == p for t, p in zip(truth, preds)) / len(rows) if rows else None
    out["rows"] = len(rows)
    return out


def run_pair_summary(run_dir: str | Path, pairs: Sequence[Sequence[str]] | None = None) -> dict[str, Any]:
    """What a finished run folder says about motion: top-1 and within-pair direction accuracy, val and test.

    Read from the files the engine writes (``summary.json``, ``best/meta.json``, the best checkpoint's
    ``{val,test}_predictions.csv``), all as JSON/CSV data.

    Returns:
        ``{"run", "model", "val_top1", "test_top1", "val_direction", "test_direction", "minutes"}``; a value
        the run does not have (no test set) is ``None``.
    """
    run = Path(run_dir)
    summary_path = run / "summary.json"
    if not summary_path.is_file():
        raise LsvitError(f"{run}: no summary.json (the run did not finish)")
    summary = json.loads(summary_path.read_text())
    meta_path = run / "best" / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    model = meta.get("model", {}).get("name")
    classes = [str(c) for c in meta.get("class_names") or []]
    out: dict[str, Any] = {"run": str(run), "model": model,
                           "val_top1": (summary.get("best_metrics") or {}).get("val/top1"),
                           "test_top1": (summary.get("test_metrics") or {}).get("test/top1"),
                           "minutes": summary.get("train_minutes")}
    for split in ("val", "test"):
        path = run / f"{split}_predictions.csv"
        out[f"{split}_direction"] = csv_direction_accuracy(path, pairs, classes) if path.is_file() else None
    return out


def compare_runs(run_dirs: Sequence[str | Path], pairs: Sequence[Sequence[str]] | None = None) -> str:
    """A side-by-side text table of :func:`run_pair_summary` for several runs (the demo prints it)."""
    def num(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f}"

    def direction(d: dict[str, Any] | None) -> str:
        if not d or d["direction_accuracy"] is None:
            return "-"
        return f"{d['direction_accuracy']:.3f} ({d['direction_correct']}/{d['in_pair']})"

    head = ("run", "model", "val top-1", "test top-1", "val direction", "test direction", "train min")
    rows = [head]
    for r in (run_pair_summary(d, pairs) for d in run_dirs):
        rows.append((r["run"], r["model"] or "?", num(r["val_top1"]), num(r["test_top1"]), direction(r["val_direction"]),
                     direction(r["test_direction"]), "-" if r["minutes"] is None else f"{r['minutes']:.1f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    note = ("direction = right class among the clips predicted inside their own reversal pair (pairs found from the "
            "class names: move_left/move_right, grow/shrink, ...; 0.5 is what a model blind to frame order gets)")
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:], note])


def describe_paths(paths: Sequence[str | Path], pairs: Sequence[Sequence[str]] | None = None) -> str:
    """``tools/pair_accuracy.py``: run folders side by side, then one line per predictions file.

    Raises:
        LsvitError: no path given, or a path that is neither a run folder nor a predictions file.
    """
    if not paths:
        raise LsvitError("give run folders (outputs/demo outputs/demo_frame_avg) or predictions files "
                         "(submission.csv, *_predictions.csv)")
    runs = [p for p in paths if Path(p).is_dir()]
    out = [compare_runs(runs, pairs)] if runs else []
    for path in (p for p in paths if not Path(p).is_dir()):
        r = csv_direction_accuracy(path, pairs)
        direction = "-" if r["direction_accuracy"] is None else f"{r['direction_accuracy']:.3f}"
        out.append(f"{path}: top-1 {r['top1']:.3f} ({r['rows']} videos); prediction in the right pair "
                   f"{'-' if r['pair_accuracy'] is None else format(r['pair_accuracy'], '.3f')}; right direction "
                   f"within the pair {direction} ({r['direction_correct']}/{r['in_pair']})")
    return "\n".join(out)
