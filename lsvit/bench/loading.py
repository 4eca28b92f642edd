"""a. clip loading (the project's dataset vs raw decoding) and f. the data path under training."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lsvit.bench.models import SIZES, build_model, train_step
from lsvit.data.augment import make_aug
from lsvit.data.dataset import SeededSampler, collate, to_model_input
from lsvit.data.discovery import VideoItem
from lsvit.data.readers import read_clip
from lsvit.data.sampling import sample_indices
from lsvit.families.clips.dataset import VideoDataset
from lsvit.families.clips.transforms import ClipTransform
from lsvit.perf import Check, Cycle, PerfReport, idle_fraction, synced, time_per_item

GOP = 32  # frames between keyframes in the benchmark videos (x264's own default, 250, is unusual in datasets)


def make_videos(folder: Path, count: int = 4, frames: int = 300, width: int = 320, height: int = 240,
                gop: int = GOP) -> list[Path]:
    """``count`` H.264 videos of ``frames`` frames (a moving texture), like HMDB51's 320x240 clips."""
    import av
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    out = []
    for i in range(count):
        path = folder / f"video_{i}.mp4"
        base = cv2.resize(rng.integers(0, 255, (height // 8, width // 8 + frames // 4, 3)).astype(np.uint8),
                          (width + frames, height), interpolation=cv2.INTER_CUBIC)
        with av.open(str(path), "w") as container:
            stream = container.add_stream("libx264", rate=25)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"crf": "20", "preset": "veryfast", "g": str(gop), "keyint_min": str(gop)}
            for j in range(frames):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(base[:, j:j + width]), format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        out.append(path)
    return out


def bench_loading(videos: list[Path], report: PerfReport, num_frames: int = 16, stride: int = 2,
                  image_size: int = 224, reps: int = 3, workers: tuple[int, ...] = (0, 1, 2),
                  loader_batches: int = 6, device: str = "cpu") -> None:
    """Clip loading: the project's dataset vs raw decord ``get_batch`` vs decode-all, per backend; DataLoader.

    The dataset hands over uint8 clips and their colour maps; the colour jitter and the
    normalisation run on ``device`` in the training step, timed here on their own.
    """
    import decord


    sec = "a. clip loading"
    n = len(videos)
    tf = ClipTransform(image_size, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), train=True)
    items = [VideoItem(f"v{i}", 0, str(p)) for i, p in enumerate(videos)]
    ds = VideoDataset(items, tf, num_frames=num_frames, frame_stride=stride, train=True, backend="decord")
    seeds = np.random.default_rng(1).integers(0, 2**31 - 1, size=n)

    def pick_for(i: int) -> Callable[[int], np.ndarray]:
        # the frames the dataset decodes for sample (i, seeds[i]): every path decodes the same
        # frames (the cost of a seek depends on where the clip starts within a keyframe interval)
        return lambda total: sample_indices(total, num_frames, stride, ds.sampling, True,
                                            np.random.default_rng(int(seeds[i])), ds.short)

    def raw(i: int) -> None:
        vr = decord.VideoReader(str(videos[i]), num_threads=1)
        vr.get_batch(list(pick_for(i)(len(vr)))).asnumpy()

    def naive(i: int) -> None:  # decode every frame, then index
        vr = decord.VideoReader(str(videos[i]), num_threads=1)
        allf = vr.get_batch(list(range(len(vr)))).asnumpy()
        allf[pick_for(i)(len(allf))]

    # interleaved: each round times every path once, so machine noise hits all of them
    times: dict[str, list[float]] = {k: [] for k in ("raw", "dataset", "naive", "decord", "pyav", "opencv")}
    for _ in range(reps):
        times["raw"].append(time_per_item(raw, n, 1))
        times["dataset"].append(time_per_item(lambda i: ds[(i, int(seeds[i]))], n, 1))
        times["naive"].append(time_per_item(naive, n, 1))
        for b in ("decord", "pyav", "opencv"):
            times[b].append(time_per_item(lambda i, b=b: read_clip(str(videos[i]), pick_for(i), backend=b), n, 1))
    best = {k: min(v) for k, v in times.items()}
    vr0 = decord.VideoReader(str(videos[0]))
    h, w = vr0[0].shape[:2]
    report.add(sec, "setup", f"{n} videos x {len(vr0)} frames {w}x{h} H.264 (keyframe every {GOP}); clips of "
                             f"{num_frames} frames @ stride {stride} -> {image_size} px with the training transforms")
    report.add(sec, "raw decord VideoReader + get_batch (ms/clip)", best["raw"] * 1e3)
    report.add(sec, "project VideoDataset, decord + transforms (ms/clip)", best["dataset"] * 1e3)
    report.add(sec, "naive decode-all then index, decord (ms/clip)", best["naive"] * 1e3)
    for b in ("decord", "pyav", "opencv"):
        report.add(sec, f"read_clip backend={b}, decode only (ms/clip)", best[b] * 1e3)
    clips = [read_clip(str(v), pick_for(i), backend="decord")[0] for i, v in enumerate(videos)]
    report.add(sec, "of which training transforms, on decoded frames (ms/clip)",
               time_per_item(lambda i: tf(clips[i], seed=int(seeds[i])), n, reps) * 1e3)
    # seed 001's heavy recipe (data.aug=gesture_strong: distortion, noise, blur; one albumentations draw per clip),
    # as the LS-ViT loader runs it before its own crop (size=None: no extra resize)

    strong = make_aug("gesture_strong", True, {"size": None})
    report.add(sec, "data.aug=gesture_strong on decoded frames, one draw per clip (ms/clip)",
               time_per_item(lambda i: strong(clips[i], seed=int(seeds[i])), n, reps) * 1e3)
    batch = collate([ds[(i, int(seeds[i]))] for i in range(n)])
    frames, color = batch["inputs"].to(device), batch["color"].to(device)
    report.add(sec, f"then on the device ({device}): colour jitter + normalise (ms/clip)",
               time_per_item(lambda i: synced(to_model_input, frames, color), 3, reps) * 1e3 / n)
    for w in workers:
        dl = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=w, collate_fn=collate,
                                         sampler=Cycle(SeededSampler(n, seed=0), (loader_batches + 1) * 4))
        it = iter(dl)
        next(it)  # the clock starts once the workers are up and the first batch is in
        t0 = time.perf_counter()
        count = sum(len(b["id"]) for b in it)
        report.add(sec, f"DataLoader clips/s, {w} worker(s) (steady state)", count / (time.perf_counter() - t0))
    overhead = best["dataset"] / best["raw"] - 1
    report.checks.append(Check("loader overhead vs raw decord (fraction)", overhead, 0.20, "<=",
                               "includes the random crop + flip to 224 and the jitter draw; the colour pass "
                               "itself runs on the device (timed above)"))
    report.checks.append(Check("project loader speed-up vs naive decode-all (x)", best["naive"] / best["dataset"], 3.0))


def bench_data_path(videos: list[Path], report: PerfReport, size: str = "tiny", device: str = "cpu",
                    workers: int = 2, steps: int = 4) -> None:
    """Does loading keep up? LS-ViT train steps fed by the real loader vs by a batch already on the device.

    Both paths run the same step, including the on-device colour pass; the real one decodes
    the videos in ``workers`` DataLoader processes (pinned memory, persistent workers,
    prefetch 2, as the engine's defaults). ``1 - synthetic / real`` is the fraction of the
    step the accelerator waits for data; ``steps`` should be well above ``2 x workers`` so that
    the prefetched batches cannot hide a slow loader.
    """
    s = dict(SIZES[size])
    frames, image, batch = s.pop("frames"), s.pop("image"), s.pop("batch")
    cuda = torch.device(device).type == "cuda"
    model = build_model(dict(model_name="lsvit_tiny_patch16_224", **s), frames, image).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    ctx = torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=cuda)
    tf = ClipTransform(image, train=True)
    items = [VideoItem(f"v{i}", i % 8, str(p)) for i, p in enumerate(videos)]
    ds = VideoDataset(items, tf, num_frames=frames, frame_stride=2, train=True, backend="auto")
    extra = dict(persistent_workers=True, prefetch_factor=2) if workers > 0 else {}
    dl = torch.utils.data.DataLoader(ds, batch_size=batch, num_workers=workers, collate_fn=collate,
                                     sampler=Cycle(SeededSampler(len(items), seed=0), (steps + 1) * batch),
                                     pin_memory=cuda, **extra)

    def step(b: dict[str, Any]) -> None:
        with ctx:
            train_step(model, opt, to_model_input(b["inputs"], b["color"]), b["label"])

    def on_device(b: dict[str, Any]) -> dict[str, Any]:
        return {k: v.to(device, non_blocking=True) for k, v in b.items() if torch.is_tensor(v)}

    # the synthetic steps run before any worker starts: on a small CPU the workers would compete
    first = on_device(collate([ds[(i % len(ds), i)] for i in range(batch)]))
    step(first)  # warm-up
    synced(lambda: None)
    t0 = time.perf_counter()
    for _ in range(steps):
        step(first)
    synced(lambda: None)
    synthetic = (time.perf_counter() - t0) / steps
    it = iter(dl)
    step(on_device(next(it)))  # workers up, pipeline full
    synced(lambda: None)
    t0 = time.perf_counter()
    for b in it:
        step(on_device(b))
    synced(lambda: None)
    real = (time.perf_counter() - t0) / steps
    sec = f"f. data path under training ({size} LS-ViT, {frames}x{image}, batch {batch}, {workers} workers)"
    report.add(sec, "step with the batch already on the device (ms)", synthetic * 1e3)
    report.add(sec, "step fed by the real loader (ms)", real * 1e3)
    idle = idle_fraction(synthetic, real)
    report.add(sec, "idle fraction waiting for data (1 - synthetic / real)", idle)
    if cuda:
        report.checks.append(Check("GPU idle fraction waiting for data", idle, 0.10, "<=",
                                   f"{workers} loader workers"))
