"""Reports for any checkpoint and dataset: classification report, confusion matrix, curves.

Everything is computed from gathered scores and labels, so every model family and every
dataset gets the same reports. Files are written atomically (temporary name + rename);
figures use matplotlib's Agg canvas directly, never a GUI backend.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lsvit.io import atomic_write_text
from lsvit.metrics import classification_metrics, confusion_matrix, per_class


def per_class_table(cm: np.ndarray, class_names: Sequence[str]) -> list[dict[str, Any]]:
    """Precision, recall, F1 and support per class, then macro and weighted averages and accuracy."""
    pc = per_class(cm)
    rows = [{"class": c, "precision": pc.precision[i], "recall": pc.recall[i], "f1": pc.f1[i],
             "support": int(pc.support[i])} for i, c in enumerate(class_names)]
    total = int(pc.support.sum())
    if pc.present.any():
        rows.append({"class": "macro avg", "precision": pc.precision[pc.present].mean(),
                     "recall": pc.recall[pc.present].mean(), "f1": pc.macro_f1, "support": total})
        w = pc.support / max(total, 1)
        rows.append({"class": "weighted avg", "precision": float((pc.precision * w).sum()),
                     "recall": float((pc.recall * w).sum()), "f1": float((pc.f1 * w).sum()), "support": total})
    rows.append({"class": "accuracy", "precision": math.nan, "recall": math.nan,
                 "f1": float(np.trace(np.asarray(cm)) / total) if total else 0.0, "support": total})
    return rows


def report_text(rows: list[dict[str, Any]]) -> str:
    """The table of :func:`per_class_table` as aligned text (like scikit-learn's report)."""
    width = max(12, *(len(r["class"]) for r in rows))
    out = [f"{'':>{width}}  precision    recall  f1-score   support", ""]
    for r in rows:
        if r["class"] == "macro avg":
            out.append("")
        if r["class"] == "accuracy":
            out.append(f"{r['class']:>{width}}  {'':>9} {'':>9} {r['f1']:9.3f} {r['support']:9d}")
        else:
            out.append(f"{r['class']:>{width}}  {r['precision']:9.3f} {r['recall']:9.3f} {r['f1']:9.3f} "
                       f"{r['support']:9d}")
    return "\n".join(out) + "\n"


def report_csv(rows: list[dict[str, Any]]) -> str:
    """The table of :func:`per_class_table` as CSV."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["class", "precision", "recall", "f1", "support"])
    for r in rows:
        w.writerow([r["class"]] + ["" if math.isnan(r[k]) else f"{r[k]:.6f}" for k in ("precision", "recall", "f1")]
                   + [r["support"]])
    return buf.getvalue()


def top_confusions(cm: np.ndarray, class_names: Sequence[str], n: int = 20) -> list[tuple[str, str, int, float]]:
    """The ``n`` largest off-diagonal cells: ``(true, predicted, count, share of the true class)``."""
    cm = np.asarray(cm)
    k = len(class_names)
    cells = [(int(cm[i, j]), i, j) for i in range(k) for j in range(k) if i != j and cm[i, j] > 0]
    cells.sort(key=lambda c: (-c[0], c[1], c[2]))
    return [(class_names[i], class_names[j], c, c / max(int(cm[i].sum()), 1)) for c, i, j in cells[:n]]


def _save_figure(fig: Any, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    fig.savefig(tmp, dpi=fig.dpi, bbox_inches="tight")
    os.replace(tmp, path)


def plot_confusion_matrix(cm: np.ndarray, class_names: Sequence[str], path: str | Path, title: str = "",
                          normalize: bool = True) -> Path:
    """A confusion matrix PNG that stays readable with many classes.

    Rows are the true classes in class order, normalised to recall (each row sums to 1),
    every class labelled on both axes; the figure grows with the number of classes and
    cell values are printed while they fit (up to 25 classes).
    """
    from matplotlib.figure import Figure

    cm = np.asarray(cm, dtype=float)
    k = len(class_names)
    shown = cm / np.maximum(cm.sum(1, keepdims=True), 1) if normalize else cm
    side = max(5.0, 0.3 * k + 2.5)
    fig = Figure(figsize=(side + 1.2, side), dpi=110)
    ax = fig.add_subplot()
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else max(cm.max(), 1), interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class" if normalize else "clips")
    font = 9 if k <= 20 else 7 if k <= 40 else 6
    ax.set_xticks(range(k), labels=list(class_names), rotation=90, fontsize=font)
    ax.set_yticks(range(k), labels=list(class_names), fontsize=font)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if k <= 25:
        for i in range(k):
            for j in range(k):
                if cm[i, j]:
                    v = shown[i, j]
                    ax.text(j, i, f"{v:.2f}" if normalize else f"{int(v)}", ha="center", va="center",
                            fontsize=font - 1, color="white" if v > 0.5 * (1 if normalize else cm.max()) else "black")
    acc = np.trace(cm) / max(cm.sum(), 1)
    ax.set_title(f"{title + ' - ' if title else ''}top-1 {acc:.3f} ({int(cm.sum())} clips)")
    path = Path(path)
    _save_figure(fig, path)
    return path


def read_metrics_csv(path: str | Path) -> list[dict[str, float]]:
    """Rows of a run's ``metrics.csv`` with numbers parsed (empty cells become NaN)."""
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            rows.append({k: float(v) if v not in ("", None) else math.nan for k, v in r.items()})
    return rows


def plot_curves(metrics_csv: str | Path, path: str | Path) -> Path:
    """Training curves per epoch: loss, top-1/top-5 accuracy and macro-F1 (train and val)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    rows = read_metrics_csv(metrics_csv)
    fig = Figure(figsize=(13, 3.8), dpi=110)
    panels = (("loss", ("train/loss", "val/loss")), ("accuracy", ("train/top1", "val/top1", "val/top5")),
              ("macro-F1", ("val/macro_f1",)))
    epochs = [r.get("epoch", i + 1) for i, r in enumerate(rows)]
    for n, (name, keys) in enumerate(panels, 1):
        ax = fig.add_subplot(1, 3, n)
        for key in keys:
            ys = [r.get(key, math.nan) for r in rows]
            if any(not math.isnan(y) for y in ys):
                ax.plot(epochs, ys, marker="o", markersize=3, label=key)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(name)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    _save_figure(fig, path)
    return path


def write_reports(out_dir: str | Path, scores: torch.Tensor, labels: torch.Tensor, class_names: Sequence[str],
                  tag: str = "test", ids: Sequence[str] | None = None, metrics_csv: str | Path | None = None,
                  extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write every report of one evaluation into ``out_dir``.

    Files: ``{tag}_metrics.json``, ``{tag}_classification_report.{txt,csv}``,
    ``{tag}_confusion_matrix.png``, ``{tag}_confusions.md`` (top confusions),
    ``{tag}_predictions.csv`` (when ``ids`` are given) and ``curves.png`` (from ``metrics_csv``).

    Args:
        out_dir: folder to write into (created).
        scores: ``(N, K)`` logits or log-probabilities.
        labels: ``(N,)``; negative labels (unreadable clips) are left out.
        class_names: the K names.
        tag: file-name prefix and metric prefix (``test`` -> ``test/top1``).
        ids: sample ids in the order of ``scores``.
        metrics_csv: a run's ``metrics.csv`` for the curves.
        extra: added to the metrics JSON (e.g. views, checkpoint, split).

    Returns:
        The metrics (``{tag}/top1`` ...), plus ``files``: the paths written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    k = len(class_names)
    metrics: dict[str, Any] = classification_metrics(scores, labels, f"{tag}/")
    keep = labels >= 0
    preds = scores.argmax(1) if scores.numel() else torch.zeros(0, dtype=torch.long)
    cm = confusion_matrix(preds, labels, k).numpy() if scores.numel() else np.zeros((k, k), dtype=np.int64)
    rows = per_class_table(cm, class_names)
    files = {"metrics": out / f"{tag}_metrics.json", "report_txt": out / f"{tag}_classification_report.txt",
             "report_csv": out / f"{tag}_classification_report.csv",
             "confusion_png": out / f"{tag}_confusion_matrix.png", "confusions_md": out / f"{tag}_confusions.md"}
    atomic_write_text(files["report_txt"], report_text(rows))
    atomic_write_text(files["report_csv"], report_csv(rows))
    plot_confusion_matrix(cm, class_names, files["confusion_png"], title=tag)
    confusions = top_confusions(cm, class_names)
    lines = [f"# Top confusions ({tag})", "", "| true | predicted | clips | share of true class |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {s:.3f} |" for a, b, c, s in confusions]
    atomic_write_text(files["confusions_md"], "\n".join(lines) + "\n")
    if ids is not None:
        files["predictions"] = out / f"{tag}_predictions.csv"
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["id", "label", "prediction", "correct", "confidence"])
        probs = scores.float().softmax(1) if scores.numel() else scores
        for i, (vid, y) in enumerate(zip(ids, labels.tolist())):
            if y < 0:
                continue
            p = int(preds[i])
            w.writerow([vid, class_names[y], class_names[p], int(p == y), f"{float(probs[i, p]):.6f}"])
        atomic_write_text(files["predictions"], buf.getvalue())
    if metrics_csv is not None and Path(metrics_csv).is_file():
        files["curves_png"] = plot_curves(metrics_csv, out / "curves.png")
    metrics["num_unreadable"] = int((~keep).sum())
    metrics["top_confusions"] = [list(c) for c in confusions[:10]]
    payload = dict(metrics, **(extra or {}))
    atomic_write_text(files["metrics"], json.dumps(payload, indent=2, default=str))
    return dict(metrics, files={k2: str(v) for k2, v in files.items()})


def write_run_reports(run_dir: Path, summary: dict[str, Any], class_names: Sequence[str],
                      val: dict[str, Any] | None, test: dict[str, Any] | None) -> None:
    """The end-of-training reports of the selected checkpoint, ``summary.json`` and ``report.md``.

    Args:
        run_dir: the run folder.
        summary: the run's summary (``lsvit.engine.train``'s return value); its top confusions are added.
        class_names: the classes.
        val: the best checkpoint's validation outputs (``logits``, ``labels``, ``ids``), if any.
        test: its test outputs, if the data has a test part.
    """
    files: dict[str, Any] = {}
    if val:
        rep = write_reports(run_dir, val["logits"], val["labels"], class_names, "val", val["ids"],
                            run_dir / "metrics.csv", {"epoch": summary["best_epoch"]})
        files["val"], summary["val_top_confusions"] = rep["files"], rep["top_confusions"]
    if test:
        rep = write_reports(run_dir, test["logits"], test["labels"], class_names, "test", test["ids"],
                            extra={"views": summary["test_views"], "epoch": summary["best_epoch"]})
        files["test"], summary["test_top_confusions"] = rep["files"], rep["top_confusions"]
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2))
    if summary["best_epoch"] is not None:
        write_run_report(run_dir, summary, files)


def write_run_report(path: Path, summary: dict[str, Any], files: dict[str, Any]) -> None:
    """A short human-readable ``report.md``: best checkpoint, its metrics, test result, files."""
    lines = [f"# Run report: {path.name}", "", f"best epoch: {summary['best_epoch']}  "
             f"({summary['monitor']} = {summary['best_metric']:.4f})", ""]
    metrics = dict(summary.get("best_metrics", {}), **summary.get("test_metrics", {}))
    lines += ["| metric | value |", "|---|---|"] + [f"| {k} | {v:.4f} |" for k, v in metrics.items()
                                                  if isinstance(v, float)]
    if summary.get("test_metrics"):
        lines += ["", f"test: {summary['test_views']} view(s) per video, scores averaged; the test part was "
                      "evaluated once, with the best checkpoint (never used for model selection)"]
    for tag, tag_files in files.items():
        lines += ["", f"{tag}: " + ", ".join(f"[{Path(f).name}]({Path(f).name})" for f in tag_files.values())]
        confusions = summary.get(f"{tag}_top_confusions") or []
        if confusions:
            lines += [f"top {tag} confusions (true -> predicted: clips):"]
            lines += [f"- {a} -> {b}: {c}" for a, b, c, _ in confusions[:10]]
    if summary.get("skipped"):
        lines += ["", f"skipped unreadable videos: {len(summary['skipped'])}"]
        lines += [f"- {e}" for e in summary["skipped"][:50]]
    atomic_write_text(path / "report.md", "\n".join(lines) + "\n")
