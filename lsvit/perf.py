"""Performance figures measured side by side: the data path, the models, inference.

Each section compares the project's path with a reference *in the same run* (interleaved
where it matters), prints absolute numbers with the device, and checks the targets of
the performance issue (PASS/FAIL with the reason). ``tools/benchmark.py`` is the entry point.
"""

from __future__ import annotations

import platform
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import lsvit.models  # noqa: F401  (registers the model families)
from lsvit.benchmark import compare_train_steps, train_step


@dataclass
class Check:
    """One target: ``value`` against ``target`` (``>=`` or ``<=``)."""

    name: str
    value: float | None
    target: float
    op: str = ">="
    note: str = ""

    @property
    def status(self) -> str:
        """PASS, FAIL, or N/A when it could not be measured here."""
        if self.value is None:
            return "N/A"
        ok = self.value >= self.target if self.op == ">=" else self.value <= self.target
        return "PASS" if ok else "FAIL"


@dataclass
class PerfReport:
    """Every figure (section -> name -> value) and every check."""

    device: str
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, section: str, name: str, value: Any) -> None:
        """Record one figure."""
        self.figures.setdefault(section, {})[name] = value

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return {"device": self.device, "figures": self.figures, "notes": self.notes,
                "checks": [dict(asdict(c), status=c.status) for c in self.checks]}

    def text(self) -> str:
        """The printed table."""
        lines = [f"device: {self.device}"]
        for section, figs in self.figures.items():
            lines.append(f"\n[{section}]")
            for k, v in figs.items():
                lines.append(f"  {k:58s} {v:10.3f}" if isinstance(v, float) else f"  {k:58s} {v}")
        lines.append("\n[targets]")
        for c in self.checks:
            val = "-" if c.value is None else f"{c.value:.3f}"
            lines.append(f"  {c.status:4s}  {c.name:52s} {val:>8s} (target {c.op} {c.target}){'  ' + c.note if c.note else ''}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def device_name() -> str:
    """The CPU (and GPU) this runs on, in words."""
    cpu = f"{platform.machine()} CPU ({torch.get_num_threads()} threads)"
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} + {cpu}"
    return cpu


# ------------------------------------------------------------------------------------------ a. loading
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


def _time_per_item(fn: Callable[[int], Any], n: int, reps: int) -> float:
    """Best-of-``reps`` mean seconds per call of ``fn(i)`` over ``i < n``."""
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        for i in range(n):
            fn(i)
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def bench_loading(videos: list[Path], report: PerfReport, num_frames: int = 16, stride: int = 2,
                  image_size: int = 224, reps: int = 3, workers: tuple[int, ...] = (0, 1, 2),
                  loader_batches: int = 6, device: str = "cpu") -> None:
    """Clip loading: the project's dataset vs raw decord ``get_batch`` vs decode-all, per backend; DataLoader.

    The dataset hands over uint8 clips and their colour maps; the colour jitter and the
    normalisation run on ``device`` in the training step, timed here on their own.
    """
    import decord

    from lsvit.data.dataset import SeededSampler, VideoDataset, collate
    from lsvit.data.discovery import VideoItem
    from lsvit.data.readers import read_clip
    from lsvit.data.sampling import sample_indices
    from lsvit.data.transforms import ClipTransform, to_model_input

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
        times["raw"].append(_time_per_item(raw, n, 1))
        times["dataset"].append(_time_per_item(lambda i: ds[(i, int(seeds[i]))], n, 1))
        times["naive"].append(_time_per_item(naive, n, 1))
        for b in ("decord", "pyav", "opencv"):
            times[b].append(_time_per_item(lambda i, b=b: read_clip(str(videos[i]), pick_for(i), backend=b), n, 1))
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
               _time_per_item(lambda i: tf(clips[i], seed=int(seeds[i])), n, reps) * 1e3)
    batch = collate([ds[(i, int(seeds[i]))] for i in range(n)])
    frames, color = batch["inputs"].to(device), batch["color"].to(device)
    report.add(sec, f"then on the device ({device}): colour jitter + normalise (ms/clip)",
               _time_per_item(lambda i: _synced(to_model_input, frames, color), 3, reps) * 1e3 / n)
    for w in workers:
        dl = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=w, collate_fn=collate,
                                         sampler=_Cycle(SeededSampler(n, seed=0), (loader_batches + 1) * 4))
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


def _synced(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, waiting for the GPU so that its time is counted."""
    out = fn(*args)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out


class _Cycle(torch.utils.data.Sampler):
    """``length`` keys from a seeded sampler, cycling over epochs."""

    def __init__(self, inner: Any, length: int) -> None:
        self.inner, self.length = inner, length

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[Any]:
        epoch, given = 0, 0
        while given < self.length:
            self.inner.set_epoch(epoch)
            for key in self.inner:
                if given == self.length:
                    return
                given += 1
                yield key
            epoch += 1


# ------------------------------------------------------------------------------------------ b/c. models
SIZES = {
    "demo": dict(embed_dim=96, depth=4, num_heads=3, patch_size=8, frames=8, image=64, batch=8),
    "tiny": dict(embed_dim=192, depth=12, num_heads=3, patch_size=16, frames=8, image=224, batch=2),
    "small": dict(embed_dim=384, depth=12, num_heads=6, patch_size=16, frames=8, image=224, batch=2),
    "base16": dict(embed_dim=768, depth=12, num_heads=12, patch_size=16, frames=16, image=224, batch=8),
}


_MFU_CHECK = "LS-ViT-B 16x224 training MFU"


def timesformer_builder(dims: dict[str, Any], num_frames: int, image_size: int, num_classes: int
                        ) -> Callable[[], torch.nn.Module] | None:
    """Hugging Face TimeSformer (divided space-time attention, random init) at the same dims, or None."""
    try:
        from transformers import TimesformerConfig, TimesformerForVideoClassification
    except Exception:
        return None

    class _Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            cfg = TimesformerConfig(image_size=image_size, patch_size=dims["patch_size"], num_frames=num_frames,
                                    hidden_size=dims["embed_dim"], num_hidden_layers=dims["depth"],
                                    num_attention_heads=dims["num_heads"], intermediate_size=4 * dims["embed_dim"],
                                    num_labels=num_classes, attention_type="divided_space_time")
            self.net = TimesformerForVideoClassification(cfg)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(pixel_values=x).logits

    return _Logits


def flops_per_clip(model: torch.nn.Module, x: torch.Tensor) -> float:
    """Forward FLOPs per clip (``torch.utils.flop_counter``; a training step is about 3x)."""
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    model.train()
    return counter.get_total_flops() / x.shape[0]


def bench_models(report: PerfReport, sizes: list[str], steps: int = 3, rounds: int = 2,
                 peak_flops: float | None = None, device: str = "cpu", compile: bool = False) -> None:
    """Train-step clips/s of LS-ViT, the frame-average control and TimeSformer at the same dims; FLOPs; MFU.

    On CUDA the step runs under bf16 autocast (the engine's ``mixed_precision=auto`` there);
    on CPU in fp32 (likewise). ``compile`` compiles all three models (``engine.compile=true``).
    """
    amp = torch.device(device).type == "cuda"
    how = (" bf16" if amp else " fp32") + (", torch.compile" if compile else "")
    for size in sizes:
        s = dict(SIZES[size])
        frames, image, batch = s.pop("frames"), s.pop("image"), s.pop("batch")
        tag = f"{size}{', compiled' if compile else ''}"
        sec = (f"b. train step{how}, {size}: dim {s['embed_dim']}, depth {s['depth']}, {frames}x{image}, "
               f"batch {batch}")
        models: dict[str, Any] = {"lsvit": dict(model_name="lsvit_tiny_patch16_224", **s),
                                  "vit_frame_avg": dict(model_name="lsvit_frameavg_tiny_patch16_224", **s)}
        first = size == sizes[0] and not compile
        tsf = timesformer_builder(s, frames, image, 8)
        if tsf is not None:
            models["timesformer"] = tsf
        else:
            report.notes.append("TimeSformer not measured: install the benchmark extra (pip install -e .[bench])")
        res = {r.name: r for r in compare_train_steps(models, batch, frames, image, steps, warmup=1, rounds=rounds,
                                                      device=device, amp=amp, compile=compile)}
        for name, r in res.items():
            report.add(sec, f"{name} clips/s ({r.params_m:.1f} M params)", r.clips_per_s)
        x = torch.randn(1, frames, 3, image, image, device=device)
        flops = {}
        for name, kw in models.items():
            m = _build(kw, frames, image).to(device)
            f = flops[name] = flops_per_clip(m, x)
            report.add(sec, f"{name} forward GFLOPs/clip", f / 1e9)
            if peak_flops and name in res:
                mfu = 3 * f * res[name].clips_per_s / peak_flops
                report.add(sec, f"{name} training MFU", mfu)
                if name == "lsvit" and size == "base16":
                    report.checks.append(Check(f"{_MFU_CHECK} ({how.strip()})", mfu, 0.40,
                                               note="" if amp else "not bf16: the target is for bf16 on a GPU"))
        ratio = res["lsvit"].clips_per_s / res["vit_frame_avg"].clips_per_s
        base_ms = res["vit_frame_avg"].step_ms
        why = f"forward FLOPs +{flops['lsvit'] / flops['vit_frame_avg'] - 1:.0%}"
        if not compile:  # where LS-ViT's extra time goes, module by module (isolated: less noise than ablations)
            costs = temporal_module_costs(_build(models["lsvit"], frames, image).to(device), batch, frames, image,
                                          device, amp, reps=2 if size == "demo" else 3)
            for module, ms in costs.items():
                report.add(sec, f"{module} forward + backward, all modules (ms/step)", ms)
            why += "; " + ", ".join(f"{m} {ms / base_ms:.0%}" for m, ms in costs.items()) + " of the control's step"
        report.checks.append(Check(f"[{tag}] LS-ViT / vit_frame_avg throughput (x)", ratio, 0.85, note=why))
        if first:
            bench_channels_last(report, {k: models[k] for k in ("lsvit", "vit_frame_avg")}, s, frames, image, batch,
                                steps, rounds, device, amp)
        if "timesformer" in res:
            flop_ratio = flops["timesformer"] / flops["lsvit"]
            # throughput ratio = FLOP ratio x (LS-ViT's FLOP/s / TimeSformer's FLOP/s)
            eff = res["lsvit"].clips_per_s * flops["lsvit"] / (res["timesformer"].clips_per_s * flops["timesformer"])
            report.checks.append(Check(
                f"[{tag}] LS-ViT / TimeSformer throughput (x)", res["lsvit"].clips_per_s / res["timesformer"].clips_per_s,
                1.5, note=f"TimeSformer has {flop_ratio:.2f}x LS-ViT's forward FLOPs; LS-ViT runs at {eff:.2f}x its "
                          f"FLOP/s (1.5x needs {1.5 / flop_ratio:.2f}x)"))


def temporal_module_costs(model: torch.nn.Module, batch: int, frames: int, image: int, device: str = "cpu",
                          amp: bool = False, reps: int = 3) -> dict[str, float]:
    """Forward + backward time (ms per train step) of LS-ViT's SMIF and of all its LMI modules, each isolated.

    SMIF: the motion-fused patch embedding minus the plain patch embedding, on a clip batch that
    needs no gradient (as in training). LMI: each module on a token tensor that does (as inside
    the network), summed over the modules. Every call gets an incoming gradient as it would
    from the layer above; the best of ``reps`` rounds counts, as in :func:`compare_train_steps`.
    """
    model.train()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, frames, 3, image, image, generator=g).to(device)
    with torch.no_grad():
        tokens = model.embed_frames(x)
    grad = torch.randn(tokens.shape, generator=g).to(device)
    tokens.requires_grad_(True)
    ctx = torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=amp)

    def timed(fn: Callable[[], torch.Tensor]) -> float:
        best = float("inf")
        for _ in range(reps + 1):  # the first round warms up
            model.zero_grad(set_to_none=True)
            tokens.grad = None
            _synced(lambda: None)
            t0 = time.perf_counter()
            with ctx:
                out = fn()
            _synced(out.backward, grad.to(out.dtype))
            best = min(best, time.perf_counter() - t0)
        return best * 1e3

    costs = {}
    if model.smif is not None:
        costs["SMIF"] = max(0.0, timed(lambda: model.embed_frames(x))
                            - timed(lambda: model.patch_embed(x.flatten(0, 1))))
    if len(model.lmi):
        costs["LMI"] = sum(timed(lambda m=m: m(tokens, frames)) for m in model.lmi.values())
    return costs


def bench_channels_last(report: PerfReport, models: dict[str, Any], dims: dict[str, Any], frames: int, image: int,
                        batch: int, steps: int, rounds: int, device: str, amp: bool) -> None:
    """Is channels-last input memory worth it? The same models fed NCHW and NHWC-ordered frames, interleaved."""
    pair = {}
    for name in ("lsvit", "vit_frame_avg"):
        pair[name] = pair[f"{name} channels-last"] = models[name]
    res = {r.name: r for r in compare_train_steps(pair, batch, frames, image, steps, warmup=1, rounds=rounds,
                                                  device=device, amp=amp,
                                                  channels_last={f"{n} channels-last" for n in models})}
    sec = f"b2. channels-last input, dim {dims['embed_dim']}, {frames}x{image}, batch {batch}"
    for name in ("lsvit", "vit_frame_avg"):
        report.add(sec, f"{name}: channels-last / contiguous clips/s (x)",
                   res[f"{name} channels-last"].clips_per_s / res[name].clips_per_s)


def bench_data_path(videos: list[Path], report: PerfReport, size: str = "tiny", device: str = "cpu",
                    workers: int = 2, steps: int = 4) -> None:
    """Does loading keep up? LS-ViT train steps fed by the real loader vs by a batch already on the device.

    Both paths run the same step, including the on-device colour pass; the real one decodes
    the videos in ``workers`` DataLoader processes (pinned memory, persistent workers,
    prefetch 2, as the engine's defaults). ``1 - synthetic / real`` is the fraction of the
    step the accelerator waits for data; ``steps`` should be well above ``2 x workers`` so that
    the prefetched batches cannot hide a slow loader.
    """
    from lsvit.data.dataset import SeededSampler, VideoDataset, collate
    from lsvit.data.discovery import VideoItem
    from lsvit.data.transforms import ClipTransform, to_model_input

    s = dict(SIZES[size])
    frames, image, batch = s.pop("frames"), s.pop("image"), s.pop("batch")
    cuda = torch.device(device).type == "cuda"
    model = _build(dict(model_name="lsvit_tiny_patch16_224", **s), frames, image).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    ctx = torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=cuda)
    tf = ClipTransform(image, train=True)
    items = [VideoItem(f"v{i}", i % 8, str(p)) for i, p in enumerate(videos)]
    ds = VideoDataset(items, tf, num_frames=frames, frame_stride=2, train=True, backend="auto")
    extra = dict(persistent_workers=True, prefetch_factor=2) if workers > 0 else {}
    dl = torch.utils.data.DataLoader(ds, batch_size=batch, num_workers=workers, collate_fn=collate,
                                     sampler=_Cycle(SeededSampler(len(items), seed=0), (steps + 1) * batch),
                                     pin_memory=cuda, **extra)

    def step(b: dict[str, Any]) -> None:
        with ctx:
            train_step(model, opt, to_model_input(b["inputs"], b["color"]), b["label"])

    def on_device(b: dict[str, Any]) -> dict[str, Any]:
        return {k: v.to(device, non_blocking=True) for k, v in b.items() if torch.is_tensor(v)}

    # the synthetic steps run before any worker starts: on a small CPU the workers would compete
    first = on_device(collate([ds[(i % len(ds), i)] for i in range(batch)]))
    step(first)  # warm-up
    _synced(lambda: None)
    t0 = time.perf_counter()
    for _ in range(steps):
        step(first)
    _synced(lambda: None)
    synthetic = (time.perf_counter() - t0) / steps
    it = iter(dl)
    step(on_device(next(it)))  # workers up, pipeline full
    _synced(lambda: None)
    t0 = time.perf_counter()
    for b in it:
        step(on_device(b))
    _synced(lambda: None)
    real = (time.perf_counter() - t0) / steps
    sec = f"f. data path under training ({size} LS-ViT, {frames}x{image}, batch {batch}, {workers} workers)"
    report.add(sec, "step with the batch already on the device (ms)", synthetic * 1e3)
    report.add(sec, "step fed by the real loader (ms)", real * 1e3)
    idle = max(0.0, 1 - synthetic / real)
    report.add(sec, "idle fraction waiting for data (1 - synthetic / real)", idle)
    if cuda:
        report.checks.append(Check("GPU idle fraction waiting for data", idle, 0.10, "<=",
                                   f"{workers} loader workers"))


def _build(kw: Any, frames: int, image: int) -> torch.nn.Module:
    import timm

    if callable(kw):
        return kw()
    kw = dict(kw)
    return timm.create_model(kw.pop("model_name"), num_classes=8, num_frames=frames, img_size=image, **kw)


# ------------------------------------------------------------------------------------------ d/e
def bench_inference(videos: list[Path], report: PerfReport, size: str = "demo", batch_size: int = 4) -> None:
    """End-to-end ``run_inference`` (decode + model + submission.csv), videos/s, with a random-init checkpoint."""
    import contextlib
    import io

    from lsvit.engine.checkpoint import save_best
    from lsvit.inference import run_inference

    s = dict(SIZES[size])
    frames, image = s.pop("frames"), s.pop("image")
    s.pop("batch")
    model_cfg = {"_target_": "timm.create_model", "model_name": "lsvit_tiny_patch16_224", "num_frames": frames,
                 "img_size": image, "pretrained": False, **s}
    with tempfile.TemporaryDirectory() as tmp:
        model = _build({"model_name": "lsvit_tiny_patch16_224", **s}, frames, image)
        meta = {"model": model_cfg, "class_names": [f"c{i}" for i in range(8)],
                "data": {"type": "video", "num_frames": frames, "frame_stride": 2, "sampling": "dense",
                         "short": "loop", "image_size": image, "mean": [0.5] * 3, "std": [0.25] * 3,
                         "backend": "auto"}}
        save_best(Path(tmp) / "best", model, meta)
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            run_inference(str(Path(tmp) / "best"), str(videos[0].parent), str(Path(tmp) / "submission.csv"),
                          batch_size=batch_size)
        dt = time.perf_counter() - t0
    report.add(f"e. end-to-end inference ({size} model, {frames}x{image})",
               f"videos/s over {len(videos)} x 300-frame videos, writing submission.csv", len(videos) / dt)


def run_benchmark(size: str = "default", out_json: str | Path | None = None, device: str = "cpu",
                  peak_tflops: float | None = None, compile: bool = False, workers: int | None = None) -> PerfReport:
    """Every section at one size preset.

    Args:
        size: ``smoke`` (seconds: tiny inputs and the demo model, for the test suite), ``default``
            (CPU, <= 5 min: ViT-Ti and ViT-S sized models at 8x224, 4 videos) or ``gpu`` (adds
            ViT-B 16x224 and MFU).
        out_json: where to write the JSON.
        device: where the models run.
        peak_tflops: the device's dense bf16 peak, for MFU.
        compile: also time the train steps with ``torch.compile`` (ViT-Ti size; compiling
            costs minutes on a CPU, so it is not in the default run).
        workers: DataLoader workers for the data-path section (default: the CPU count, at most 8).
    """
    import json

    report = PerfReport(device_name())
    with tempfile.TemporaryDirectory() as tmp:
        smoke = size == "smoke"
        videos = make_videos(Path(tmp) / "videos", count=2 if smoke else 4, frames=60 if smoke else 300,
                             width=160 if smoke else 320, height=120 if smoke else 240)
        bench_loading(videos, report, num_frames=8 if smoke else 16, image_size=64 if smoke else 224,
                      reps=1 if smoke else 5, workers=(0, 1) if smoke else (0, 1, 2),
                      loader_batches=2 if smoke else 6, device=device)
        sizes = ["demo"] if smoke else ["tiny", "small"] + (["base16"] if size == "gpu" else [])
        peak = peak_tflops * 1e12 if peak_tflops else None
        bench_models(report, sizes, steps=1 if smoke else 2, rounds=1 if smoke else 4, peak_flops=peak, device=device)
        if compile:
            bench_models(report, [sizes[0]], steps=1 if smoke else 2, rounds=1 if smoke else 4, peak_flops=peak,
                         device=device, compile=True)
        import os

        n_workers = workers if workers is not None else min(8, os.cpu_count() or 1)
        bench_data_path(videos, report, "demo" if smoke else ("base16" if size == "gpu" else "tiny"), device,
                        workers=min(n_workers, 1) if smoke else n_workers,
                        steps=2 if smoke else (48 if size == "gpu" else 6))
        report.add("d. feature cache and keypoints", "HDF5 embedding cache vs recomputing",
                   "not there yet (the frame-embedding BiLSTM family has not landed)")
        report.add("d. feature cache and keypoints", "keypoint LSTM window latency",
                   "not there yet (the keypoint LSTM family has not landed)")
        bench_inference(videos, report)
    if not any(c.name.startswith(_MFU_CHECK) for c in report.checks):
        report.checks.append(Check(f"{_MFU_CHECK} (bf16, GPU)", None, 0.40, ">=",
                                   "no GPU on this machine" if not torch.cuda.is_available() else "run --size gpu"))
    if out_json:
        Path(out_json).parent.mkdir(parents=True, exist_ok=True)
        Path(out_json).write_text(json.dumps(report.to_json(), indent=2))
    return report


__all__ = ["Check", "PerfReport", "bench_data_path", "bench_inference", "bench_loading", "bench_models",
           "flops_per_clip", "make_videos", "run_benchmark", "temporal_module_costs"]
