"""Predict a folder of videos (or one video) with a ``best/`` checkpoint -> CSV rows.

Everything — model, classes, frame sampling, transforms — is rebuilt from the checkpoint
folder alone. One unreadable video never stops the pass: it is listed on stderr and gets
no row. Rows are sorted by id (the path relative to ``data_root`` without extension).
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from lsvit import LsvitError
from lsvit.data.dataset import VideoDataset, collate
from lsvit.data.discovery import VideoItem, discover_unlabelled
from lsvit.data.transforms import ClipTransform
from lsvit.engine.accel import resolve_device
from lsvit.engine.checkpoint import atomic_write_text, build_from_checkpoint


def _video_dataset(items: list[VideoItem], data: dict[str, Any], strict: bool, backend: str | None) -> VideoDataset:
    tf = ClipTransform(int(data["image_size"]), tuple(data["mean"]), tuple(data["std"]), train=False)
    return VideoDataset(items, tf, num_frames=int(data["num_frames"]), frame_stride=int(data["frame_stride"]),
                        sampling=data.get("sampling", "dense"), short=data.get("short", "loop"), train=False,
                        backend=backend or data.get("backend", "auto"), strict=strict)


# how each data type of a checkpoint reads raw inputs for inference
DATASET_BUILDERS = {"video": _video_dataset}


def predict(checkpoint: str | Path, data_root: str | Path, batch_size: int = 8, num_workers: int = 0,
            strict: bool = False, device: str = "auto", backend: str | None = None,
            progress: bool = True) -> dict[str, Any]:
    """Class probabilities for every readable video under ``data_root``.

    Returns:
        ``{"class_names", "ids", "probs" (N, K) tensor, "unreadable": [message, ...]}``.

    Raises:
        LsvitError: bad checkpoint, no videos, or (``strict``) any unreadable video.
    """
    dev = resolve_device(device)
    model, meta = build_from_checkpoint(checkpoint, dev)
    items = discover_unlabelled(data_root)
    if not items:
        raise LsvitError(f"data_root={data_root}: no videos or frame folders found")
    kind = meta["data"].get("type", "video")
    if kind not in DATASET_BUILDERS:
        raise LsvitError(f"checkpoint={checkpoint}: inference on '{kind}' inputs is not supported")
    ds = DATASET_BUILDERS[kind](items, meta["data"], strict, backend)
    dl = DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=num_workers, collate_fn=collate)
    ids: list[str] = []
    probs: list[torch.Tensor] = []
    unreadable: list[str] = []
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if dev == "cuda" else torch.autocast("cpu", enabled=False)
    with torch.no_grad(), amp:
        for batch in tqdm(dl, desc="predict", disable=not progress):
            unreadable.extend(batch.get("error", []))
            p = model(batch["inputs"].to(dev, non_blocking=True)).float().softmax(-1).cpu()
            valid = batch.get("valid", torch.ones(len(batch["id"]), dtype=torch.bool)).tolist()
            for vid, ok, row in zip(batch["id"], valid, p):
                if ok:  # stand-ins for broken videos get no row
                    ids.append(vid)
                    probs.append(row)
    order = sorted(range(len(ids)), key=lambda i: ids[i])
    return {"class_names": list(meta["class_names"]), "ids": [ids[i] for i in order],
            "probs": torch.stack([probs[i] for i in order]) if probs else torch.zeros(0, len(meta["class_names"])),
            "unreadable": unreadable}


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
                  device: str = "auto", backend: str | None = None) -> int:
    """Predict and write ``output``; returns the process exit code.

    0 when at least one video was predicted (unreadable ones are listed on stderr), 1 when
    none could be read; ``strict`` raises on the first unreadable video instead.
    """
    result = predict(checkpoint, data_root, batch_size, num_workers, strict, device, backend)
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
