"""g. the frame-embedding cache: reading vs recomputing, file size, extraction speed, training on the cache.

Measured side by side in one run on the benchmark's test videos, with the seed's backbones (ViT-B/16 + ResNeXt50 at
224 px, random weights: the same compute as pretrained ones) and ``make demo-bilstm``'s (efficientnet_lite0 at 112 px,
16 frames) at the default size, and tiny ones at the smoke size:

1. a batch read from the cache (``FeatureH5Dataset`` + collate) vs recomputing its embeddings
   (decode + views + backbones), target >= 50x;
2. the cache's size vs the same embeddings as raw float32 (float16 + gzip + shuffle), target <= 0.6x;
3. extraction, for each embedder: the loop as it was before issue 26 (:func:`embed_stream_before`: a group of videos
   decoded by one DataLoader worker process, batch norms unfolded) beside today's :func:`embed_stream` (a video per
   decoding task, decoded by threads of the process, batch norms folded into the convolutions) in frames/s,
   interleaved; and today's loop (decoding by 2 threads + views + backbones + per-video save) vs its backbones'
   forward alone on the same, already decoded views in the same groups, target <= 1.25x;
4. BiLSTM training steps fed by the loader from a gzip cache (batch 32) vs steps on a batch already in memory (the
   two alternating step by step, medians): the share of the step spent waiting for data, for rows read one at a time by 2 workers (before) and for
   ``in_memory=auto`` (the cache read into memory once, in blocks of rows, and loaded in the main process as the
   engine does for rows in memory: after; the same with 2 workers anyway is shown too), target <= 10 % (after).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from lsvit.data.dataset import SeededSampler, collate
from lsvit.data.discovery import VideoItem
from lsvit.data.h5 import mark_complete, write_json_attr
from lsvit.data.store import ExtractionStore
from lsvit.engine.trainer import loader_workers
from lsvit.families.embeddings.cache import FeatureH5Dataset
from lsvit.families.embeddings.extract import (
    EmbedConfig,
    ExtractionJob,
    VideoViews,
    _collate,
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
SEED = {"vit": "vit_base_patch16_224", "cnn": "resnext50_32x4d", "image_size": 224}
DEMO = {"vit": None, "cnn": "efficientnet_lite0", "image_size": 112}  # configs/embed/efficientnet_lite0.yaml


def _embed_config(smoke: bool, num_frames: int, base: dict[str, Any] | None = None) -> Any:
    base = TINY if smoke else (base or SEED)
    return EmbedConfig(**base, pretrained=False, num_frames=num_frames, dtype="float16")


def embed_stream_before(embedder: Any, dataset: VideoViews, device: str = "cpu", batch_videos: int = 4,
                        num_workers: int = 2) -> Iterator[tuple[str, np.ndarray | None, str | None]]:
    """The extraction loop as it was before issue 26, kept as the benchmark's reference: a group of
    ``batch_videos`` videos is one DataLoader task (one worker decodes all of them in turn) and the backbones run
    as built (batch norms unfolded). Same output as :func:`embed_stream` to float32 rounding."""
    kw: dict[str, Any] = dict(prefetch_factor=2, persistent_workers=False) if num_workers > 0 else {}
    dl = DataLoader(dataset, batch_size=max(1, int(batch_videos)), shuffle=False, num_workers=num_workers,
                    collate_fn=_collate, **kw)
    with torch.inference_mode():
        for batch in dl:
            good = [s for s in batch if s["views"] is not None]
            out: list[torch.Tensor] = []
            if good:
                views = torch.from_numpy(np.concatenate([s["views"].reshape(-1, *s["views"].shape[2:])
                                                         for s in good])).to(device)
                flat = embedder(views).float().cpu()
                out = list(flat.split([s["views"].shape[0] * s["views"].shape[1] for s in good]))
            it = iter(out)
            for s in batch:
                if s["views"] is None:
                    yield s["key"], None, s["error"]
                else:
                    copies, t = s["views"].shape[:2]
                    yield s["key"], next(it).reshape(copies, t, *flat.shape[1:]).numpy(), None


def bench_extraction(report: PerfReport, tmp: Path, videos: list[Path], cfg: Any, label: str, device: str = "cpu",
                     batch_videos: int = 2, workers: int = 2, rounds: int = 1) -> dict[str, Any]:
    """Item 3 of the module docstring for one embedder: frames/s before and after, and the loop vs the forward.

    Each round runs the loop before, the loop after and the forward alone, in that order (the best round of each
    counts: the least disturbed by other work on the machine). Returns the figures (and the cache written by the
    last loop after, for the size and read measurements).
    """
    embedder = cfg.build().to(device).eval()
    t0 = time.perf_counter()
    runner = embedder.for_inference()  # what embed_stream runs: batch norms folded (once per extraction)
    fold = time.perf_counter() - t0
    settings = cache_settings(cfg, embedder)
    items = [VideoItem(f"v/{p.stem}_{i}", 0, str(p)) for i, p in enumerate(videos)]
    job = ExtractionJob(items, ["v"])
    views_ds = VideoViews(items, cfg)
    decoded = [views_ds[i]["views"] for i in range(len(items))]
    flat = torch.from_numpy(np.concatenate([v.reshape(-1, *v.shape[2:]) for v in decoded])).to(device)
    frames = sum(v.shape[0] * v.shape[1] for v in decoded)
    per_group = frames // len(items) * batch_videos
    groups = flat.split(per_group)
    with torch.inference_mode():  # warm-up at the loops' shapes (the backends prepare each shape once)
        for g in {g.shape[0]: g for g in groups}.values():
            embedder(g)
            runner(g)
    best = {"before": float("inf"), "after": float("inf"), "forward": float("inf")}
    out = tmp / f"bench_cache_{label}.h5"
    for r in range(rounds):
        store = ExtractionStore(tmp / f"bench_before_{label}_{r}.h5", {"bench": True}).open()
        t0 = time.perf_counter()
        for key, arr, _ in embed_stream_before(embedder, views_ds, device, batch_videos, workers):
            store.save(key, {"embeddings": arr.astype(np.float16)})  # type: ignore[union-attr]
        best["before"] = min(best["before"], time.perf_counter() - t0)
        store = ExtractionStore(out if r == rounds - 1 else tmp / f"bench_after_{label}_{r}.h5", {"bench": True}).open()
        t0 = time.perf_counter()
        for key, arr, _ in embed_stream(runner, views_ds, device, batch_videos, workers, progress=False):
            store.save(key, {"embeddings": arr.astype(np.float16)})  # type: ignore[union-attr]
        best["after"] = min(best["after"], time.perf_counter() - t0)
        with torch.inference_mode():  # right after the loop, on the same views, in the same groups
            t0 = time.perf_counter()
            for g in groups:
                runner(g)
            best["forward"] = min(best["forward"], time.perf_counter() - t0)
    store.finish([it.id for it in items], lambda tmp_, fin: _write_h5(tmp_, fin, job, store, settings, {}))
    sec = f"{SECTION}: extraction, {label} ({cfg.vit or '-'} + {cfg.cnn or '-'} at {cfg.image_size} px)"
    report.add(sec, "frames", f"{len(items)} videos x {frames // len(items)} frames x 3 views, groups of "
                              f"{batch_videos} videos, {workers} decoders, {torch.get_num_threads()} torch "
                              f"threads, best of {rounds}")
    report.add(sec, "before: loop (frames/s)", frames / best["before"])
    report.add(sec, "after: loop (frames/s)", frames / best["after"])
    report.add(sec, "after / before (loop speed-up)", best["before"] / best["after"])
    report.add(sec, "after: backbones' forward alone (frames/s)", frames / best["forward"])
    report.add(sec, "before: loop (s)", best["before"])
    report.add(sec, "after: loop (s)", best["after"])
    report.add(sec, "after: backbones' forward alone (s)", best["forward"])
    report.add(sec, "batch norms folded into convolutions, once (s)", fold)
    report.checks.append(Check(f"extraction wall / backbones' forward alone ({label})", best["after"] / best["forward"],
                               1.25, "<=", f"{frames / best['after']:.1f} frames/s (before: "
                                           f"{frames / best['before']:.1f}); {len(items)} videos decoded by {workers} "
                                           "threads while the backbones run"))
    return {"out": out, "loop": best["after"], "forward": best["forward"], "frames": frames,
            "shape": (frames // len(items), embedder.num_channels, embedder.dim)}


def bench_cache(videos: list[Path], report: PerfReport, tmp: Path, smoke: bool = False, num_frames: int = 4,
                device: str = "cpu", batch: int = 32, train_rows: int = 256, train_frames: int = 32,
                steps: int = 8, workers: int = 2, rounds: int = 1) -> None:
    """The four measurements of the module docstring; figures in ``report`` under :data:`SECTION`."""
    cfg = _embed_config(smoke, num_frames)
    # 3. extraction before / after, and the loop vs the forward alone: the seed's backbones (one round: a pass takes
    # tens of seconds on a CPU, and their forward outweighs the rest), then the demo's (``rounds`` rounds)
    seed = bench_extraction(report, tmp, videos, cfg, "tiny" if smoke else "seed", device, workers=workers, rounds=1)
    if not smoke:  # each video twice (8 extractions): the first group's decoding, never overlapped, weighs as in
        # a longer extraction (it is once per run), and a pass is still a few seconds
        bench_extraction(report, tmp, [*videos, *videos], _embed_config(False, 16, DEMO), "demo", device,
                         workers=workers, rounds=rounds)
    t_, c_, d_ = seed["shape"]
    n = len(videos)
    report.add(SECTION, "embedder", f"{cfg.vit} + {cfg.cnn} at {cfg.image_size} px, {t_} frames x 3 views -> "
                                    f"({t_}, {c_}, {d_}), {n} videos, device {device}")
    out = seed["out"]
    report.add(SECTION, "backbones' forward alone, all videos (s)", seed["forward"])
    report.add(SECTION, f"extraction loop: decode in {workers} threads + forward + save (s)", seed["loop"])

    # 2. file size vs raw float32
    raw = n * t_ * c_ * d_ * 4
    size = out.stat().st_size
    report.add(SECTION, "cache file size vs raw float32 (float16, gzip + shuffle)", size / raw)
    report.checks.append(Check("cache size / raw float32 (default layout, float16, gzip)", None if smoke else size / raw,
                               0.6, "<=", "smoke size: the HDF5 header outweighs the data" if smoke else
                               f"{size / 1e6:.2f} MB for {n} x ({t_}, {c_}, {d_})"))

    # 1. reading a batch vs recomputing it
    ds = FeatureH5Dataset(out)
    rows = np.random.default_rng(0).integers(0, len(ds), batch)
    collate([ds[int(r)] for r in rows[:2]])  # opens the file
    reps = 5
    t0 = time.perf_counter()
    for _ in range(reps):
        collate([ds[int(r)] for r in rows])
    read = (time.perf_counter() - t0) / reps
    recompute = seed["loop"] / n * batch
    report.add(SECTION, f"read a batch of {batch} from the cache (ms)", read * 1e3)
    report.add(SECTION, f"recompute a batch of {batch} (decode + backbones, from the loop) (s)", recompute)
    report.checks.append(Check("cache read / recompute speed-up (batch)", recompute / read, 50.0, ">=",
                               f"{batch} videos of {t_} frames"))

    # 4. training on a cache: loader wait share (2 workers, batch 32)
    bench_train_on_cache(report, tmp, c_, d_, train_rows, train_frames, batch, steps, workers, device)


def _interleaved(model: Any, opt: Any, ds: FeatureH5Dataset, batch: int, steps: int, workers: int, device: str,
                 x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Median seconds of a step on the batch ``(x, y)`` already in memory and of a step fed by a DataLoader over
    ``ds``, the two alternating step by step (both meet the same load from other work on the machine)."""
    on_dev = lambda b: (b["inputs"].to(device), b["label"].to(device))  # noqa: E731
    dl = DataLoader(ds, batch_size=batch, collate_fn=collate, num_workers=workers, persistent_workers=workers > 0,
                    sampler=Cycle(SeededSampler(len(ds)), (steps + 1) * batch))
    it = iter(dl)
    train_step(model, opt, *on_dev(next(it)))  # workers up, pipeline full
    ref, fed = [], []
    for b in range(steps):
        t0 = time.perf_counter()
        train_step(model, opt, x, y)
        t1 = time.perf_counter()
        train_step(model, opt, *on_dev(next(it)))  # the wait for the batch counts: it is what is measured
        fed.append(time.perf_counter() - t1)
        ref.append(t1 - t0)
    return float(np.median(ref)), float(np.median(fed))


def bench_train_on_cache(report: PerfReport, tmp: Path, channels: int, dim: int, rows: int, frames: int,
                         batch: int, steps: int, workers: int, device: str) -> None:
    """BiLSTM steps fed by the DataLoader from a gzip cache (rows read per sample, and read into memory at once)
    vs on a batch already in memory, alternating step by step (medians)."""
    import h5py

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
    per_row = FeatureH5Dataset(path, train=True)  # before: gzip rows read one at a time in the workers
    t0 = time.perf_counter()
    memory = FeatureH5Dataset(path, train=True, in_memory="auto")  # after: read once, in blocks of rows
    load = time.perf_counter() - t0
    first = collate([per_row[(i, i)] for i in range(batch)])
    assert torch.equal(first["inputs"], collate([memory[(i, i)] for i in range(batch)])["inputs"])
    x, y = first["inputs"].to(device), first["label"].to(device)
    for _ in range(2):  # warm-up
        train_step(model, opt, x, y)

    # the engine's loader for in-memory rows runs in the main process (loader_workers: workers would only copy
    # each batch through shared memory); the same rows with the workers anyway are shown beside it
    engine_workers = loader_workers(workers, memory)
    n = steps
    ref_b, before = _interleaved(model, opt, per_row, batch, n, workers, device, x, y)
    ref_a, after = _interleaved(model, opt, memory, batch, n, engine_workers, device, x, y)
    forced = _interleaved(model, opt, memory, batch, n, workers, device, x, y) if engine_workers != workers else None
    wait_before, wait_after = idle_fraction(ref_b, before), idle_fraction(ref_a, after)
    sec = f"{SECTION}: training (bilstm_attention, batch {batch}, ({frames}, {channels}, {dim}), {workers} workers)"
    report.add(sec, "steps", f"{n} steps fed by the loader, each after a step on a batch already in memory; medians")
    report.add(sec, "before: step on a batch in memory / fed, rows read per sample (ms)",
               f"{ref_b * 1e3:.1f} / {before * 1e3:.1f}")
    report.add(sec, "before: loader wait share of the step", wait_before)
    report.add(sec, f"after: cache read into memory once, {rows} rows (s)", load)
    report.add(sec, f"after: step on a batch in memory / fed, in_memory=auto, {engine_workers} workers (the engine's) "
                    "(ms)", f"{ref_a * 1e3:.1f} / {after * 1e3:.1f}")
    report.add(sec, "after: loader wait share of the step", wait_after)
    if forced is not None:
        report.add(sec, f"in_memory=auto with {workers} workers anyway: loader wait share", idle_fraction(*forced))
    report.checks.append(Check("BiLSTM training: loader wait share of the step", wait_after, 0.10, "<=",
                               f"in_memory=auto ({engine_workers} workers: the engine's for rows in memory; "
                               f"engine.num_workers={workers}), batch {batch}; before, rows read per sample by "
                               f"{workers} workers: {wait_before:.3f}"))


def section_features(report: PerfReport, ctx: BenchContext) -> None:
    """g. the frame-embedding cache (BiLSTM family)."""
    s = ctx.smoke
    bench_cache(ctx.videos, report, ctx.tmp, smoke=s, num_frames=4 if ctx.size != "gpu" else 32, device=ctx.device,
                batch=4 if s else 32, train_rows=16 if s else 256, train_frames=4 if s else 32, steps=2 if s else 16,
                workers=1 if s else 2, rounds=1 if s else 3)


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
