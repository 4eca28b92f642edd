"""The demo's recipe learns motion: a guard for `make demo` against changes that would stop it learning.

A miniature of the built-in dataset (two reversal pairs, 32 px) trained by the engine with the `demo`
preset itself (only the sizes shrunk): LS-ViT must get well above what the frame-averaging control can
reach at all. That ceiling needs no training run: the test set holds both clips of every pair, which the
control scores alike (tests/test_models.py guards that), so at most half of the clips can be right.
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


def _mini_dataset(root: Path, train_per_class: int = 40, test_per_class: int = 6) -> Path:
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
    # chance is 0.25; the control's ceiling is 0.5 exactly (a clip and its reversal get the same prediction)
    control_ceiling = 0.5
    assert ls["test_top1"] >= control_ceiling + 0.35, ls
    assert ls["test_direction"]["direction_accuracy"] >= 0.85, ls  # an order-blind model gets 0.5 here


def test_runs_side_by_side_read_from_the_run_folders(tmp_path):
    # what `make demo` prints: top-1 from summary.json, direction from the best checkpoint's predictions
    import json

    from lsvit.pairs import compare_runs

    run = tmp_path / "run"
    (run / "best").mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps({"best_metrics": {"val/top1": 0.75}, "train_minutes": 2.0,
                                                  "test_metrics": {"test/top1": 0.5}}))
    (run / "best" / "meta.json").write_text(json.dumps({"model": {"name": "lsvit_test", "args": {}}}))
    rows = ["id,label,prediction,correct,confidence", "a,move_left,move_left,1,0.9", "b,move_right,move_left,0,0.8",
            "c,rotate_cw,move_left,0,0.7", "d,rotate_ccw,rotate_ccw,1,0.6"]
    (run / "test_predictions.csv").write_text("\n".join(rows) + "\n")
    r = run_pair_summary(run, PAIRS)
    assert r["test_direction"]["in_pair"] == 3 and r["test_direction"]["direction_correct"] == 2
    assert r["val_direction"] is None and r["val_top1"] == 0.75 and r["model"] == "lsvit_test"
    table = compare_runs([run], PAIRS).splitlines()
    assert table[0].split()[:4] == ["run", "model", "val", "top-1"]
    assert table[2].split()[1:] == ["lsvit_test", "0.750", "0.500", "-", "0.667", "(2/3)", "2.0"]
    with pytest.raises(Exception, match="summary.json"):
        run_pair_summary(tmp_path / "missing", PAIRS)
