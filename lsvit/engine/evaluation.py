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
def evaluate(model: nn.Module, dataloader: DataLoader, accelerator: Accelerator, prefix: str = "val/",
             desc: str = "eval", num_views: int = 1) -> tuple[dict[str, float], dict[str, Any]]:
    """Metrics over a (prepared) dataloader, gathered across processes without duplicates.

    Args:
        model: the prepared model.
        dataloader: the prepared dataloader.
        accelerator: the run's accelerator.
        prefix: metric key prefix.
        desc: progress-bar label.
        num_views: views per sample (clips x crops); their softmax scores are averaged.

    Returns:
        ``(metrics, outputs)``; ``outputs`` holds gathered ``logits`` (scores), ``labels``,
        ``ids`` and the ``errors`` met (broken samples, left out of the metrics).
    """
    model.eval()
    logits_all, labels_all, ids, errors = [], [], [], []
    for batch in tqdm(dataloader, desc=desc, leave=False, disable=None if accelerator.is_local_main_process else True):
        with accelerator.autocast():
            logits = view_scores(model, batch["inputs"], num_views, batch.get("color"))
        logits, labels = accelerator.gather_for_metrics((logits.float().contiguous(), batch["label"]))
        ids.extend(accelerator.gather_for_metrics(list(batch["id"]), use_gather_object=True))
        logits_all.append(logits.cpu())
        labels_all.append(labels.cpu())
        errors.extend(batch.get("error", []))
    logits = torch.cat(logits_all) if logits_all else torch.zeros(0, 0)
    labels = torch.cat(labels_all) if labels_all else torch.zeros(0, dtype=torch.long)
    errors = union_across_ranks(accelerator, errors)
    return classification_metrics(logits, labels, prefix), {"logits": logits, "labels": labels, "ids": ids,
                                                            "errors": errors}
