"""Predict a folder of videos (or one video) with a ``best/`` checkpoint -> CSV rows.

Everything — model, classes, frame sampling, transforms — is rebuilt from the checkpoint
folder alone. One unreadable video never stops the pass: it is listed on stderr and gets
no row. Rows are sorted by id (the path relative to ``data_root`` without extension) in natural order: numbers by
their value (``1, 2, 10``, not ``1, 10, 2``), as seed 003's ``submission.csv`` lists its numbered test videos.
"""

from __future__ import annotations

import csv
import io
import re
import sys
import warnings
from pathlib import Path
from typing import Any

import torch

from lsvit import LsvitError
from lsvit.checkpoint.card import add_evaluation
from lsvit.checkpoint.meta import read_meta
from lsvit.contracts import InputType
from lsvit.data.dataset import collate
from lsvit.data.discovery import VIDEO_EXTS, VideoItem, discover_classes, discover_unlabelled
from lsvit.data.hmdb51.splits import load_split
from lsvit.deploy.runtime import load_model, runtime_precision
from lsvit.device import build_accelerator
from lsvit.engine.evaluation import make_loader, score
from lsvit.io import atomic_write_text
from lsvit.registry import input_types, type_of
from lsvit.reports import write_reports


def checkpoint_dataset(meta: dict[str, Any], items: list[VideoItem], strict: bool = False,
                       backend: str | None = None, num_clips: int = 1, num_crops: int = 1, runtime: str = "pytorch",
                       checkpoint: str | Path | None = None) -> Any:
    """The evaluation dataset a checkpoint's inputs need, from its registered input type (sampling and
    transforms from its ``meta``; with ``runtime=onnx`` a type whose reader runs a model of its own, the
    frame embedder, runs that model's exported graph)."""
    if num_clips < 1 or num_crops < 1:
        raise LsvitError(f"num_clips={num_clips}, num_crops={num_crops}: both must be >= 1")
    return type_of(meta).from_videos(meta, items, strict=strict, backend=backend, num_clips=num_clips,
                                     num_crops=num_crops, runtime=runtime, checkpoint=checkpoint)


def reads_file(input_type: InputType, path: Path) -> bool:
    """Whether ``path`` is a file of the input type's own format (read as it is: an embedding cache, a keypoint
    file), rather than a video."""
    return path.is_file() and path.suffix.lower() in input_type.file_suffixes


def refuse_foreign_file(input_type: InputType, path: Path) -> None:
    """A file that is neither a video nor a file of the checkpoint's input type is one clear error, not a video
    that cannot be read (an LS-ViT checkpoint given an embedding cache, a keypoint checkpoint given a ``.npz``).

    Raises:
        LsvitError: naming the file, what this checkpoint reads, and which registered types read such files.
    """
    suffix = path.suffix.lower()
    if not path.is_file() or suffix in VIDEO_EXTS:
        return
    readers = sorted(t.name for t in input_types().values() if suffix in t.file_suffixes)
    reads = ", ".join(["videos or folders of them", *input_type.file_suffixes])
    raise LsvitError(f"data_root={path}: a '{input_type.name}' checkpoint reads {reads}, not {suffix or 'this'} "
                     "files" + (f" ({suffix} files are read by {' and '.join(repr(r) for r in readers)} checkpoints)"
                              if readers else ""))


def check_labelled_file(dataset: Any, path: Path, class_names: list[str]) -> None:
    """A labelled file must hold inputs of the checkpoint's classes (else every one would count as unreadable).

    Raises:
        LsvitError: none of its labelled inputs has one of the checkpoint's classes.
    """
    labels = list(getattr(dataset, "labels", []))
    if labels and all(lab < 0 for lab in labels):
        raise LsvitError(f"data_root={path}: none of its {len(labels)} inputs is of the checkpoint's "
                         f"{len(class_names)} classes ({', '.join(class_names[:6])}{', ...' if len(class_names) > 6 else ''}): "
                         "it was made for other classes")
    unknown = sum(lab < 0 for lab in labels)
    if unknown:
        warnings.warn(f"{path}: {unknown} of its {len(labels)} inputs are of classes the checkpoint does not know; "
                      "they are left out of the metrics", stacklevel=3)


def score_checkpoint(checkpoint: str | Path, source: str | Path | None = None, items: list[VideoItem] | None = None,
                     batch_size: int = 8, num_workers: int = 0, strict: bool = False, device: str = "auto",
                     mixed_precision: str = "auto", backend: str | None = None, num_clips: int = 1,
                     num_crops: int = 1, progress: bool = True, runtime: str = "pytorch", labelled: bool = False
                     ) -> tuple[dict[str, Any], dict[str, Any], int]:
    """Rebuild a checkpoint and score inputs with the engine's scoring loop (one precision rule).

    Args:
        checkpoint: a ``best/`` folder.
        source: a folder of videos (searched recursively), one video, or a file of the checkpoint's
            input type (``InputType.file_suffixes``: an embedding cache, a keypoint file) ...
        items: ... or the videos as items (labelled evaluation).
        mixed_precision: ``auto`` (bf16 on capable CUDA, fp16 on MPS, fp32 on CPU) | ``no`` | ``bf16`` | ``fp16``.
        runtime: ``pytorch``, or ``onnx``: the checkpoint's exported ``model.onnx`` on ONNX Runtime
            (same readers, transforms and scoring loop; see :mod:`lsvit.deploy.runtime`).
        labelled: ``source`` is a labelled file to evaluate on: it must hold inputs of the checkpoint's classes.

    Returns:
        ``(outputs of lsvit.engine.evaluation.score, meta, views per input)``.
    """
    accelerator = build_accelerator(device, runtime_precision(runtime, mixed_precision))
    model, meta = load_model(checkpoint, accelerator.device, runtime)
    if items is None:
        src = Path(source)  # type: ignore[arg-type]
        itype = type_of(meta)
        if reads_file(itype, src):  # a pre-extracted file (embeddings, keypoints) of this checkpoint's input type
            ds = itype.from_file(meta, src, strict)
            if labelled:
                check_labelled_file(ds, src, list(meta["class_names"]))
        else:
            refuse_foreign_file(itype, src)
            items = discover_unlabelled(src)
            if not items:
                raise LsvitError(f"data_root={src}: no videos or frame folders found")
    if items is not None:
        ds = checkpoint_dataset(meta, items, strict, backend, num_clips, num_crops, runtime, checkpoint)
    views = getattr(ds, "num_views", 1)
    loader = accelerator.prepare(make_loader(ds, batch_size, collate, num_workers))
    return score(model, loader, accelerator, views, desc="predict", progress=progress), meta, views


def predict(checkpoint: str | Path, data_root: str | Path, batch_size: int = 8, num_workers: int = 0,
            strict: bool = False, device: str = "auto", backend: str | None = None, progress: bool = True,
            num_clips: int = 1, num_crops: int = 1, mixed_precision: str = "auto", runtime: str = "pytorch"
            ) -> dict[str, Any]:
    """Class probabilities for every readable video under ``data_root`` (or every entry of a cached file).

    Args:
        num_clips: temporal views per video; with ``num_crops`` spatial views each, the
            softmax scores of all views are averaged.

    Returns:
        ``{"class_names", "ids", "probs" (N, K) tensor, "unreadable": [message, ...]}``.

    Raises:
        LsvitError: bad checkpoint, no videos, or (``strict``) any unreadable video.
    """
    out, meta, _ = score_checkpoint(checkpoint, data_root, None, batch_size, num_workers, strict, device,
                                    mixed_precision, backend, num_clips, num_crops, progress, runtime)
    keep = [i for i, ok in enumerate(out["valid"].tolist()) if ok]  # stand-ins for broken videos get no row
    order = sorted(keep, key=lambda i: natural_key(out["ids"][i]))
    probs = out["logits"][order].softmax(-1) if order else torch.zeros(0, len(meta["class_names"]))
    return {"class_names": list(meta["class_names"]), "ids": [out["ids"][i] for i in order], "probs": probs,
            "unreadable": out["errors"]}


def natural_key(text: str) -> tuple[Any, ...]:
    """Sort key: runs of digits compare as numbers (``clip2`` before ``clip10``), the rest as text; ties (``01`` and
    ``1``) fall back to the text itself, so the order is total. (Three lines: not worth a dependency on natsort.)"""
    parts = re.split(r"(\d+)", text)  # text, digits, text, ...: the same kinds at the same positions, so comparable
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts)), text


def rows_to_csv(result: dict[str, Any], with_probs: bool = False, topk: int = 0) -> str:
    """CSV text: ``id,class`` (+ ``prob_<class>`` columns) (+ ``top<k>,top<k>_prob``)."""
    names = result["class_names"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    header = ["id", "class"]
    if with_probs:
        header += [f"prob_{c}" for c in names]
    k = min(int(topk), len(names))
    for j in range(1, k + 1):
        header += [f"top{j}", f"top{j}_prob"]
    w.writerow(header)
    for vid, p in zip(result["ids"], result["probs"]):
        row: list[Any] = [vid, names[int(p.argmax())]]
        if with_probs:
            row += [f"{v:.6f}" for v in p.tolist()]
        if k:
            vals, idx = p.topk(k)
            for v, i in zip(vals.tolist(), idx.tolist()):
                row += [names[i], f"{v:.6f}"]
        w.writerow(row)
    return buf.getvalue()


def folder_accuracy(result: dict[str, Any]) -> float | None:
    """Top-1 against the first path component of each id, when every id starts with a class name.

    Lets a labelled test folder (``test/<class>/<video>``) be scored without a label file.
    """
    names = set(result["class_names"])
    firsts = [i.split("/", 1)[0] for i in result["ids"]]
    if not firsts or not all("/" in i for i in result["ids"]) or not set(firsts) <= names:
        return None
    preds = [result["class_names"][int(p.argmax())] for p in result["probs"]]
    return sum(a == b for a, b in zip(firsts, preds)) / len(preds)


def run_inference(checkpoint: str, data_root: str, output: str = "submission.csv", batch_size: int = 8,
                  num_workers: int = 0, probs: bool = False, topk: int = 0, strict: bool = False,
                  device: str = "auto", backend: str | None = None, num_clips: int = 1, num_crops: int = 1,
                  mixed_precision: str = "auto", runtime: str = "pytorch") -> int:
    """Predict and write ``output``; returns the process exit code.

    0 when at least one video was predicted (unreadable ones are listed on stderr), 1 when
    none could be read; ``strict`` raises on the first unreadable video instead.
    """
    result = predict(checkpoint, data_root, batch_size, num_workers, strict, device, backend,
                     num_clips=num_clips, num_crops=num_crops, mixed_precision=mixed_precision, runtime=runtime)
    for msg in result["unreadable"]:
        print(f"unreadable: {msg}", file=sys.stderr)
    if not result["ids"]:
        print(f"error: none of the videos under {data_root} could be read", file=sys.stderr)
        return 1
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, rows_to_csv(result, probs, topk))
    msg = f"wrote {len(result['ids'])} rows to {out}"
    if result["unreadable"]:
        msg += f" ({len(result['unreadable'])} unreadable video(s) skipped, listed above)"
    print(msg)
    acc = folder_accuracy(result)
    if acc is not None:
        print(f"top-1 against the class folder names: {acc:.4f}")
    return 0


def evaluate_checkpoint(checkpoint: str | Path, data_root: str | Path | None = None,
                        hmdb51_root: str | Path | None = None, split: int | None = None,
                        out_dir: str | Path | None = None, num_clips: int = 1, num_crops: int = 1,
                        batch_size: int = 8, num_workers: int = 0, device: str = "auto", backend: str | None = None,
                        strict: bool = False, progress: bool = True, mixed_precision: str = "auto",
                        runtime: str = "pytorch") -> dict[str, Any]:
    """Evaluate a ``best/`` checkpoint on a labelled dataset, write every report and add the result to its card.

    The dataset is either a class-per-folder tree (``data_root``; its classes must be the
    checkpoint's) or the test part of an official HMDB51 split (``hmdb51_root`` + ``split``).

    Returns:
        The metrics (``eval/top1`` ...) and ``files`` (see :func:`lsvit.reports.write_reports`).
    """

    if (data_root is None) == (hmdb51_root is None):
        raise LsvitError("give exactly one of data_root=<class-per-folder test set> or hmdb51_root=... split=N")
    meta = read_meta(checkpoint)
    names = list(meta["class_names"])
    cached = data_root is not None and reads_file(type_of(meta), Path(data_root))
    items: list[VideoItem] | None = None
    if cached:  # a labelled pre-extracted file (embeddings, keypoints): labels come from it
        name = Path(data_root).stem  # type: ignore[arg-type]
    elif data_root is not None:
        _, items = discover_classes(data_root, names, key="data_root")
        name = Path(data_root).name
    else:
        if split is None:
            raise LsvitError("hmdb51_root= needs split=1|2|3")
        items = load_split(hmdb51_root, int(split), classes=names, strict=strict).test  # type: ignore[arg-type]
        name = f"hmdb51_split{split}_test"
    out, _, views = score_checkpoint(checkpoint, data_root if cached else None, items, batch_size, num_workers,
                                     strict, device, mixed_precision, backend, num_clips, num_crops, progress, runtime,
                                     labelled=True)
    target = Path(out_dir) if out_dir else Path(checkpoint).parent / "eval" / name
    labels = out["labels"].clone()
    labels[~out["valid"]] = -1
    result = write_reports(target, out["logits"], labels, names, "eval", out["ids"],
                           extra={"checkpoint": str(checkpoint), "dataset": str(data_root or hmdb51_root),
                                  "split": split, "views": views, "num_clips": num_clips,
                                  "num_crops": num_crops, "unreadable": out["errors"]})
    add_evaluation(checkpoint, {**result, "dataset": "hmdb51" if hmdb51_root else name, "views": views,
                                "split": f"official split {split}, test" if split else "labelled folder",
                                "num_clips": num_clips, "num_crops": num_crops, "runtime": runtime})
    for msg in out["errors"]:
        print(f"unreadable: {msg}", file=sys.stderr)
    print(f"{len(out['ids'])} videos, {views} view(s): top1 {result['eval/top1']:.4f} top5 "
          f"{result['eval/top5']:.4f} macro-F1 {result['eval/macro_f1']:.4f} -> {target}")
    return result
