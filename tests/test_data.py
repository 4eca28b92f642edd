"""Readers, sampling, transforms, discovery, splits, datasets."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from lsvit import LsvitError
from lsvit.data.dataset import SeededSampler, to_model_input
from lsvit.data.discovery import discover_classes, discover_unlabelled, read_list_file
from lsvit.data.readers import OpenCVReader, PyAVReader, VideoReadError, read_clip
from lsvit.data.sampling import sample_indices
from lsvit.data.splits import stratified_split
from lsvit.data.synthetic import REVERSAL_PAIRS, render_video, write_video
from lsvit.families.clips.datamodule import VideoDataModule
from lsvit.families.clips.dataset import VideoDataset
from lsvit.families.clips.transforms import ClipTransform


# ------------------------------------------------------------------------------------------- readers
@pytest.mark.parametrize("backend", ["decord", "pyav", "opencv"])
def test_backends_decode_the_written_frames(sample_video, backend):
    path, frames = sample_video
    idx = [0, 3, 7, 19]
    got, n = read_clip(str(path), lambda n: idx, backend=backend)
    assert n == 20
    assert got.shape == (4, 48, 48, 3) and got.dtype == np.uint8
    # lossy H.264: each decoded frame is closest to the source frame it should be
    dist = np.abs(got[:, None].astype(int) - frames[None].astype(int)).mean(axis=(2, 3, 4))
    assert list(dist.argmin(1)) == idx
    assert dist[np.arange(4), idx].max() < 4


def test_backends_agree(sample_video):
    path, _ = sample_video
    idx = list(range(0, 20, 3))
    a, _ = read_clip(str(path), lambda n: idx, backend="decord")
    b, _ = read_clip(str(path), lambda n: idx, backend="pyav")
    c, _ = read_clip(str(path), lambda n: idx, backend="opencv")
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 2
    assert np.abs(a.astype(int) - c.astype(int)).mean() < 2


def test_indices_past_the_real_end_repeat_the_last_frame(sample_video):
    path, _ = sample_video
    got, _ = read_clip(str(path), lambda n: [18, 19, 25], backend="pyav")
    assert np.array_equal(got[1], got[2])


@pytest.mark.parametrize("content,reason", [(b"", "empty file"), (b"this is not a video\n" * 20, "unreadable")])
def test_broken_files_are_named(tmp_path, content, reason):
    bad = tmp_path / "broken.avi"
    bad.write_bytes(content)
    with pytest.raises(VideoReadError) as err:
        read_clip(str(bad), lambda n: [0])
    assert str(bad) in str(err.value) and reason in str(err.value)


@pytest.mark.parametrize("backend", ["decord", "pyav", "opencv", "auto"])
def test_an_mp4_cut_short_is_named_by_every_backend(tmp_path, sample_video, backend):
    """An mp4 keeps its index (moov) at the end: a file cut during a download or copy has none, and no
    decoder can place its frames. Every backend reports it by name; none returns made-up frames."""
    path, _ = sample_video
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(path.read_bytes()[: len(path.read_bytes()) * 3 // 10])
    with pytest.raises(VideoReadError, match=f"{cut}: unreadable"):
        read_clip(str(cut), lambda n: [0, 1], backend=backend)


@pytest.fixture(scope="module")
def cut_stream(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """A header-first container (Matroska, H.264, keyframe every 8) cut in half, and the 60 frames written."""
    import av

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:64, 0:64]
    base = np.stack([xx * 2, yy * 2, xx + yy], -1)
    frames = np.stack([np.clip(base + 3 * i + rng.integers(0, 20, (64, 64, 3)), 0, 255) for i in range(60)])
    frames = frames.astype(np.uint8)
    path = tmp_path_factory.mktemp("cut") / "clip.mkv"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width = stream.height = 64
        stream.pix_fmt, stream.options = "yuv420p", {"crf": "18", "g": "8", "bf": "0"}
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    return path, frames


@pytest.mark.parametrize("backend", ["decord", "pyav", "opencv", "auto"])
def test_a_stream_cut_short_decodes_what_it_has_then_holds_the_last_frame(cut_stream, backend):
    """A header-first container cut in half: the surviving frames are the written ones, and every index past
    the cut gets the last decodable frame (as for any container that claims more frames than it holds)."""
    path, written = cut_stream
    got, _ = read_clip(str(path), lambda n: list(range(60)), backend=backend)
    same_as_previous = [bool(np.array_equal(got[i], got[i - 1])) for i in range(1, 60)]
    end = same_as_previous.index(True) + 1  # the first repeated frame: where decoding stopped
    assert 20 <= end < 60
    assert all(same_as_previous[end - 1:])  # from there on, the last decodable frame over and over
    assert np.abs(got[:end].astype(int) - written[:end].astype(int)).mean() < 8  # before it: the real frames
    # a clip that starts past the cut (the header promised 60 frames) gets the last decodable frame too
    late, _ = read_clip(str(path), lambda n: [50, 59], backend=backend)
    assert np.array_equal(late[0], got[end - 1]) and np.array_equal(late[1], got[end - 1])
    if backend in ("pyav", "opencv"):
        # the backend's own reader, without read_clip's fallback to the next decoder (which would serve the same
        # frame had this reader failed): it holds its last decoded frame itself
        reader = {"pyav": PyAVReader, "opencv": OpenCVReader}[backend](str(path))
        own = reader.get_batch([50, 59])
        assert np.array_equal(own[0], got[end - 1]) and np.array_equal(own[1], got[end - 1])


def _frames(n: int, size: int = 24) -> list[np.ndarray]:
    return [np.full((size, size, 3), 10 * i, np.uint8) for i in range(n)]


def test_frame_folder_layouts(tmp_path):
    # layout 1: class/<video>/frame_00001.jpg ; layout 2: class/<video_id>_frame_<n>.jpg
    (tmp_path / "wave" / "v1").mkdir(parents=True)
    (tmp_path / "clap").mkdir()
    for i, f in enumerate(_frames(12), 1):
        cv2.imwrite(str(tmp_path / "wave" / "v1" / f"frame_{i:05d}.png"), f)
        cv2.imwrite(str(tmp_path / "clap" / f"vidA_frame_{i}.png"), f)  # unpadded numbers sort numerically
        cv2.imwrite(str(tmp_path / "clap" / f"vidB_frame_{i}.png"), f)
    names, items = discover_classes(tmp_path)
    assert names == ["clap", "wave"]
    assert [(it.id, it.label) for it in items] == [("clap/vidA", 0), ("clap/vidB", 0), ("wave/v1", 1)]
    frames, n = read_clip(items[0].source, lambda n: [0, 9, 11])
    assert n == 12
    assert [int(f.mean()) for f in frames] == [0, 90, 110]  # order by frame number, not by string


def test_unreadable_frame_image_borrows_a_neighbour(tmp_path):
    (tmp_path / "a" / "v").mkdir(parents=True)
    for i, f in enumerate(_frames(4), 1):
        cv2.imwrite(str(tmp_path / "a" / "v" / f"frame_{i:05d}.png"), f)
    (tmp_path / "a" / "v" / "frame_00003.png").write_bytes(b"garbage")
    _, items = discover_classes(tmp_path)
    with pytest.warns(UserWarning, match="frame_00003"):
        frames, _ = read_clip(items[0].source, lambda n: [2, 3])
    assert int(frames[0].mean()) == 10  # frame 3 unreadable -> frame 2's content


def test_discovery_errors(tmp_path):
    with pytest.raises(LsvitError, match="no such folder"):
        discover_classes(tmp_path / "missing")
    (tmp_path / "empty_class").mkdir()
    (tmp_path / "ok").mkdir()
    write_video(tmp_path / "ok" / "v.mp4", render_video("grow", np.random.default_rng(0), 4, 32))
    with pytest.raises(LsvitError, match="empty_class"):
        discover_classes(tmp_path)


def test_list_file_and_unlabelled(tmp_path, tiny_dataset):
    lst = tmp_path / "list.txt"
    lst.write_text("# comment\ntrain/grow/grow_0000.mp4 grow\ntrain/shrink/shrink_0001.mp4 shrink\n")
    names, items = read_list_file(lst, root=tiny_dataset)
    assert names == ["grow", "shrink"] and [it.label for it in items] == [0, 1]
    un = discover_unlabelled(tiny_dataset / "test")
    assert len(un) == 8 and un[0].id == "grow/grow_0000" and all(it.label == -1 for it in un)
    one = discover_unlabelled(tiny_dataset / "test" / "grow" / "grow_0000.mp4")
    assert [it.id for it in one] == ["grow_0000"]


def test_separate_validation_and_test_sources(tiny_dataset, tmp_path):
    """val_root / val_list_file replace the hold-out; test_root / test_list_file give the final test part."""
    train_ids = sorted(it.id for it in discover_classes(tiny_dataset / "train")[1])
    test_ids = sorted(it.id for it in discover_classes(tiny_dataset / "test")[1])
    dm = VideoDataModule(root=str(tiny_dataset / "train"), val_root=str(tiny_dataset / "test"), image_size=32,
                         num_frames=4)
    assert sorted(it.id for it in dm.train_items) == train_ids  # nothing held out of root
    assert sorted(it.id for it in dm.val_items) == test_ids and dm.test_items == []
    lst = tmp_path / "val.txt"
    lst.write_text(f"{tiny_dataset}/test/grow/grow_0000.mp4 grow\n{tiny_dataset}/test/shrink/shrink_0000.mp4 shrink\n")
    test_lst = tmp_path / "test.txt"
    test_lst.write_text("move_up/move_up_0000.mp4 move_up\n")
    dm = VideoDataModule(root=str(tiny_dataset / "train"), val_list_file=str(lst), test_list_file=str(test_lst),
                         test_root=str(tiny_dataset / "test"), image_size=32, num_frames=4)
    assert [(Path(it.source).relative_to(tiny_dataset).as_posix(), dm.class_names[it.label]) for it in dm.val_items] \
        == [("test/grow/grow_0000.mp4", "grow"), ("test/shrink/shrink_0000.mp4", "shrink")]
    # with both, the list file names the test videos and test_root is where its paths start
    assert [it.source for it in dm.test_items] == [str(tiny_dataset / "test" / "move_up" / "move_up_0000.mp4")]
    dm.setup()
    test = dm.make_test_dataset(num_clips=2)
    assert len(test) == 1 and test.num_views == 2


# ------------------------------------------------------------------------------------------- sampling
def test_dense_sampling_bounds_and_centre():
    rng = np.random.default_rng(0)
    for _ in range(50):
        idx = sample_indices(40, 8, 3, "dense", train=True, rng=rng)
        assert idx.min() >= 0 and idx.max() < 40 and np.all(np.diff(idx) == 3)
    centred = sample_indices(40, 8, 3, "dense")
    assert centred[0] == (40 - 22) // 2
    assert list(sample_indices(22, 8, 3)) == list(range(0, 22, 3))  # exactly the span


def test_short_videos_loop_or_repeat_last():
    assert list(sample_indices(5, 4, 2, short="loop")) == [0, 2, 4, 1]
    assert list(sample_indices(5, 4, 2, short="repeat_last")) == [0, 2, 4, 4]
    assert list(sample_indices(1, 3, 2)) == [0, 0, 0]


def test_uniform_sampling_and_views():
    idx = sample_indices(100, 4, sampling="uniform")
    assert list(idx) == [12, 37, 62, 87]  # segment middles
    rng = np.random.default_rng(1)
    tr = sample_indices(100, 4, sampling="uniform", train=True, rng=rng)
    assert all(25 * i <= v < 25 * (i + 1) for i, v in enumerate(tr))
    assert list(sample_indices(3, 5, sampling="uniform")) == [0, 0, 1, 2, 2]  # middles 0.3 .. 2.7
    starts = [sample_indices(40, 4, 2, clip_index=c, num_clips=3)[0] for c in range(3)]
    assert starts == [0, 16, 33]  # spread over room = 33


# ------------------------------------------------------------------------------------------- transforms
def test_training_augmentation_is_identical_across_frames():
    base = np.random.default_rng(0).integers(0, 255, (40, 56, 3), dtype=np.uint8)
    clip = np.stack([base] * 6)  # identical frames stay identical iff one draw serves all frames
    tf = ClipTransform(32, train=True, hflip=0.5, color_jitter=1.0, scale=(0.2, 1.0))
    outs = [tf(clip, seed=s) for s in range(8)]
    for frames, color in outs:
        assert frames.shape == (6, 32, 32, 3) and frames.dtype == torch.uint8 and color.shape == (3, 6)
        assert torch.equal(frames[0], frames[5])
    assert not torch.equal(outs[0][0][0], outs[1][0][0])  # but different clips get different draws
    assert len({tuple(c.flatten().tolist()) for _, c in outs}) == 8  # and different colour jitters


def test_augmentation_is_a_function_of_the_seed_and_eval_is_deterministic():
    clip = np.random.default_rng(0).integers(0, 255, (3, 40, 56, 3), dtype=np.uint8)
    tf = ClipTransform(32, train=True)
    a, b = tf(clip, seed=7), tf(clip, seed=7)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    ev = ClipTransform(32, mean=(0.5,) * 3, std=(0.5,) * 3)
    frames, color = ev(clip)
    x = to_model_input(frames[None], color[None])[0]
    assert torch.equal(frames, ev(clip)[0]) and x.shape == (3, 3, 32, 32)
    assert x.min() >= -1 and x.max() <= 1


def test_eval_view_is_the_short_side_resized_then_centre_cropped():
    import cv2

    clip = np.random.default_rng(1).integers(0, 255, (2, 40, 60, 3), dtype=np.uint8)
    frames, _ = ClipTransform(20)(clip)
    ref = np.stack([cv2.resize(f, (30, 20), interpolation=cv2.INTER_LINEAR)[:, 5:25] for f in clip])
    # the square crop is resized instead of the whole frame: the same picture up to interpolation
    assert np.abs(frames.numpy().astype(int) - ref).mean() < 3
    left, _ = ClipTransform(20)(clip, crop_index=0, num_crops=3)
    assert torch.equal(left, torch.from_numpy(np.stack([cv2.resize(f[:, :40], (20, 20)) for f in clip])))


def test_colour_map_on_the_device_equals_jitter_clamp_then_normalise():
    from lsvit.families.clips.transforms import jitter_matrix

    rng = np.random.default_rng(3)
    clip = rng.integers(0, 255, (2, 8, 8, 3), dtype=np.uint8)
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    tf = ClipTransform(8, mean=mean, std=std)
    m, b = jitter_matrix(np.random.default_rng(0), clip.reshape(-1, 3).mean(0), brightness=0.9, contrast=0.9)
    x = torch.from_numpy(clip).double()
    jittered = torch.einsum("ij,thwj->thwi", m, x) + b
    ref = jittered.clamp(0, 255)
    assert not torch.equal(ref, jittered)  # the clamp is exercised
    ref = (ref / 255 - torch.tensor(mean, dtype=torch.float64)) / torch.tensor(std, dtype=torch.float64)
    got = to_model_input(torch.from_numpy(clip)[None], tf.color((m, b))[None])[0]
    assert torch.allclose(got, ref.permute(0, 3, 1, 2).float(), atol=1e-4)
    floats = torch.randn(2, 3)
    assert to_model_input(floats) is floats  # non-uint8 inputs (embeddings, keypoints) pass through
    with pytest.raises(ValueError, match="color"):
        to_model_input(torch.from_numpy(clip)[None])


def test_random_resized_crop_box_stays_inside_and_follows_the_scale():
    from lsvit.families.clips.transforms import random_resized_crop_box

    rng = np.random.default_rng(0)
    boxes = [random_resized_crop_box(rng, 240, 320, (0.25, 1.0)) for _ in range(200)]
    for y0, x0, ch, cw in boxes:
        assert 0 <= y0 and y0 + ch <= 240 and 0 <= x0 and x0 + cw <= 320
        assert 3 / 4 - 0.02 <= cw / ch <= 4 / 3 + 0.02
    areas = np.array([ch * cw for _, _, ch, cw in boxes]) / (240 * 320)
    assert areas.min() >= 0.24 and areas.max() > 0.8 and areas.min() < 0.35
    # no fit in ten tries (a very wide frame): the largest centred crop at the widest ratio
    assert random_resized_crop_box(rng, 10, 100, (0.9, 1.0)) == (0, 43, 10, 13)


# ------------------------------------------------------------------------------------------- splits
def test_stratified_split_is_video_level_and_seeded():
    labels = [0] * 20 + [1] * 10 + [2] * 3 + [3]
    tr, va = stratified_split(labels, 0.2, seed=3)
    assert not set(tr) & set(va) and sorted(tr + va) == list(range(len(labels)))
    assert [sum(labels[i] == c for i in va) for c in range(4)] == [4, 2, 1, 0]
    assert stratified_split(labels, 0.2, seed=3) == (tr, va)
    assert stratified_split(labels, 0.2, seed=4) != (tr, va)


def test_datamodule_has_no_video_in_both_train_and_val(tiny_dataset):
    dm = VideoDataModule(root=str(tiny_dataset / "train"), num_frames=4, image_size=32, val_ratio=0.25)
    assert not {it.id for it in dm.train_items} & {it.id for it in dm.val_items}
    assert len(dm.train_items) + len(dm.val_items) == 32
    assert {it.label for it in dm.val_items} == set(range(8))
    dm.setup()
    s = dm.val_dataset[0]
    assert set(s) == {"inputs", "color", "label", "id"} and s["inputs"].shape == (4, 32, 32, 3)


def test_bad_datamodule_settings_are_one_clear_message(tiny_dataset):
    with pytest.raises(LsvitError, match="num_frames"):
        VideoDataModule(root=str(tiny_dataset / "train"), num_frames=0)
    with pytest.raises(LsvitError, match="val_ratio"):
        VideoDataModule(root=str(tiny_dataset / "train"), val_ratio=1.5)
    with pytest.raises(LsvitError, match="data.root"):
        VideoDataModule(root=None)


def test_dataset_skips_broken_videos(tiny_dataset, tmp_path):
    _, items = discover_classes(tiny_dataset / "train")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100)
    from lsvit.data.discovery import VideoItem

    items = [VideoItem("grow/bad", 0, str(bad))] + items[:3]
    tf = ClipTransform(32)
    ev = VideoDataset(items, tf, num_frames=4)
    with pytest.warns(UserWarning, match="bad.mp4"):
        s = ev[0]
    assert s["label"] == -1 and "bad.mp4" in s["error"] and s["inputs"].shape == (4, 32, 32, 3)
    tr = VideoDataset(items, ClipTransform(32, train=True), num_frames=4, train=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = tr[(0, 123)]
    assert s["label"] >= 0 and s["id"] != "grow/bad" and s["substitute"]
    assert s["inputs"].shape == (4, 32, 32, 3) and s["color"].shape == (3, 6)
    strict = VideoDataset(items, tf, num_frames=4, strict=True)
    with pytest.raises(VideoReadError, match="bad.mp4"):
        strict[0]


def test_seeded_sampler_is_deterministic_per_epoch():
    s = SeededSampler(10, seed=1)
    a = list(s)
    assert list(s) == a and sorted(i for i, _ in a) == list(range(10))
    s.set_epoch(1)
    assert list(s) != a


# ------------------------------------------------------------------------------------------- synthetic
@pytest.mark.parametrize("a,b", REVERSAL_PAIRS)
def test_reversal_pairs_differ_only_in_order(a, b):
    # same random draws: class b's video is exactly class a's video played backwards, so
    # no frame and no unordered set of frames can tell the two classes apart
    va = render_video(a, np.random.default_rng(5), 10, 48)
    vb = render_video(b, np.random.default_rng(5), 10, 48)
    assert np.array_equal(va[::-1], vb)
    assert not np.array_equal(va, vb)
    assert np.abs(va[0].astype(int) - va[-1].astype(int)).mean() > 1  # something moves


@pytest.mark.parametrize("fmt", ["avi", "mp4"])
def test_make_synthetic_writes_reversal_pairs_frame_for_frame(tmp_path, fmt):
    # the files the tool writes (not only the renderer): video i of each class of a pair is the other's
    # video i played backwards, frame for frame: exactly for intra-frame MJPEG; within coding noise for H.264
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "syn"
    run = subprocess.run([sys.executable, "tools/make_synthetic.py", f"out={out}", "train_per_class=2",
                          "test_per_class=1", "frames=8", "size=32", f"fmt={fmt}"], cwd=root, capture_output=True,
                         text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(root)))
    assert run.returncode == 0, run.stderr[-2000:]
    checked = 0
    for split in ("train", "test"):
        for a, b in REVERSAL_PAIRS:
            for fa in sorted((out / split / a).glob(f"*.{fmt}")):
                fb = out / split / b / fa.name.replace(a, b)
                va = read_clip(str(fa), lambda n: list(range(n)))[0].astype(int)
                vb = read_clip(str(fb), lambda n: list(range(n)))[0].astype(int)
                assert va.shape == vb.shape == (8, 32, 32, 3)
                if fmt == "avi":
                    assert np.array_equal(va[::-1], vb), (fa, fb)
                # H.264: the reversed video within coding noise, and far closer to it than to the unreversed one
                reversed_gap, same_order_gap = np.abs(vb - va[::-1]).mean(), np.abs(vb - va).mean()
                assert reversed_gap < 6.0 and reversed_gap < 0.5 * same_order_gap, (fa, fb, reversed_gap, same_order_gap)
                checked += 1
    assert checked == 12


def test_synthetic_generation_is_deterministic(tmp_path):
    from lsvit.data.synthetic import SyntheticSpec, make_motion_dataset

    spec = SyntheticSpec(train_per_class=1, test_per_class=0, num_frames=4, size=32, seed=3, fmt="avi")
    for d in ("a", "b"):
        make_motion_dataset(tmp_path / d, spec, verbose=False)
    fa = sorted((tmp_path / "a").rglob("*.avi"))
    assert len(fa) == 8
    for f in fa:
        assert f.read_bytes() == (tmp_path / "b" / f.relative_to(tmp_path / "a")).read_bytes()


def test_multi_view_evaluation_decodes_once_and_stacks_views(tiny_dataset, monkeypatch):
    import lsvit.families.clips.dataset as dataset_module

    calls: list[int] = []
    real = dataset_module.read_clip

    def counting(source, sample, *args, **kwargs):
        def pick(total: int):
            picked = sample(total)
            calls.append(len(picked))  # one entry per decode
            return picked
        return real(source, pick, *args, **kwargs)
    monkeypatch.setattr(dataset_module, "read_clip", counting)
    _, items = discover_classes(tiny_dataset / "train")
    ds = VideoDataset(items[:1], ClipTransform(32), num_frames=4, frame_stride=2, num_clips=2, num_crops=3)
    s = ds[0]
    assert calls == [8]  # one decode, of both temporal views' frames (2 clips x 4 frames)
    assert s["inputs"].shape == (6, 4, 32, 32, 3)
    single = VideoDataset(items[:1], ClipTransform(32), num_frames=4, frame_stride=2)[0]["inputs"]
    assert not torch.equal(s["inputs"][0], s["inputs"][3])  # two temporal views differ
    assert single.shape == (4, 32, 32, 3)


def test_flat_frames_side_by_side_are_one_video_each_for_training_and_inference(tmp_path):
    """``<class>/<video_id>_frame_<n>.jpg``: every video gets its own row in inference, as in training (issue 24.1:
    inference used to take each class folder for one frame folder and wrote one row per class)."""
    import cv2

    from lsvit.data.discovery import discover_classes, discover_unlabelled

    img = np.zeros((8, 8, 3), np.uint8)
    for cls in ("bikes", "person"):
        for vid in ("clip1", "clip2"):
            for n in range(3):
                (tmp_path / "test" / cls).mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(tmp_path / "test" / cls / f"{cls}_{vid}_frame_{n}.jpg"), img)
    # one video whose frames sit in their own folder, named after it: still one video
    (tmp_path / "test" / "person" / "walk").mkdir()
    for n in range(3):
        cv2.imwrite(str(tmp_path / "test" / "person" / "walk" / f"walk_frame_{n}.jpg"), img)
    want = ["bikes/bikes_clip1", "bikes/bikes_clip2", "person/person_clip1", "person/person_clip2", "person/walk"]
    unlabelled = discover_unlabelled(tmp_path / "test")
    assert [it.id for it in unlabelled] == want
    assert all(len(it.source) == 3 for it in unlabelled)
    names, items = discover_classes(tmp_path / "test")
    assert names == ["bikes", "person"] and sorted(it.id for it in items) == want


def test_the_built_in_dataset_is_the_same_file_every_time(tmp_path):
    """Generation is seeded and deterministic down to the bytes (x264 on one thread: with its own threads the same
    frames gave other files, and the demo other figures, from run to run)."""
    frames = [render_video("grow", np.random.default_rng([0, 1, i]), 12, 48) for i in range(4)]
    digests = []
    for attempt in range(2):
        for i, f in enumerate(frames):
            write_video(tmp_path / f"{attempt}_{i}.mp4", f)
        digests.append([(tmp_path / f"{attempt}_{i}.mp4").read_bytes() for i in range(4)])
    assert digests[0] == digests[1]
