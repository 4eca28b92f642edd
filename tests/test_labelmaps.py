"""Motion-aware label maps: the class a clip becomes when mirrored or played backwards, found from class names."""

from __future__ import annotations

import pytest

from lsvit import LsvitError
from lsvit.data.labelmaps import mirror_map, reversal_map, reversal_pairs, swapped_name
from lsvit.data.synthetic import CLASSES, REVERSAL_PAIRS


def test_reversal_partners_are_found_from_the_names():
    # the built-in dataset's pairs, found without being told
    assert sorted(map(sorted, reversal_pairs(list(CLASSES)))) == sorted(map(sorted, REVERSAL_PAIRS))
    names = ["sit_down", "stand_up", "Zoom-In", "Zoom-Out", "drink", "open_hand", "close_hand", "wave_left"]
    m = reversal_map(names)
    assert [names[j] if j >= 0 else None for j in m] == ["stand_up", "sit_down", "Zoom-Out", "Zoom-In", None,
                                                         "close_hand", "open_hand", None]
    # explicit pairs win over the names
    assert reversal_map(["a", "b", "c"], [["a", "c"]]) == [2, -1, 0]
    with pytest.raises(LsvitError, match=r"data.reverse_pairs: 'a' <-> 'x' names a class that is not in the data"):
        reversal_map(["a", "b"], [["a", "x"]])


def test_a_mirror_swaps_sides_and_senses_of_rotation_and_keeps_the_rest():
    names = ["swipe_left", "swipe_right", "rotate_cw", "rotate_ccw", "move_up", "clap", "Turn_Left", "Turn_Right"]
    assert [names[j] for j in mirror_map(names)] == ["swipe_right", "swipe_left", "rotate_ccw", "rotate_cw",
                                                     "move_up", "clap", "Turn_Right", "Turn_Left"]
    assert swapped_name("Point-LEFT", {"left": "right"}) == "Point-RIGHT" and swapped_name("clap", {}) is None
    # a side without a partner would get a wrong label when flipped: refused, naming the class and the way out
    with pytest.raises(LsvitError, match=r"'point_left' names a side and has no mirrored partner.*data.mirror_map"):
        mirror_map(["point_left", "wave"])
    assert mirror_map(["a", "b", "c"], {"a": "c"}) == [2, 1, 0]


def test_predictions_files_are_scored_with_pairs_found_from_their_classes(tmp_path):
    from lsvit.pairs import csv_direction_accuracy, describe_paths

    sub = tmp_path / "submission.csv"
    sub.write_text("id,class\ngrow/a,grow\ngrow/b,shrink\nshrink/c,shrink\nmove_up/d,grow\n")
    r = csv_direction_accuracy(sub)
    assert (r["in_pair"], r["direction_correct"], r["rows"]) == (3, 2, 4) and r["top1"] == 0.5
    # files that cannot be scored say why, in one line
    plain = tmp_path / "plain.csv"
    plain.write_text("id,class\nvideo1,grow\n")
    with pytest.raises(LsvitError, match=r"plain.csv: no true labels \(its ids do not start with a class folder"):
        describe_paths([str(plain)])
    with pytest.raises(LsvitError, match=r"missing.csv: no such file"):
        describe_paths([str(tmp_path / "missing.csv")])


def test_a_flipped_or_reversed_sample_takes_the_partners_label_in_every_family(tiny_dataset, tiny_keypoints, tmp_path):
    """One mechanism (MotionAugment) for clips, frame embeddings and keypoints: the data is flipped / played backwards
    and the label follows the class map; with the augmentation off the sample is the plain one."""
    import torch

    from lsvit.data.discovery import discover_classes
    from lsvit.data.labelmaps import MotionAugment
    from lsvit.families.clips.dataset import VideoDataset
    from lsvit.families.clips.transforms import ClipTransform

    names, items = discover_classes(tiny_dataset / "train")
    item = next(it for it in items if names[it.label] == "move_left")
    tf = ClipTransform(32, train=True, hflip=0.0, color_jitter=0.0)
    kw = dict(num_frames=4, frame_stride=2, train=True)
    plain = VideoDataset([item], tf, **kw)[(0, 5)]
    flip = VideoDataset([item], tf, motion=MotionAugment.build(names, flip_prob=1.0), **kw)[(0, 5)]
    back = VideoDataset([item], tf, motion=MotionAugment.build(names, reverse_prob=1.0), **kw)[(0, 5)]
    assert names[flip["label"]] == "move_right" and torch.equal(flip["inputs"], plain["inputs"].flip(2))
    assert names[back["label"]] == "move_right" and torch.equal(back["inputs"], plain["inputs"].flip(0))
    rot = next(it for it in items if names[it.label] == "rotate_cw")
    assert names[VideoDataset([rot], tf, motion=MotionAugment.build(names, flip_prob=1.0), **kw)[(0, 5)]["label"]] \
        == "rotate_ccw"  # a mirrored clockwise roll turns counter-clockwise

    # keypoints: a reversed sequence of a paired class (swipe_left <-> swipe_right when played backwards)
    from lsvit.families.keypoints.datamodule import KeypointDataModule

    dm = KeypointDataModule(str(tiny_keypoints), num_frames=8, sampling="uniform", rotate=0, scale=0, shift=0,
                            time_warp=0, random_crop=False, val_ratio=0.34, reverse=1.0)
    dm.setup()
    ds = dm.train_dataset
    i = next(k for k, y in enumerate(ds.labels) if dm.class_names[y] == "swipe_left")
    s = ds[(i, 3)]
    assert dm.class_names[s["label"]] == "swipe_right"
    j = next(k for k, y in enumerate(ds.labels) if dm.class_names[y] == "clap")
    assert dm.class_names[ds[(j, 3)]["label"]] == "clap"  # no partner: never reversed
    off = KeypointDataModule(str(tiny_keypoints), num_frames=8, sampling="uniform", rotate=0, scale=0, shift=0,
                             time_warp=0, random_crop=False, val_ratio=0.34)
    off.setup()
    assert torch.allclose(s["inputs"], off.train_dataset[(i, 3)]["inputs"].flip(0), atol=1e-6)
