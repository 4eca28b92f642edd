"""Validation splits that keep source videos together: why validation is empty, which classes it lacks, the summary."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from conftest import tiny_overrides

from lsvit import LsvitError
from lsvit.config import compose
from lsvit.families.clips.datamodule import VideoDataModule
from lsvit.families.clips.hmdb51 import HMDB51DataModule


def hmdb_like(root: Path, sources: dict[str, int], clips_per_source: int = 3) -> Path:
    """An HMDB51-format dataset: ``sources[c]`` source videos per class in the train part, one test clip each.

    Files are empty: building the split reads names, not frames.
    """
    for cls, n in sources.items():
        (root / "videos" / cls).mkdir(parents=True)
        lines = []
        for s in range(n + 1):
            for k in range(clips_per_source):
                clip = f"Src{s}{cls}_{cls}_f_nm_np1_fr_med_{k}.avi"
                (root / "videos" / cls / clip).touch()
                lines.append(f"{clip} {2 if s == n else 1}")  # the last source is the test part
        (root / "splits").mkdir(exist_ok=True)
        for split in (1, 2, 3):
            (root / "splits" / f"{cls}_test_split{split}.txt").write_text("\n".join(lines) + "\n")
    return root


def test_one_source_per_class_names_the_real_cause(tmp_path):
    root = hmdb_like(tmp_path / "d", {"clap": 1, "jump": 1, "run": 1})
    with pytest.raises(LsvitError) as err, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # not HMDB51's classes
        HMDB51DataModule(root=str(root), val_ratio=0.3)
    msg = str(err.value)
    assert "the validation set is empty: 3 of 3 classes have a single source group (e.g. clap, jump, run)" in msg
    assert "data.group_by_source=false" in msg and "data.val_ratio" not in msg  # the knobs that help, only
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dm = HMDB51DataModule(root=str(root), val_ratio=0.3, group_by_source=False)  # the leak, accepted
    assert len(dm.val_items) == 3 and "split individually" in dm.split_summary()["rule"]


def test_classes_without_validation_are_named_once(tmp_path):
    root = hmdb_like(tmp_path / "d", {"clap": 3, "jump": 1, "run": 3})
    with pytest.warns(UserWarning) as caught:
        dm = HMDB51DataModule(root=str(root), val_ratio=0.3)
    said = [str(w.message) for w in caught if "no validation clips" in str(w.message)]
    assert len(said) == 1 and "1 of 3 classes have no validation clips (a single source group each): jump" in said[0]
    summary = dm.split_summary()
    assert summary["classes_without_val"] == ["jump"] and summary["single_group_classes"] == ["jump"]
    assert summary["classes"]["clap"] == {"train_clips": 6, "val_clips": 3, "groups": 3, "train_groups": 2,
                                          "val_groups": 1}


def test_folder_data_grouped_by_a_pattern(tiny_dataset, tmp_path):
    # the tiny dataset's ids are <class>/<class>_000<i>: videos 0 and 1 of each class share a "source"
    for seed in range(4):
        dm = VideoDataModule(root=str(tiny_dataset / "train"), val_ratio=0.25, group_pattern=r"^(.*_000)[01]$",
                             image_size=32, num_frames=4, seed=seed)
        side = {it.id: part for part, items in (("train", dm.train_items), ("val", dm.val_items)) for it in items}
        assert all(side[f"{c}/{c}_0000"] == side[f"{c}/{c}_0001"] for c in dm.class_names)  # never split apart
        assert dm.source_of("grow/grow_0001") == "grow/grow_000" and dm.source_of("grow/grow_0003") == "grow/grow_0003"
    with pytest.raises(LsvitError, match=r"8 of 8 classes have a single source group .*data.val_root="):
        VideoDataModule(root=str(tiny_dataset / "train"), group_pattern=r"^([a-z_]+)/", image_size=32, num_frames=4)
    with pytest.raises(LsvitError, match="data.group_pattern"):
        VideoDataModule(root=str(tiny_dataset / "train"), group_pattern="(", image_size=32, num_frames=4)


def test_the_run_folder_holds_the_split_it_used(tiny_dataset, tmp_path):
    from lsvit.engine import train

    run = tmp_path / "run"
    cfg = compose("train", tiny_overrides(tiny_dataset / "train", run, "engine.epochs=1"))
    train(cfg)
    written = json.loads((run / "split_summary.json").read_text())
    dm = VideoDataModule(root=str(tiny_dataset / "train"), val_ratio=0.25, seed=cfg.seed, image_size=32, num_frames=4,
                         group_pattern=cfg.data.group_pattern)
    assert written == json.loads(json.dumps(dm.split_summary()))
    for name in dm.class_names:  # the counts are the split's
        label = dm.class_names.index(name)
        assert written["classes"][name]["val_clips"] == sum(it.label == label for it in dm.val_items)
        assert written["classes"][name]["train_clips"] == sum(it.label == label for it in dm.train_items)
    meta = json.loads((run / "best" / "meta.json").read_text())
    assert meta["data"]["num_val"] == written["val_clips"]


def test_groups_that_span_classes_stay_whole(tiny_dataset):
    # the built-in dataset pairs video i of a class with video i of its reversal partner (same scene): with the
    # synthetic preset's group_pattern no scene lands on both sides, and every class still gets validation videos
    from collections import defaultdict

    from lsvit.data.splits import stratified_split

    labels = [c for c in range(4) for _ in range(10)]
    groups = [f"g{i}" for _ in range(4) for i in range(10)]  # group gi holds one item of every class
    tr, va = stratified_split(labels, 0.2, seed=3, groups=groups)
    assert not {groups[i] for i in tr} & {groups[i] for i in va}
    assert sorted(tr + va) == list(range(40)) and all(sum(labels[i] == c for i in va) == 2 for c in range(4))
    # a one-class group (an extra video) drawn first must not shut out the groups that hold every class
    labels2, groups2 = labels + [0], groups + ["extra"]
    for seed in range(40):  # seeds where the one-class group is drawn first included
        tr, va = stratified_split(labels2, 0.1, seed=seed, groups=groups2)  # one validation video per class
        assert all(any(labels2[i] == c for i in va) for c in range(4)), seed

    from hydra.utils import instantiate

    cfg = compose("train", [f"data.root={tiny_dataset}/train", "data=synthetic", "data.val_ratio=0.25"])
    dm = instantiate(cfg.data)
    sides = defaultdict(set)
    for part, items in (("train", dm.train_items), ("val", dm.val_items)):
        for it in items:
            sides[it.id.rsplit("_", 1)[1]].add(part)
    assert dm.val_items and all(len(s) == 1 for s in sides.values()), dict(sides)
