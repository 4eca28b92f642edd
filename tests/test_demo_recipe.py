"""The demo's recipe learns motion: a guard for `make demo` against changes that would stop it learning.

A miniature of the built-in dataset (two reversal pairs, 32 px) trained by the engine with the `demo`
preset itself (only the sizes shrunk): LS-ViT must get well above what the frame-averaging control,
trained the same way, can reach at all.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lsvit.config import compose
from lsvit.data.synthetic import draw_key, render_video, write_video
from lsvit.engine import train
from lsvit.pairs import run_pair_summary

PAIRS = (("move_left", "move_right"), ("rotate_cw", "rotate_ccw"))


def _mini_dataset(root: Path, train_per_class: int = 24, test_per_class: int = 6) -> Path:
    """Both classes of a pair from the same random draws (video i of one is video i of the other reversed)."""
    for split, count, offset in (("train", train_per_class, 0), ("test", test_per_class, 10**6)):
        for pair in PAIRS:
            for cls in pair:
                (root / split / cls).mkdir(parents=True, exist_ok=True)
                for i in range(count):
                    rng = np.random.default_rng([5, draw_key(cls), offset + i])
                    write_video(root / split / cls / f"{cls}_{i:03d}.avi", render_video(cls, rng, 12, 32))
    return root


def _train(data: Path, run_dir: Path, *extra: str) -> dict:
    # the preset as `make demo` runs it; only the sizes (frames, pixels, epochs) and the machine settings change
    cfg = compose("train", ["experiment=demo", *extra, f"data.root={data}/train", f"data.test_root={data}/test",
                            f"run_dir={run_dir}", "data.num_frames=6", "data.frame_stride=2", "data.image_size=32",
                            "data.val_ratio=0.125", "engine.epochs=12", "engine.num_workers=0", "engine.device=cpu",
                            "engine.mixed_precision=no"])
    train(cfg)
    return run_pair_summary(run_dir, PAIRS)


@pytest.mark.slow
def test_demo_recipe_learns_motion_the_control_cannot(tmp_path):
    data = _mini_dataset(tmp_path / "data")
    ls = _train(data, tmp_path / "lsvit")
    ctrl = _train(data, tmp_path / "control", "model=vit_frame_avg")
    # chance is 0.25; an order-blind model is at 0.5 within a pair whatever it learns
    print(ls, ctrl)
    assert ls["test_top1"] >= 0.85 and ls["test_direction"]["direction_accuracy"] >= 0.85, ls
    assert ctrl["test_top1"] <= 0.6 and ls["test_top1"] >= ctrl["test_top1"] + 0.3, (ls, ctrl)
