"""b. train-step throughput of LS-ViT, the frame-average control and TimeSformer; FLOPs; MFU; module costs.

Every model gets the same synthetic batch, optimizer (fused AdamW, the engine's default) and number of
timed steps, after warm-up; the measurements interleave the models round by round so that a
slow-down of the machine hits all of them alike.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import timm
import torch

from lsvit.families.clips.bench import DEMO_MODEL
from lsvit.perf import Check, PerfReport, synced, train_step, training_mfu


@dataclass
class StepResult:
    """Throughput of one model."""

    name: str
    clips_per_s: float
    step_ms: float
    params_m: float


def compare_train_steps(models: dict[str, dict[str, Any] | Callable[[], torch.nn.Module]], batch_size: int = 8,
                        num_frames: int = 8, image_size: int = 64, steps: int = 10, warmup: int = 3,
                        rounds: int = 3, num_classes: int = 8, seed: int = 0, device: str = "cpu",
                        amp: bool = False, compile: bool = False,
                        channels_last: bool | set[str] = False) -> list[StepResult]:
    """Time forward + backward + fused AdamW step of several models on one batch.

    Args:
        models: label -> ``timm.create_model`` keyword arguments (including ``model_name``), or a
            zero-argument builder (e.g. a Hugging Face model wrapped to return logits).
        batch_size: clips per step.
        num_frames: T.
        image_size: square frame side.
        steps: timed steps per round and model.
        warmup: untimed steps per model first.
        rounds: interleaved measurement rounds; the best round counts (least disturbed).
        num_classes: classifier size.
        seed: input seed.
        device: where the models run (on CUDA the timing synchronises after each round).
        amp: bf16 autocast (as ``engine.mixed_precision=bf16``).
        compile: ``torch.compile`` every model (as ``engine.compile=true``); compilation happens
            in the warm-up and is not timed.
        channels_last: hand the models (all, or the labels in a set) frames in channels-last
            memory order (``(B, T, C, H, W)`` with C innermost, as decoded frames are laid out).

    Returns:
        One result per model, in the given order.
    """
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch_size, num_frames, 3, image_size, image_size, generator=g).to(device)
    wanted = set(models) if channels_last is True else (channels_last or set())
    x_cl = x.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3) if wanted else x
    inputs = {label: x_cl if label in wanted else x for label in models}
    y = torch.randint(0, num_classes, (batch_size,), generator=g).to(device)
    ctx = torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=amp)
    built = {}
    for label, kw in models.items():
        if callable(kw):
            m = kw()
        else:
            kw = dict(kw)
            m = timm.create_model(kw.pop("model_name"), num_classes=num_classes, num_frames=num_frames,
                                  img_size=image_size, **kw)
        m = m.to(device)
        opt = torch.optim.AdamW(m.parameters(), lr=1e-4, fused=True)  # the engine's default
        if compile:
            m = torch.compile(m)
        with ctx:
            for _ in range(warmup):
                train_step(m, opt, inputs[label], y)
        built[label] = (m, opt)
    best = {label: float("inf") for label in built}
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    for _ in range(rounds):
        for label, (m, opt) in built.items():
            sync()
            t0 = time.perf_counter()
            with ctx:
                for _ in range(steps):
                    train_step(m, opt, inputs[label], y)
            sync()
            best[label] = min(best[label], (time.perf_counter() - t0) / steps)
    return [StepResult(label, batch_size / best[label], best[label] * 1e3,
                       sum(p.numel() for p in built[label][0].parameters()) / 1e6) for label in built]


SIZES = {
    # the `demo` preset's model (configs/experiment/demo.yaml), the control with the same arguments
    "demo": DEMO_MODEL,
    # the test suite's seconds-long run (--size smoke): every figure and check of the section, nothing measured
    "smoke": dict(embed_dim=32, depth=2, num_heads=2, patch_size=8, global_pool="avg", smif_window=3, smif_stride=2,
                  smif="channels", smif_channels=8, frames=4, image=32, batch=4),
    "tiny": dict(embed_dim=192, depth=12, num_heads=3, patch_size=16, frames=8, image=224, batch=2),
    "small": dict(embed_dim=384, depth=12, num_heads=6, patch_size=16, frames=8, image=224, batch=2),
    "base16": dict(embed_dim=768, depth=12, num_heads=12, patch_size=16, frames=16, image=224, batch=8),
}


MFU_CHECK = "LS-ViT-B 16x224 training MFU"


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


# LS-ViT (its default variant) / control train-step throughput each size must reach (issue 28); every variant's
# row is held to the same bar, so that the table says which variants fit the budget of a plain ViT
CONTROL_TARGETS = {"demo": 0.85, "tiny": 0.92, "small": 0.95, "base16": 0.95, "smoke": 0.85}
TIMESFORMER_TARGET = 1.5


def variants_of(dims: dict[str, Any], modules: tuple[str, ...] = ("smif", "lmi")) -> dict[str, dict[str, Any]]:
    """The LS-ViT variants beside a size's default, each one change away from it: label -> keyword overrides.

    Every SMIF form the default does not use (with the default LMI), every LMI form but attention (with the
    default SMIF), and the seed's placement (``lmi_blocks=encoder``) for both LMI forms; ``modules`` picks
    the SMIF ones, the LMI ones or both.
    """
    default_smif = str(dims.get("smif", "pixels"))
    out: dict[str, dict[str, Any]] = {}
    for form in ("pixels", "channels", "difference", "none"):
        if form != default_smif and "smif" in modules:
            maps = dims.get("smif_channels") if form == "channels" else None
            out[f"smif={form}"] = dict(smif=form, smif_channels=maps)
    if "lmi" not in modules:
        return out
    out["lmi=excitation"] = dict(lmi="excitation")
    out["lmi=none"] = dict(lmi="none")
    out["lmi_blocks=encoder"] = dict(lmi_blocks="encoder")
    out["lmi=excitation, lmi_blocks=encoder"] = dict(lmi="excitation", lmi_blocks="encoder")
    return out


def bench_models(report: PerfReport, sizes: list[str], steps: int = 3, rounds: int = 2,
                 peak_flops: float | None = None, device: str = "cpu", compile: bool = False,
                 variant_sizes: dict[str, tuple[str, ...]] | None = None) -> None:
    """Train-step clips/s of LS-ViT, the frame-average control and TimeSformer at the same dims; FLOPs; MFU.

    On CUDA the step runs under bf16 autocast (the engine's ``mixed_precision=auto`` there);
    on CPU in fp32 (likewise). ``compile`` compiles all three models (``engine.compile=true``).
    At the sizes in ``variant_sizes`` (size -> the modules whose variants to time, ``("smif", "lmi")``) the
    LS-ViT variants of :func:`variants_of` are timed in the same interleaved rounds, each a row and a check
    against the size's control target.
    """
    amp = torch.device(device).type == "cuda"
    how = (" bf16" if amp else " fp32") + (", torch.compile" if compile else "")
    for size in sizes:
        s = dict(SIZES[size])
        frames, image, batch = s.pop("frames"), s.pop("image"), s.pop("batch")
        tag = f"{size}{', compiled' if compile else ''}"
        target = CONTROL_TARGETS.get(size, 0.85)
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
        variants = variants_of(s, variant_sizes[size]) if size in (variant_sizes or {}) and not compile else {}
        timed = dict(models, **{f"lsvit[{v}]": dict(models["lsvit"], **kw) for v, kw in variants.items()})
        _load(report, sec, "start")
        res = {r.name: r for r in compare_train_steps(timed, batch, frames, image, steps, warmup=1, rounds=rounds,
                                                      device=device, amp=amp, compile=compile)}
        _load(report, sec, "end")
        for name, r in res.items():
            report.add(sec, f"{name} clips/s ({r.params_m:.1f} M params)", r.clips_per_s)
        x = torch.randn(1, frames, 3, image, image, device=device)
        flops = {}
        for name, kw in models.items():
            m = build_model(kw, frames, image).to(device)
            f = flops[name] = flops_per_clip(m, x)
            report.add(sec, f"{name} forward GFLOPs/clip", f / 1e9)
            if peak_flops and name in res:
                mfu = training_mfu(f, res[name].clips_per_s, peak_flops)
                report.add(sec, f"{name} training MFU", mfu)
                if name == "lsvit" and size == "base16":
                    report.checks.append(Check(f"{MFU_CHECK} ({how.strip()})", mfu, 0.40,
                                               note="" if amp else "not bf16: the target is for bf16 on a GPU"))
        ratio = res["lsvit"].clips_per_s / res["vit_frame_avg"].clips_per_s
        base_ms = res["vit_frame_avg"].step_ms
        why = f"forward FLOPs +{flops['lsvit'] / flops['vit_frame_avg'] - 1:.0%}"
        if not compile:  # where LS-ViT's extra time goes, module by module (isolated: less noise than ablations)
            costs = temporal_module_costs(build_model(models["lsvit"], frames, image).to(device), batch, frames, image,
                                          device, amp, reps=2)
            for module, ms in costs.items():
                report.add(sec, f"{module} forward + backward, all modules (ms/step)", ms)
            why += "; " + ", ".join(f"{m} {ms / base_ms:.0%}" for m, ms in costs.items()) + " of the control's step"
        report.checks.append(Check(f"[{tag}] LS-ViT / vit_frame_avg throughput (x)", ratio, target, note=why))
        for v in variants:
            r = res[f"lsvit[{v}]"]
            report.checks.append(Check(f"[{tag}] variant {v} / vit_frame_avg (x)",
                                       r.clips_per_s / res["vit_frame_avg"].clips_per_s, target,
                                       note=f"{(r.params_m - res['vit_frame_avg'].params_m) * 1e3:+.0f} k parameters"))
        if first:
            bench_channels_last(report, {k: models[k] for k in ("lsvit", "vit_frame_avg")}, s, frames, image, batch,
                                steps, rounds, device, amp)
        if "timesformer" in res:
            flop_ratio = flops["timesformer"] / flops["lsvit"]
            # throughput ratio = FLOP ratio x (LS-ViT's FLOP/s / TimeSformer's FLOP/s)
            eff = res["lsvit"].clips_per_s * flops["lsvit"] / (res["timesformer"].clips_per_s * flops["timesformer"])
            ctrl = res["vit_frame_avg"].clips_per_s / res["timesformer"].clips_per_s
            report.checks.append(Check(
                f"[{tag}] LS-ViT / TimeSformer throughput (x)",
                res["lsvit"].clips_per_s / res["timesformer"].clips_per_s, TIMESFORMER_TARGET,
                note=f"TimeSformer has {flop_ratio:.2f}x LS-ViT's forward FLOPs; LS-ViT runs at {eff:.2f}x its "
                     f"FLOP/s ({TIMESFORMER_TARGET}x needs {TIMESFORMER_TARGET / flop_ratio:.2f}x); the control "
                     f"alone is {ctrl:.2f}x TimeSformer"))


def _load(report: PerfReport, sec: str, when: str) -> None:
    """The 1-minute load average beside the train steps: on a shared machine it says how far to trust them."""
    if hasattr(os, "getloadavg"):
        report.add(sec, f"load average (1 min, {os.cpu_count()} cores) at the {when} of the steps", os.getloadavg()[0])


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
            synced(lambda: None)
            t0 = time.perf_counter()
            with ctx:
                out = fn()
            synced(out.backward, grad.to(out.dtype))
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


def build_model(kw: Any, frames: int, image: int) -> torch.nn.Module:
    import timm

    if callable(kw):
        return kw()
    kw = dict(kw)
    return timm.create_model(kw.pop("model_name"), num_classes=8, num_frames=frames, img_size=image, **kw)
