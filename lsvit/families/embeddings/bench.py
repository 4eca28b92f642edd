"""g. the frame-embedding cache: reading vs recomputing, file size, extraction overlap, training on the cache.

Measured side by side in one run on the benchmark's test videos, with the seed's backbones (ViT-B/16 +
ResNeXt50 at 224 px, random weights: the same compute as pretrained ones) at the default size and tiny
ones at the smoke size:

1. a batch read from the cache (``FeatureH5Dataset`` + collate) vs recomputing its embeddings
   (decode + views + backbones), target >= 50x;
2. the cache's size vs the same embeddings as raw float32 (float16 + gzip + shuffle), target <= 0.6x;
3. the extraction loop (decoding in 2 DataLoader workers + views + backbones + per-video save) vs the
   backbones' forward time alone on the same, already decoded views, target <= 1.25x;
4. BiLSTM training steps fed by the loader from a cache (2 workers, batch 32) vs steps on a batch
   already in memory: the share of the step spent waiting for data, target <= 10 %.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lsvit.data.dataset import SeededSampler, collate
from lsvit.data.discovery import VideoItem
from lsvit.data.h5 import mark_complete, write_json_attr
from lsvit.data.store import ExtractionStore
from lsvit.families.embeddings.cache import FeatureH5Dataset
from lsvit.families.embeddings.extract import (
    EmbedConfig,
    ExtractionJob,
    VideoViews,
    _write_h5,
    cache_settings,
    embed_stream,
)
from lsvit.families.embeddings.graph import EMBED_RTOL, EMBEDDINGS_NAME, VIEWS_NAME, graph_module
from lsvit.perf import (
    BenchContext,
    Check,
    Cycle,
    DeployCase,
    PerfReport,
    built_family,
    idle_fraction,
    train_step,
)

SECTION = "g. frame-embedding cache (BiLSTM family)"
TINY = {"vit": "vit_tiny_patch16_224", "cnn": "resnet10t", "image_size": 32, "dim": 32,
        "vit_args": {"depth": 1, "patch_size": 8, "embed_dim": 32, "num_heads": 2},
        "cnn_args": {"channels": [8, 16, 32, 96]}}


def _embed_config(smoke: bool, num_frames: int) -> Any:
    base = TINY if smoke else {"vit": "vit_base_patch16_224", "cnn": "resnext50_32x4d", "image_size": 224}
    return EmbedConfig(**base, pretrained=False, num_frames=num_frames, dtype="float16")


def bench_cache(videos: list[Path], report: PerfReport, tmp: Path, smoke: bool = False, num_frames: int = 4,
                device: str = "cpu", batch: int = 32, train_rows: int = 256, train_frames: int = 32,
                steps: int = 8, workers: int = 2) -> None:
    """The four measurements of the module docstring; figures in ``report`` under :data:`SECTION`."""
    cfg = _embed_config(smoke, num_frames)
    embedder = cfg.build().to(device)
    settings = cache_settings(cfg, embedder)
    t_, c_, d_ = num_frames, embedder.num_channels, embedder.dim
    items = [VideoItem(f"v/{p.stem}", 0, str(p)) for p in videos]
    job = ExtractionJob(items, ["v"])
    views_ds = VideoViews(items, cfg)
    report.add(SECTION, "embedder", f"{cfg.vit} + {cfg.cnn} at {cfg.image_size} px, {t_} frames x 3 views -> "
                                    f"({t_}, {c_}, {d_}), {len(items)} videos, device {device}")

    # 3. extraction loop vs the forward passes alone on the same decoded views
    decoded = [views_ds[i]["views"] for i in range(len(items))]
    flat = torch.from_numpy(np.concatenate([v.reshape(-1, *v.shape[2:]) for v in decoded])).to(device)
    with torch.inference_mode():
        embedder(flat[:len(flat) // len(items)])  # warm-up: one video
    out = tmp / "bench_cache.h5"
    store = ExtractionStore(out, {"bench": True}).open()
    t0 = time.perf_counter()
    for key, arr, _ in embed_stream(embedder, views_ds, device, batch_videos=len(items), num_workers=workers,
                                    progress=False):
        store.save(key, {"embeddings": arr.astype(np.float16)})  # type: ignore[union-attr]
    loop = time.perf_counter() - t0
    with torch.inference_mode():  # right after the loop, on the same views, in one call as the loop made
        t0 = time.perf_counter()
        embedder(flat)
        forward = time.perf_counter() - t0
    store.finish([it.id for it in items], lambda tmp_, fin: _write_h5(tmp_, fin, job, store, settings, {}))
    report.add(SECTION, "backbones' forward alone, all videos (s)", forward)
    report.add(SECTION, f"extraction loop: decode in {workers} workers + forward + save (s)", loop)
    report.checks.append(Check("extraction wall / backbones' forward alone", loop / forward, 1.25, "<=",
                               f"{len(items)} videos decoded by {workers} workers while the backbones run"))

    # 2. file size vs raw float32
    raw = len(items) * t_ * c_ * d_ * 4
    size = out.stat().st_size
    report.add(SECTION, "cache file size vs raw float32 (float16, gzip + shuffle)", size / raw)
    report.checks.append(Check("cache size / raw float32 (default layout, float16, gzip)", None if smoke else size / raw,
                               0.6, "<=", "smoke size: the HDF5 header outweighs the data" if smoke else
                               f"{size / 1e6:.2f} MB for {len(items)} x ({t_}, {c_}, {d_})"))

    # 1. reading a batch vs recomputing it
    ds = FeatureH5Dataset(out)
    rows = np.random.default_rng(0).integers(0, len(ds), batch)
    collate([ds[int(r)] for r in rows[:2]])  # opens the file
    reps = 5
    t0 = time.perf_counter()
    for _ in range(reps):
        collate([ds[int(r)] for r in rows])
    read = (time.perf_counter() - t0) / reps
    recompute = loop / len(items) * batch
    report.add(SECTION, f"read a batch of {batch} from the cache (ms)", read * 1e3)
    report.add(SECTION, f"recompute a batch of {batch} (decode + backbones, from the loop) (s)", recompute)
    report.checks.append(Check("cache read / recompute speed-up (batch)", recompute / read, 50.0, ">=",
                               f"{batch} videos of {t_} frames"))

    # 4. training on a cache: loader wait share (2 workers, batch 32)
    bench_train_on_cache(report, tmp, c_, d_, train_rows, train_frames, batch, steps, workers, device)


def bench_train_on_cache(report: PerfReport, tmp: Path, channels: int, dim: int, rows: int, frames: int,
                         batch: int, steps: int, workers: int, device: str) -> None:
    """BiLSTM steps fed by the DataLoader from a gzip cache vs on a batch already in memory."""
    import h5py
    from torch.utils.data import DataLoader

    path = tmp / "bench_train.h5"
    rng = np.random.default_rng(1)
    with h5py.File(path, "w") as f:  # embedding-like values (non-negative, half-precision), one chunk per row
        e = f.create_dataset("embeddings", (rows, frames, channels, dim), np.float16, chunks=(1, frames, channels, dim),
                             compression="gzip", compression_opts=4, shuffle=True)
        for r in range(rows):
            e[r] = np.abs(rng.standard_normal((frames, channels, dim))).astype(np.float16)
        f.create_dataset("labels", data=rng.integers(0, 8, rows))
        f.create_dataset("ids", data=[f"v{r}" for r in range(rows)], dtype=h5py.string_dtype())
        f.create_dataset("copies", data=np.zeros(rows, np.int16))
        write_json_attr(f, "class_names", [f"c{i}" for i in range(8)])
        write_json_attr(f, "settings", {})
        mark_complete(f)
    import timm

    model = timm.create_model("bilstm_attention", num_classes=8, in_channels=channels, in_dim=dim).to(device)
    opt = torch.optim.RAdam(model.parameters(), lr=1e-3)
    ds = FeatureH5Dataset(path, train=True)
    first = collate([ds[(i, i)] for i in range(batch)])
    on_dev = lambda b: (b["inputs"].to(device), b["label"].to(device))  # noqa: E731
    x, y = on_dev(first)
    for _ in range(2):  # warm-up
        train_step(model, opt, x, y)
    t0 = time.perf_counter()
    for _ in range(steps):
        train_step(model, opt, x, y)
    synthetic = (time.perf_counter() - t0) / steps
    dl = DataLoader(ds, batch_size=batch, collate_fn=collate, num_workers=workers, persistent_workers=workers > 0,
                    sampler=Cycle(SeededSampler(len(ds)), (steps + 1) * batch))
    it = iter(dl)
    train_step(model, opt, *on_dev(next(it)))  # workers up, pipeline full
    t0 = time.perf_counter()
    for b in it:
        train_step(model, opt, *on_dev(b))
    real = (time.perf_counter() - t0) / steps
    idle = idle_fraction(synthetic, real)
    sec = f"{SECTION}: training (bilstm_attention, batch {batch}, ({frames}, {channels}, {dim}), {workers} workers)"
    report.add(sec, "step on a batch already in memory (ms)", synthetic * 1e3)
    report.add(sec, "step fed by the loader from the cache (ms)", real * 1e3)
    report.add(sec, "loader wait share of the step", idle)
    report.checks.append(Check("BiLSTM training: loader wait share of the step", idle, 0.10, "<=",
                               f"{workers} workers, batch {batch}"))



def section_features(report: PerfReport, ctx: BenchContext) -> None:
    """g. the frame-embedding cache (BiLSTM family)."""
    s = ctx.smoke
    bench_cache(ctx.videos, report, ctx.tmp, smoke=s, num_frames=4 if ctx.size != "gpu" else 32, device=ctx.device,
                batch=4 if s else 32, train_rows=16 if s else 256, train_frames=4 if s else 32, steps=2 if s else 8,
                workers=1 if s else 2)


# ------------------------------------------------------------------------------------------- deployment
def bilstm_case(smoke: bool) -> DeployCase:
    """The frame-embedding BiLSTM at ``make demo-bilstm``'s size: 16 frames x 3 views of efficientnet_lite0's
    1280-d embeddings (configs/embed/efficientnet_lite0.yaml), the model's defaults plus the Makefile's
    ``temporal_diff=true``, 8 classes (tiny under ``smoke``)."""
    t, c, d, batch = (4, 3, 32, 2) if smoke else (16, 3, 1280, 8)
    args: dict[str, Any] = {"in_channels": c, "in_dim": d, "temporal_diff": True}
    if smoke:
        args.update(hidden=16, attn_hidden=8)
    model = built_family("bilstm_attention", args, 8)
    x = torch.randn(batch, t, c, d, generator=torch.Generator().manual_seed(0))
    return DeployCase("bilstm", model, x, "clips", f"{t} frames x {c} x {d} embeddings, hidden {model.hidden}, batch {batch}")


def probe_case(smoke: bool) -> DeployCase:
    """The BiLSTM's order-blind baseline (``embedding_mean_probe``) on the same embeddings as :func:`bilstm_case`
    (``make demo-bilstm`` trains both on one cache)."""
    t, c, d, batch = (4, 3, 32, 2) if smoke else (16, 3, 1280, 8)
    model = built_family("embedding_mean_probe", {"in_channels": c, "in_dim": d}, 8)
    x = torch.randn(batch, t, c, d, generator=torch.Generator().manual_seed(0))
    return DeployCase("embedding_mean_probe", model, x, "clips", f"{t} frames x {c} x {d} embeddings, batch {batch}")


def embedder_case(smoke: bool) -> DeployCase:
    """The BiLSTM demo's frame embedder: efficientnet_lite0 (random weights: the speed is the same) on the three
    112 px views of 16 frames, one video's worth (tiny resnet10t at 32 px under ``smoke``)."""
    if smoke:
        cfg = EmbedConfig(vit=None, cnn="resnet10t", image_size=32, pretrained=False,
                          cnn_args={"channels": [8, 16, 32, 96]})
        frames = 2
    else:
        cfg = EmbedConfig(vit=None, cnn="efficientnet_lite0", image_size=112, pretrained=False)
        frames = 16
    embedder = cfg.build().eval()
    s = int(cfg.image_size)
    views = torch.randint(0, 256, (frames, 3, s, s, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    return DeployCase("bilstm frame embedder", embedder, views, "frames", f"{cfg.cnn} on 3 views of {s} px, {frames} frames per call",
                      graph_module(embedder), VIEWS_NAME, EMBEDDINGS_NAME, EMBED_RTOL)


def deploy_cases(smoke: bool) -> list[DeployCase]:
    """The BiLSTM and its probe at ``make demo-bilstm``'s size, and the frame embedder (frames per second)."""
    return [bilstm_case(smoke), probe_case(smoke), embedder_case(smoke)]
