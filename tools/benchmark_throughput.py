"""LS-ViT vs the frame-averaging control: train-step throughput, side by side.

`python tools/benchmark_throughput.py [--size demo|tiny] [--batch 8] [--steps 10] [--json out.json]`
Prints clips/s of each model and the ratio, with PASS/FAIL against the target (LS-ViT >= 0.85x control).
"""

import argparse
import json
import platform

import torch

from lsvit.benchmark import compare_train_steps

SIZES = {  # the demo's model (configs/experiment/demo.yaml) and ViT-Ti/16 at 8 x 224
    "demo": dict(dims=dict(patch_size=8, embed_dim=96, depth=4, num_heads=3, smif_window=3), frames=8, image=64),
    "tiny": dict(dims=dict(), frames=8, image=224),
}

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=sorted(SIZES), default="demo")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--target", type=float, default=0.85)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    s = SIZES[a.size]
    base = "tiny_patch16_224"
    res = compare_train_steps({"lsvit": dict(model_name=f"lsvit_{base}", **s["dims"]),
                               "vit_frame_avg": dict(model_name=f"lsvit_frameavg_{base}", **s["dims"])},
                              a.batch, s["frames"], s["image"], a.steps, rounds=a.rounds)
    device = f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    print(f"train step (fwd+bwd+AdamW), size={a.size}, batch {a.batch} x {s['frames']} frames x {s['image']} px, {device}")
    for r in res:
        print(f"  {r.name:14s} {r.clips_per_s:8.2f} clips/s  {r.step_ms:8.1f} ms/step  {r.params_m:6.2f} M params")
    ratio = res[0].clips_per_s / res[1].clips_per_s
    print(f"LS-ViT / vit_frame_avg throughput: {ratio:.3f}x  (target >= {a.target}x): {'PASS' if ratio >= a.target else 'FAIL'}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"size": a.size, "device": device, "ratio": ratio, "results": [r.__dict__ for r in res]}, f, indent=2)
