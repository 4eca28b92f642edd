"""Attention statistics of a trained BiLSTM checkpoint, written into its run folder.

``attention_report(run_dir)`` rebuilds ``best/`` and the validation (and test) data it was
evaluated on from ``best/meta.json``, and writes ``attention_<part>.json`` (mean channel weights,
mean sequence weights, their argmax/argmin, per-frame channel weights; channels named by the
cache's layout) and ``attention_<part>.png``, and logs the summary.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from torch.utils.data import DataLoader

from lsvit import LsvitError
from lsvit.checkpoint.folder import build_from_checkpoint
from lsvit.data.dataset import collate
from lsvit.device import resolve_device
from lsvit.families.embeddings.datamodule import FeatureDataModule
from lsvit.io import atomic_write_text
from lsvit.models.bilstm_attention import BiLSTMAttention, attention_statistics, plot_attention

log = logging.getLogger(__name__)


def attention_report(run_dir: str | Path, parts: tuple[str, ...] = ("val", "test"), batch_size: int = 64,
                     device: str = "auto") -> dict[str, Any]:
    """Write ``attention_<part>.{json,png}`` for a BiLSTM run; returns ``{part: statistics}``.

    Raises:
        LsvitError: ``best/`` is not a BiLSTM checkpoint on an embedding cache.
    """
    run_dir = Path(run_dir)
    best = run_dir / "best" if (run_dir / "best").is_dir() else run_dir
    dev = resolve_device(device)
    model, meta = build_from_checkpoint(best, dev)
    if not isinstance(model, BiLSTMAttention) or meta["data"].get("type") != "embeddings":
        raise LsvitError(f"{best}: attention statistics need a bilstm_attention checkpoint on embeddings")
    d = meta["data"]
    files = d.get("files") or {}
    dm = FeatureDataModule(train_file=files["train"], val_file=files.get("val") if files.get("val") != files["train"]
                           else None, test_file=files.get("test") if files.get("test") != files["train"] else None,
                           split=d.get("split"), membership=d.get("membership"), num_channels=d["num_channels"],
                           dim=d["dim"], seed=int(d.get("seed", meta.get("seed", 0))),
                           val_ratio=float(d.get("val_ratio", 0.1)), name=d.get("dataset", "features"))
    dm.setup()
    out: dict[str, Any] = {}
    layout = list(d["settings"].get("layout") or [])
    for part in parts:
        ds = dm.val_dataset if part == "val" else dm.make_test_dataset() if part == "test" else None
        if ds is None:
            continue
        stats = attention_statistics(model, DataLoader(ds, batch_size=batch_size, collate_fn=collate), dev, layout)
        if not stats["num_samples"]:
            continue
        stats["part"], stats["checkpoint"] = part, str(best)
        atomic_write_text(run_dir / f"attention_{part}.json", json.dumps(stats, indent=1))
        plot_attention(stats, run_dir / f"attention_{part}.png", f"{run_dir.name}: {part} ({stats['num_samples']})")
        names = stats["channel_names"]
        log.info("%s attention (%d videos): channels max %s (%.3f) min %s (%.3f); frames max %d min %d", part,
                 stats["num_samples"], names[stats["channel_argmax"]], max(stats["channel_mean"]),
                 names[stats["channel_argmin"]], min(stats["channel_mean"]), stats["sequence_argmax"],
                 stats["sequence_argmin"])
        out[part] = stats
    return out


__all__ = ["attention_report"]
