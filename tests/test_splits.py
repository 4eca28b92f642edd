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
    # the official test part is counted too (3 clips of one source), apart from the groups that were split
    assert summary["classes"]["clap"] == {"train_clips": 6, "val_clips": 3, "groups": 3, "train_groups": 2,
                                          "val_groups": 1, "test_clips": 3, "test_groups": 1}
    assert summary["test_clips"] == 9 and summary["classes_without_test"] == []


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


# ------------------------------------------------------------------------------------------- data.test_ratio
def test_three_way_split_holds_out_a_stratified_grouped_test_part():
    from lsvit.data.splits import stratified_split, three_way_split

    labels = [c for c in range(3) for _ in range(20)]
    groups = [f"c{c}_src{i // 2}" for c in range(3) for i in range(20)]  # two clips per source
    tr, va, te = three_way_split(labels, 0.2, 0.2, seed=5, groups=groups)
    assert sorted(tr + va + te) == list(range(60)) and not (set(tr) & set(va) or set(tr) & set(te) or set(va) & set(te))
    assert [sum(labels[i] == c for i in te) for c in range(3)] == [4, 4, 4]  # 0.2 of each class
    assert [sum(labels[i] == c for i in va) for c in range(3)] == [4, 4, 4]  # 0.2 of the whole, not of the rest
    side = {groups[i]: part for part, idx in (("train", tr), ("val", va), ("test", te)) for i in idx}
    assert all(side[groups[i]] == part for part, idx in (("train", tr), ("val", va), ("test", te)) for i in idx)
    tr, va, te = three_way_split(labels, 0.2, 0.2, seed=5)  # single videos: 20 per class -> 12 / 4 / 4
    assert [sum(labels[i] == c for i in va) for c in range(3)] == [4, 4, 4] and len(te) == 12 and len(tr) == 36
    # switched off, the split is exactly the one made without the option
    assert three_way_split(labels, 0.2, 0.0, seed=5, groups=groups) == (*stratified_split(labels, 0.2, 5, groups), [])
    with pytest.raises(LsvitError, match=r"val_ratio=0.5 \+ data.test_ratio=0.5 >= 1"):
        three_way_split(labels, 0.5, 0.5)
    with pytest.raises(LsvitError, match="data.test_ratio=1.2"):
        three_way_split(labels, 0.1, 1.2)


def test_video_folder_test_ratio(tiny_dataset, tmp_path):
    common = dict(root=str(tiny_dataset / "train"), image_size=32, num_frames=4, val_ratio=0.25)
    dm = VideoDataModule(**common, test_ratio=0.25)
    ids = {part: {it.id for it in items} for part, items in (("train", dm.train_items), ("val", dm.val_items),
                                                               ("test", dm.test_items))}
    assert [len(ids[p]) for p in ("train", "val", "test")] == [16, 8, 8]  # 8 classes x 4 videos: 2 / 1 / 1 each
    assert not (ids["train"] & ids["test"] or ids["val"] & ids["test"])
    summary = dm.split_summary()
    assert summary["test_clips"] == 8 and all(c["test_clips"] == 1 for c in summary["classes"].values())
    assert "data.test_ratio=0.25" in summary["rule"] and dm.meta()["num_test"] == 8
    dm.setup(None)
    test = dm.make_test_dataset(num_clips=2)
    assert test is not None and len(test) == 8 and test.num_views == 2
    plain = VideoDataModule(**common)  # off: no test part, and the summary says nothing of one
    assert plain.make_test_dataset() is None and "test_clips" not in plain.split_summary()
    # the built-in dataset's groups (a scene played both ways is one source) hold in the test part too
    grouped = VideoDataModule(**common, test_ratio=0.25, group_pattern=r"_(\d+)$")
    src = {part: {grouped.source_of(it.id) for it in items} for part, items in
           (("train", grouped.train_items), ("val", grouped.val_items), ("test", grouped.test_items))}
    assert not (src["train"] & src["test"] or src["val"] & src["test"]) and grouped.test_items
    with pytest.raises(LsvitError, match="one test part only"):
        VideoDataModule(**common, test_ratio=0.2, test_root=str(tiny_dataset / "test"))
    with pytest.raises(LsvitError, match="one test part only.*data.test_root=null"):
        VideoDataModule(**common, test_ratio=0.2, test_root="auto")  # the built-in dataset names its own test split


def test_hmdb51_refuses_test_ratio(tmp_path):
    root = hmdb_like(tmp_path / "d", {"clap": 3, "jump": 3})
    with pytest.raises(LsvitError, match="official split's test part is the test set.*data=folder"), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        HMDB51DataModule(root=str(root), test_ratio=0.1)


def test_keypoint_test_ratio_grouped_by_source(tmp_path):
    import numpy as np

    from lsvit.families.keypoints.datamodule import KeypointDataModule
    from lsvit.families.keypoints.fileformat import KeypointRecord, write_keypoint_h5
    from lsvit.families.keypoints.layout import mode_layout

    rng = np.random.default_rng(0)
    classes = ["a_R", "a_W"]
    # seed 004's CSV import ids: <label>/<file>_seq<n>; 5 recordings per class, 3 sequences each
    recs = [KeypointRecord(f"{c}/rec{r}_seq{s}", rng.random((6, 84)).astype(np.float32), k, c, f"rec{r}.csv")
            for k, c in enumerate(classes) for r in range(5) for s in range(3)]
    path = write_keypoint_h5(tmp_path / "kp.h5", recs, classes, mode_layout("hands"), "csv")
    dm = KeypointDataModule(path=str(path), val_ratio=0.2, test_ratio=0.2, group_pattern=r"^(.*)_seq\d+$",
                            num_frames=6)
    rows = {"train": dm.train_rows, "val": dm.val_rows, "test": dm.test_rows}
    src = {p: {dm.index.ids[i].rsplit("_seq", 1)[0] for i in r} for p, r in rows.items()}
    assert not (src["train"] & src["test"] or src["val"] & src["test"] or src["train"] & src["val"])
    assert len(dm.test_rows) == 6 and dm.split_summary()["classes"]["a_R"]["test_groups"] == 1
    test = dm.make_test_dataset()
    assert test is not None and {s["id"] for s in test} == {dm.index.ids[i] for i in dm.test_rows}
    assert dm.meta()["num_test"] == 6
    ungrouped = KeypointDataModule(path=str(path), val_ratio=0.2, num_frames=6)
    assert ungrouped.make_test_dataset() is None and ungrouped.test_rows == []
    with pytest.raises(LsvitError, match="one test part only"):
        KeypointDataModule(path=str(path), test_ratio=0.2, test_path=str(path))


def _tiny_cache(path: Path, membership: dict[str, list[str]] | None = None) -> Path:
    """An embedding cache written as extraction writes one: 2 classes x 10 videos (2 per source), T=3, C=2, D=4."""
    import h5py
    import numpy as np

    from lsvit.data.h5 import mark_complete, write_json_attr

    n = 20
    ids = [f"{c}/v{i}" for c in ("a", "b") for i in range(10)]
    with h5py.File(path, "w") as f:
        f.create_dataset("embeddings", data=np.random.default_rng(0).random((n, 3, 2, 4)).astype(np.float16))
        f.create_dataset("labels", data=np.array([0] * 10 + [1] * 10, dtype=np.int64))
        f.create_dataset("ids", data=ids, dtype=h5py.string_dtype("utf-8"))
        f.create_dataset("copies", data=np.zeros(n, dtype=np.int16))
        f.create_dataset("groups", data=[i.rsplit("v", 1)[0] + str(int(i.rsplit("v", 1)[1]) // 2) for i in ids],
                         dtype=h5py.string_dtype("utf-8"))
        g = f.create_group("membership")
        for col, vals in (membership or {}).items():
            g.create_dataset(col, data=vals, dtype=h5py.string_dtype("utf-8"))
        write_json_attr(f, "class_names", ["a", "b"])
        write_json_attr(f, "settings", {"layout": ["vit/left", "vit/right"], "num_frames": 3})
        mark_complete(f)
    return path


def test_embedding_test_ratio(tmp_path):
    from lsvit.families.embeddings.datamodule import FeatureDataModule

    cache = _tiny_cache(tmp_path / "c.h5")
    dm = FeatureDataModule(train_file=str(cache), val_ratio=0.2, test_ratio=0.2)
    idx = dm.train_index
    parts = {p: {idx.groups[r] for r in dm.rows[p]} for p in ("train", "val", "test")}
    assert len(dm.rows["test"]) == 4 and not (parts["train"] & parts["test"] or parts["val"] & parts["test"])
    assert dm.split_summary()["test_clips"] == 4 and dm.split_summary()["classes"]["a"]["test_groups"] == 1
    dm.setup()
    test = dm.make_test_dataset()
    assert test is not None and sorted(s["id"] for s in test) == sorted(idx.ids[r] for r in dm.rows["test"])
    assert dm.meta()["num_test"] == 4 and dm.meta()["test_ratio"] == 0.2
    assert FeatureDataModule(train_file=str(cache), val_ratio=0.2).make_test_dataset() is None
    with pytest.raises(LsvitError, match="one test part only"):
        FeatureDataModule(train_file=str(cache), test_ratio=0.2, test_file=str(cache))
    member = _tiny_cache(tmp_path / "m.h5", {"split1": ["train"] * 8 + ["test"] * 2 + ["train"] * 8 + ["test"] * 2})
    with pytest.raises(LsvitError, match="already names 4 test videos"):
        FeatureDataModule(train_file=str(member), split=1, test_ratio=0.2)


def test_a_run_tests_its_held_out_part_once(tiny_keypoints, tmp_path):
    from lsvit.engine import train

    run = tmp_path / "run"
    cfg = compose("train", ["experiment=signs_keypoint_lstm", f"data.path={tiny_keypoints}", "data.val_ratio=0.2",
                            "data.test_ratio=0.2", "data.num_frames=8", f"run_dir={run}", "engine.epochs=1",
                            "engine.batch_size=4", "engine.device=cpu", "engine.mixed_precision=no",
                            "model.hidden_sizes=[8]"])
    summary = train(cfg)
    written = json.loads((run / "split_summary.json").read_text())
    assert written["test_clips"] == 3 and {c["test_clips"] for c in written["classes"].values()} == {1}
    assert summary["num_test"] == 3 and "test/top1" in summary["test_metrics"]
    assert json.loads((run / "summary.json").read_text())["test_metrics"]["test/num_samples"] == 3
