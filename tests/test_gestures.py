"""The built-in gesture dataset (lsvit.data.gestures): reversal pairs frame for frame, determinism, the manifest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lsvit import LsvitError
from lsvit.data.discovery import dataset_info
from lsvit.data.gestures import (
    CLASSES,
    REVERSAL_PAIRS,
    GestureSpec,
    make_gesture_dataset,
    partner,
    render_video,
)
from lsvit.data.labelmaps import reversal_pairs
from lsvit.data.readers import read_clip
from lsvit.data.splits import compile_group_pattern, group_of

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(num_frames=6, width=64, height=48)


@pytest.mark.parametrize("a,b", REVERSAL_PAIRS)
def test_partner_is_the_same_video_played_backwards(a, b):
    # the same draws: b's video is a's reversed, so no frame and no bag of frames tells the two apart
    va = render_video(a, np.random.default_rng(7), **SMALL)
    vb = render_video(b, np.random.default_rng(7), **SMALL)
    assert va.shape == (6, 48, 64, 3) and va.dtype == np.uint8
    assert np.array_equal(va[::-1], vb)
    assert np.abs(va[0].astype(int) - va[-1].astype(int)).mean() > 1  # the gesture changes the picture
    assert partner(a) == b and partner(b) == a


def test_class_names_give_the_pairs_by_rule():
    # tools/pair_accuracy.py and data.reverse_pairs=auto find the partners from the names alone
    found = {frozenset(p) for p in reversal_pairs(list(CLASSES))}
    assert found == {frozenset(p) for p in REVERSAL_PAIRS}


def test_stationary_gestures_happen_in_one_half():
    # open/close/appear/disappear stay inside one half: the left/right views tell where, their order what
    for seed in range(6):
        v = render_video("appear", np.random.default_rng(seed), num_frames=4, width=96, height=72).astype(int)
        changed = (np.abs(v[-1] - v[0]).max(-1) > 40).sum(0)  # pixels per column that changed (more than the noise)
        left, right = changed[:48].sum(), changed[48:].sum()
        assert max(left, right) > 100 and min(left, right) == 0, (seed, left, right)


def test_generation_is_deterministic_and_the_manifest_describes_it(tmp_path):
    spec = GestureSpec(train_per_class=1, test_per_class=1, num_frames=4, width=48, height=48, fmt="avi", seed=3)
    for d in ("a", "b"):
        make_gesture_dataset(tmp_path / d, spec, verbose=False)
    files = sorted((tmp_path / "a").rglob("*.avi"))
    assert len(files) == 2 * len(CLASSES)
    for f in files:
        assert f.read_bytes() == (tmp_path / "b" / f.relative_to(tmp_path / "a")).read_bytes()
    assert not list((tmp_path / "a").rglob("*.tmp*"))  # atomic writes leave no partial files
    info = dataset_info(tmp_path / "a" / "train")
    assert info is not None and info.name == "gestures" and info.synthetic and info.splits == ("train", "test")
    assert group_of("appear/appear_0000", compile_group_pattern(info.group_pattern)) == group_of(
        "disappear/disappear_0000", compile_group_pattern(info.group_pattern))
    assert (tmp_path / "a" / "classes.txt").read_text().split() == list(CLASSES)
    # the same spec again: left as it is; another seed: regenerated
    stamp = files[0].stat().st_mtime_ns
    make_gesture_dataset(tmp_path / "a", spec, verbose=False)
    assert files[0].stat().st_mtime_ns == stamp
    make_gesture_dataset(tmp_path / "a", GestureSpec(**{**spec.__dict__, "seed": 4}), verbose=False)
    assert files[0].read_bytes() != (tmp_path / "b" / files[0].relative_to(tmp_path / "a")).read_bytes()
    assert json.loads((tmp_path / "a" / "manifest.json").read_text())["seed"] == 4


def test_make_gestures_writes_paired_test_and_unpaired_train(tmp_path):
    # the files the tool writes: in the paired test split video i of a class is its partner's video i backwards,
    # frame for frame (MJPEG is intra-frame: exact); the unpaired training split shows other scenes
    out = tmp_path / "g"
    r = subprocess.run([sys.executable, "tools/make_gestures.py", f"out={out}", "train_per_class=1", "test_per_class=2",
                        "frames=4", "width=48", "height=48", "fmt=avi"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.returncode == 0, r.stderr[-2000:]

    def frames(split: str, cls: str, i: int) -> np.ndarray:
        return read_clip(str(out / split / cls / f"{cls}_{i:04d}.avi"), lambda n: list(range(n)))[0]

    for a, b in REVERSAL_PAIRS:
        for i in range(2):
            va, vb = frames("test", a, i), frames("test", b, i)
            assert va.shape == (4, 48, 48, 3) and np.array_equal(va[::-1], vb), (a, b, i)
        assert not np.array_equal(frames("train", a, 0)[::-1], frames("train", b, 0))


def test_spec_refuses_odd_sizes_and_unknown_formats():
    with pytest.raises(LsvitError, match="even"):
        GestureSpec(width=63)
    with pytest.raises(LsvitError, match="fmt"):
        GestureSpec(fmt="gif")
    with pytest.raises(ValueError, match="unknown gesture class"):
        render_video("wave", np.random.default_rng(0))
