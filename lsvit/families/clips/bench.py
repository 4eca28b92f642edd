"""The clips family's part of the benchmark: LS-ViT and its control as deployment cases.

Their training cost has its own section (:mod:`lsvit.bench.models`), which times them beside TimeSformer.
"""

from __future__ import annotations

import timm
import torch

from lsvit.perf import DeployCase

# the `demo` preset's model (configs/experiment/demo.yaml): the benchmark's "demo" size
DEMO_MODEL = dict(embed_dim=96, depth=4, num_heads=3, patch_size=8, global_pool="avg", smif_window=3, smif_stride=2,
                  smif="channels", smif_channels=16, frames=8, image=64, batch=16)
SMOKE_MODEL = dict(DEMO_MODEL, embed_dim=32, depth=2, num_heads=2, frames=4, image=32, batch=2, smif_window=3)


def lsvit_case(label: str, model_name: str, smoke: bool) -> DeployCase:
    """LS-ViT (or its control) at the demo's dims (tiny under ``smoke``), its temporal branches given weights."""
    s = dict(SMOKE_MODEL if smoke else DEMO_MODEL)
    frames, image, batch = s.pop("frames"), s.pop("image"), s.pop("batch")
    model = timm.create_model(model_name, num_classes=8, num_frames=frames, img_size=image, **s).eval()
    with torch.no_grad():  # the temporal branches start as exact zeros: give them weights, as training would
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())) * 0.02)
    x = torch.randn(batch, frames, 3, image, image, generator=torch.Generator().manual_seed(0))
    return DeployCase(label, model, x, "clips", f"dim {s['embed_dim']}, depth {s['depth']}, {frames}x{image}, "
                                                f"batch {batch}")


def deploy_cases(smoke: bool) -> list[DeployCase]:
    """LS-ViT and the frame-average control, as ``make demo`` trains them."""
    return [lsvit_case("lsvit", "lsvit_tiny_patch16_224", smoke),
            lsvit_case("vit_frame_avg", "lsvit_frameavg_tiny_patch16_224", smoke)]
