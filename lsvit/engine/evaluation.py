"""Running a model over a dataset: scores, labels and ids gathered across processes, views averaged."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn as nn
from accelerate import Accelerator
from accelerate.utils import gather_object
from torch.utils.data import BatchSampler, DataLoader
from tqdm.auto import tqdm

from lsvit.engine.views import view_scores
from lsvit.metrics import classification_metrics


def union_across_ranks(accelerator: Accelerator, items: Iterable[str]) -> list[str]:
    """Sorted union of every process's ``items`` (e.g. broken-video messages)."""
    items = sorted(set(items))
    return sorted(set(gather_object(items))) if accelerator.num_processes > 1 else items


def make_loader(dataset: Any, batch_size: int, collate_fn: Any, num_workers: int = 0, pin_memory: bool = False,
                persistent: bool = False, prefetch: int = 2, sampler: Any = None, drop_last: bool = False) -> DataLoader:
    """A DataLoader as the engine uses it: a seeded batch sampler for training, dataset order otherwise."""
    kw: dict[str, Any] = {}
    if num_workers > 0:
        kw = dict(persistent_workers=persistent, prefetch_factor=prefetch)
    if sampler is not None:
        # a BatchSampler over the seeded sampler: accelerate shards its batches as they are
        return DataLoader(dataset, batch_sampler=BatchSampler(sampler, batch_size, drop_last), collate_fn=collate_fn,
                          num_workers=num_workers, pin_memory=pin_memory, **kw)
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate_fn,
                      num_workers=num_workers, pin_memory=pin_memory, **kw)


@torch.no_grad()
def score(model: nn.Module, dataloader: DataLoader, accelerator: Accelerator, num_views: int = 1, desc: str = "eval",
          progress: bool = True) -> dict[str, Any]:
    """Run ``model`` over a dataloader: the one scoring loop of training, evaluation and inference.

    Precision is the accelerator's (``engine.mixed_precision`` / inference's ``mixed_precision``:
    one rule, :func:`lsvit.device.resolve_precision`). Inputs become model input through
    :func:`lsvit.data.to_model_input`; several views per sample are averaged in probability.

    Args:
        model: the model (prepared, or on ``accelerator.device``).
        dataloader: the dataloader, prepared by ``accelerator`` (batches on its device, sharded
            across processes).
        accelerator: the accelerator.
        num_views: views per sample (clips x crops).
        desc: progress-bar label.
        progress: show a progress bar (main process, when attached to a terminal).

    Returns:
        Gathered across processes without duplicates, in dataset order: ``logits`` (N, K) float
        (for several views, the log of the mean probability), ``labels`` (N,), ``valid`` (N,) bool
        (False for stand-ins of unreadable inputs), ``ids`` and the ``errors`` met.
    """
    model.eval()
    logits_all, labels_all, valid_all, ids, errors = [], [], [], [], []
    show = progress and accelerator.is_local_main_process
    for batch in tqdm(dataloader, desc=desc, leave=False, disable=None if show else True):
        with accelerator.autocast():
            logits = view_scores(model, batch["inputs"], num_views, batch.get("color"))
        valid = batch.get("valid")
        if valid is None:
            valid = torch.ones_like(batch["label"], dtype=torch.bool)
        logits, labels, valid = accelerator.gather_for_metrics((logits.float().contiguous(), batch["label"],
                                                                valid.to(batch["label"].device)))
        ids.extend(accelerator.gather_for_metrics(list(batch["id"]), use_gather_object=True))
        logits_all.append(logits.cpu())
        labels_all.append(labels.cpu())
        valid_all.append(valid.cpu())
        errors.extend(batch.get("error", []))
    k = logits_all[0].shape[1] if logits_all else 0
    return {"logits": torch.cat(logits_all) if logits_all else torch.zeros(0, k),
            "labels": torch.cat(labels_all) if labels_all else torch.zeros(0, dtype=torch.long),
            "valid": torch.cat(valid_all) if valid_all else torch.zeros(0, dtype=torch.bool), "ids": ids,
            "errors": union_across_ranks(accelerator, errors)}


def evaluate(model: nn.Module, dataloader: DataLoader, accelerator: Accelerator, prefix: str = "val/",
             desc: str = "eval", num_views: int = 1) -> tuple[dict[str, float], dict[str, Any]]:
    """Metrics of :func:`score`'s outputs (stand-ins for unreadable inputs, label -1, are left out).

    Returns:
        ``(metrics, outputs)``: loss, top-1, top-5, macro-F1 and ``num_samples`` under ``prefix``;
        the outputs of :func:`score`.
    """
    out = score(model, dataloader, accelerator, num_views, desc)
    return classification_metrics(out["logits"], out["labels"], prefix), out
