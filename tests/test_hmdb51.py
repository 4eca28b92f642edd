"""HMDB51 benchmarking: archives, official splits, multi-view testing, reports, the split benchmark."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT, tiny_overrides
from fixtures import pack_official_archives, tree

from lsvit import LsvitError
from lsvit.config import build, compose
from lsvit.data.hmdb51.prepare import prepare_hmdb51, verify_hmdb51
from lsvit.data.hmdb51.splits import (
    HMDB51_CLASSES,
    TAG_TEST,
    TAG_TRAIN,
    load_split,
    read_split_files,
    source_of,
)


def hmdb_overrides(root: Path, run_dir: Path, *extra: str) -> list[str]:
    return [*tiny_overrides(root, run_dir), "data=hmdb51", f"data.root={root}", "data.val_ratio=0.25", *extra]


# ------------------------------------------------------------------------------------------ preparation
def test_prepare_from_official_rar_archives_is_exact_and_resumable(mini_hmdb51, tmp_path):
    pytest.importorskip("unrar.cffi")
    videos, splits = pack_official_archives(mini_hmdb51, tmp_path / "download")
    out = tmp_path / "hmdb51"
    logs: list[str] = []
    rep = prepare_hmdb51(videos, splits, out, check_counts=False, log=logs.append)
    assert rep.problems == [], rep.summary()
    assert tree(out / "videos") == tree(mini_hmdb51 / "videos")  # every clip, byte for byte
    assert tree(out / "splits") == tree(mini_hmdb51 / "splits")
    assert not (out / ".archives").exists()  # the per-class RARs are removed once extracted
    # an interrupted run: one class never got its final name; the rerun extracts only that one
    shutil.rmtree(out / "videos" / "run")
    next((out / "videos").glob(".complete-*")).unlink()
    logs.clear()
    prepare_hmdb51(videos, splits, out, check_counts=False, log=logs.append)
    assert [ln.split(":")[0].strip() for ln in logs[1:]] == ["run"]
    assert tree(out / "videos") == tree(mini_hmdb51 / "videos")
    logs.clear()
    prepare_hmdb51(videos, splits, out, check_counts=False, log=logs.append)
    assert logs == [f"{videos}: already extracted"]


def test_prepare_reports_counts_against_the_official_figures(mini_hmdb51, tmp_path):
    rep = prepare_hmdb51(mini_hmdb51 / "videos", mini_hmdb51 / "splits", tmp_path / "out", check_counts=True,
                         log=lambda _: None)
    text = rep.summary()
    assert "expected 51" in text and "expected 6766" in text and "expected 3570 / 1530 / 1666" in text
    assert rep.split_counts[1] == {TAG_TRAIN: 24, TAG_TEST: 8, 0: 8}
    assert (tmp_path / "out" / "videos" / "clap").is_symlink()  # extracted folders are linked, not copied
    assert verify_hmdb51(tmp_path / "out", check_counts=False).problems == []


def test_prepare_accepts_a_frame_folder_copy(mini_hmdb51, tmp_path):
    import cv2

    from lsvit.data.readers import read_clip

    frames_root = tmp_path / "frames"
    for video in sorted((mini_hmdb51 / "videos").rglob("*.avi")):
        folder = frames_root / video.parent.name / video.stem
        folder.mkdir(parents=True)
        frames, _ = read_clip(str(video), lambda n: np.arange(n))
        for i, f in enumerate(frames, 1):
            cv2.imwrite(str(folder / f"frame_{i:05d}.jpg"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    out = tmp_path / "out"
    rep = prepare_hmdb51(frames_root, mini_hmdb51 / "splits", out, check_counts=False, log=lambda _: None)
    assert rep.problems == [] and rep.clips == 40
    sets = load_split(out, 1)
    assert len(sets.train) == 24 and all(isinstance(it.source, tuple) and len(it.source) == 10 for it in sets.train)


def test_bad_archives_and_inputs_are_one_clear_error(mini_hmdb51, tmp_path):
    pytest.importorskip("unrar.cffi")
    fake = tmp_path / "hmdb51_org.rar"
    fake.write_text("this is not a rar archive")
    with pytest.raises(LsvitError, match="not a RAR archive"):
        prepare_hmdb51(fake, mini_hmdb51 / "splits", tmp_path / "o1", log=lambda _: None)
    with pytest.raises(LsvitError, match="no such archive or folder"):
        prepare_hmdb51(tmp_path / "missing.rar", mini_hmdb51 / "splits", tmp_path / "o2", log=lambda _: None)
    # the two archives swapped
    videos, splits = pack_official_archives(mini_hmdb51, tmp_path / "dl")
    with pytest.raises(LsvitError, match="no per-class .rar archives"):
        prepare_hmdb51(splits, videos, tmp_path / "o3", log=lambda _: None)
    with pytest.raises(LsvitError, match="split_file|test_split"):
        prepare_hmdb51(mini_hmdb51 / "videos", videos, tmp_path / "o4", log=lambda _: None)


def test_tool_prepares_and_exits_by_completeness(mini_hmdb51, tmp_path):
    cmd = [sys.executable, str(ROOT / "tools/prepare_hmdb51.py"), f"videos={mini_hmdb51 / 'videos'}",
           f"splits={mini_hmdb51 / 'splits'}", f"out={tmp_path / 'out'}"]
    full = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert full.returncode == 1 and "expected 6766" in full.stdout  # a subset is not the full dataset
    assert "split 1: 24 train / 8 test / 8 unused" in full.stdout
    bad = subprocess.run([*cmd[:2], f"videos={tmp_path / 'nope.rar'}", cmd[3], cmd[4]], capture_output=True,
                         text=True, cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error: videos=")


# ------------------------------------------------------------------------------------------ splits
@pytest.mark.parametrize("split", [1, 2, 3])
def test_split_membership_is_exactly_the_official_files(mini_hmdb51, split):
    table = read_split_files(mini_hmdb51 / "splits", split)
    want_train = {f"{c}/{Path(clip).stem}" for c, rows in table.items() for clip, t in rows if t == TAG_TRAIN}
    want_test = {f"{c}/{Path(clip).stem}" for c, rows in table.items() for clip, t in rows if t == TAG_TEST}
    cfg = compose("train", hmdb_overrides(mini_hmdb51, Path("/tmp/unused"), f"data.split={split}"))
    dm = build(cfg.data)
    train, val, test = ({it.id for it in items} for items in (dm.train_items, dm.val_items, dm.test_items))
    assert train | val == want_train and not train & val  # validation comes from the train part only
    assert test == want_test and not test & (train | val)  # no test clip in train or val
    assert dm.class_names == sorted(table)
    # clips of one source video never straddle train and validation
    src = {i: source_of(i.split("/")[1], i.split("/")[0]) for i in train | val}
    assert not {src[i] for i in train} & {src[i] for i in val}
    assert len(val) > 0 and {i.split("/")[0] for i in val} == set(dm.class_names)  # stratified


def test_splits_differ_and_unused_clips_are_left_out(mini_hmdb51):
    a, b = load_split(mini_hmdb51, 1), load_split(mini_hmdb51, 2)
    assert {it.id for it in a.test} != {it.id for it in b.test}
    assert len(a.train) + len(a.test) == 32  # 40 clips, 8 tagged 0


def test_missing_clips_are_counted_and_strict_fails(mini_hmdb51, tmp_path):
    root = tmp_path / "h"
    shutil.copytree(mini_hmdb51, root)
    gone = sorted((root / "videos" / "jump").glob("*.avi"))[:3]
    for p in gone:
        p.unlink()
    (root / "videos" / "not_a_class").mkdir()
    with pytest.warns(UserWarning) as rec:
        sets = load_split(root, 1)
    text = " ".join(str(w.message) for w in rec)
    expected = sum(1 for p in gone if any(Path(c).stem == p.stem and t != 0
                                          for c, t in read_split_files(root / "splits", 1)["jump"]))
    assert sets.num_missing == expected and f"{expected} clip(s) named in the split files" in text
    assert "not_a_class" in text
    with pytest.raises(LsvitError, match="jump: 3|jump: 2|jump: 1"):
        load_split(root, 1, strict=True)
    with pytest.raises(LsvitError, match="data.split=4"):
        load_split(root, 4)


def test_unknown_class_names_warn(mini_hmdb51, tmp_path):
    import warnings

    with warnings.catch_warnings(record=True) as caught:  # HMDB51's own names: no such warning
        warnings.simplefilter("always")
        load_split(mini_hmdb51, 1)
    assert not [w for w in caught if "not HMDB51's 51" in str(w.message)]
    # a copy where one class has a name HMDB51 does not have (a typo, or another dataset in the same layout)
    root = tmp_path / "renamed"
    shutil.copytree(mini_hmdb51, root)
    (root / "videos" / "jump").rename(root / "videos" / "jumpp")
    for split in (1, 2, 3):
        (root / "splits" / f"jump_test_split{split}.txt").rename(root / "splits" / f"jumpp_test_split{split}.txt")
    with pytest.warns(UserWarning, match=r"classes that are not HMDB51's 51: \['jumpp'\]"):
        sets = load_split(root, 1)
    assert "jumpp" in sets.class_names and "jumpp" not in HMDB51_CLASSES


# ------------------------------------------------------------------------------------------ multi-view
def test_multi_view_inputs_are_the_single_views(mini_hmdb51):
    from lsvit.data.readers import read_clip
    from lsvit.data.sampling import sample_indices
    from lsvit.families.clips.dataset import VideoDataset
    from lsvit.families.clips.transforms import ClipTransform

    items = load_split(mini_hmdb51, 1).test[:2]
    tf = ClipTransform(24, (0.5,) * 3, (0.25,) * 3, train=False)
    ds = VideoDataset(items, tf, num_frames=4, frame_stride=2, num_clips=3, num_crops=3)
    x = ds[0]["inputs"]
    assert x.shape == (9, 4, 24, 24, 3) and x.dtype == torch.uint8 and ds.num_views == 9
    for v in range(3):
        idx = sample_indices(10, 4, 2, "dense", False, None, "loop", clip_index=v, num_clips=3)
        frames, _ = read_clip(items[0].source, lambda n, i=idx: i)
        for c in range(3):
            view, color = tf(frames, crop_index=c, num_crops=3)
            assert torch.equal(x[v * 3 + c], view) and torch.equal(ds[0]["color"], color)
    assert not torch.equal(x[0], x[3]) and not torch.equal(x[0], x[1])  # the views differ


def test_view_scores_are_the_mean_of_single_view_softmaxes():
    from lsvit.engine.views import view_scores

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 5))
    x = torch.randn(3, 4, 2, 6)
    scores = view_scores(model, x, 4)
    mean = torch.stack([model(x[:, v]).softmax(-1) for v in range(4)]).mean(0)
    assert torch.allclose(scores.softmax(-1), mean, atol=1e-6) and torch.allclose(scores.exp(), mean, atol=1e-6)
    assert torch.equal(view_scores(model, x[:, 0], 1), model(x[:, 0]))


# ------------------------------------------------------------------------------------------ training + reports
def _png_not_blank(path: Path) -> None:
    import matplotlib.image as mpimg

    img = mpimg.imread(path)
    assert img.shape[0] > 200 and img.shape[1] > 200
    assert img[..., :3].std() > 0.05  # drawn on, not a blank canvas


@pytest.fixture(scope="module")
def hmdb_run(mini_hmdb51, tmp_path_factory):
    from lsvit.engine import train

    run = tmp_path_factory.mktemp("hmdb_run") / "run"
    summary = train(compose("train", hmdb_overrides(mini_hmdb51, run, "eval.num_clips=2", "eval.num_crops=3")))
    return run, summary


def test_training_tests_the_best_checkpoint_once_and_writes_reports(hmdb_run, mini_hmdb51):
    run, summary = hmdb_run
    tm = summary["test_metrics"]
    assert summary["num_test"] == 8 and summary["test_views"] == 6 and tm["test/num_samples"] == 8
    assert 0.0 <= tm["test/top1"] <= 1.0 and "test/top1" not in summary["best_metrics"]
    for tag in ("val", "test"):
        for name in ("classification_report.txt", "classification_report.csv", "confusions.md", "metrics.json",
                     "predictions.csv"):
            assert (run / f"{tag}_{name}").stat().st_size > 0
        _png_not_blank(run / f"{tag}_confusion_matrix.png")
    _png_not_blank(run / "curves.png")
    report = (run / "test_classification_report.csv").read_text().splitlines()
    assert report[0] == "class,precision,recall,f1,support" and len(report) == 1 + 4 + 3
    preds = (run / "test_predictions.csv").read_text().splitlines()
    assert len(preds) == 9 and {ln.split(",")[0] for ln in preds[1:]} == {it.id for it in load_split(mini_hmdb51, 1).test}
    acc = np.mean([int(ln.split(",")[3]) for ln in preds[1:]])
    assert acc == pytest.approx(tm["test/top1"])
    assert "test/top1" in (run / "report.md").read_text()
    # the model card of best/ carries that one test, with its views
    from lsvit.checkpoint.card import parse_card

    front, _ = parse_card((run / "best" / "README.md").read_text())
    test = next(r for r in front["model-index"][0]["results"] if r["dataset"]["split"] == "test")
    top1 = next(m for m in test["metrics"] if m["type"] == "accuracy")
    assert top1["value"] == pytest.approx(tm["test/top1"], abs=1e-4) and "6 views" in top1["name"]
    # the best checkpoint, tested again through the tools, gives the same numbers with the same views
    from lsvit.inference import evaluate_checkpoint

    res = evaluate_checkpoint(run / "best", hmdb51_root=mini_hmdb51, split=1, num_clips=2, num_crops=3,
                              progress=False)
    assert res["eval/top1"] == pytest.approx(tm["test/top1"]) and res["eval/loss"] == pytest.approx(tm["test/loss"],
                                                                                                   rel=1e-4)
    _png_not_blank(Path(res["files"]["confusion_png"]))


def test_inference_multi_view_equals_mean_of_single_views(hmdb_run, mini_hmdb51, tmp_path):
    from lsvit.inference import predict

    run, _ = hmdb_run
    folder = mini_hmdb51 / "videos" / "clap"
    multi = predict(run / "best", folder, num_clips=2, num_crops=3, progress=False)
    from lsvit.checkpoint.folder import build_from_checkpoint
    from lsvit.data.dataset import collate, to_model_input
    from lsvit.inference import checkpoint_dataset, discover_unlabelled

    model, meta = build_from_checkpoint(run / "best")
    ds = checkpoint_dataset(meta, discover_unlabelled(folder), num_clips=2, num_crops=3)
    with torch.no_grad():
        batch = collate([ds[i] for i in range(len(ds))])
        x = to_model_input(batch["inputs"], batch["color"])
        singles = torch.stack([model(x[:, v]).softmax(-1) for v in range(6)])
    assert torch.allclose(multi["probs"], singles.mean(0), atol=1e-5)
    single = predict(run / "best", folder, progress=False)
    assert not torch.allclose(single["probs"], multi["probs"])


def test_evaluate_tool_on_a_labelled_folder(hmdb_run, mini_hmdb51, tmp_path):
    run, _ = hmdb_run
    out = subprocess.run([sys.executable, str(ROOT / "tools/evaluate.py"), f"checkpoint={run / 'best'}",
                          f"data_root={mini_hmdb51 / 'videos'}", f"out_dir={tmp_path / 'ev'}", "num_workers=0"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "40 videos, 1 view(s)" in out.stdout
    metrics = json.loads((tmp_path / "ev" / "eval_metrics.json").read_text())
    assert metrics["eval/num_samples"] == 40 and metrics["views"] == 1
    from lsvit.inference import evaluate_checkpoint

    with pytest.raises(LsvitError, match="exactly one of data_root"):
        evaluate_checkpoint(run / "best")


# ------------------------------------------------------------------------------------------ split benchmark
BENCH = ["data.num_frames=4", "data.image_size=32", "data.val_ratio=0.25", "model.model_name=lsvit_test",
         "model.smif_window=3", "model.drop_path_rate=0.0", "engine.epochs=2", "engine.batch_size=4",
         "engine.num_workers=0", "engine.device=cpu", "engine.mixed_precision=no", "optim.lr=1e-3",
         "optim.head_lr_mult=1.0", "eval.num_clips=2"]


def _bench_cmd(root: Path, out: Path, *extra: str) -> list[str]:
    return [str(ROOT / "tools/benchmark_hmdb51.py"), f"data.root={root}", f"benchmark.out_dir={out}", *BENCH, *extra]


def _results(out: Path) -> list[list[str]]:
    return [ln.split(",") for ln in (out / "results.csv").read_text().splitlines()]


@pytest.fixture(scope="module")
def bench_one_process(mini_hmdb51, tmp_path_factory) -> Path:
    """``tools/benchmark_hmdb51.py`` over every split in one process: its out_dir (shared by the tabulation test
    and the two-process comparison, which would otherwise run the same benchmark again)."""
    out = tmp_path_factory.mktemp("bench") / "bench"
    res = subprocess.run([sys.executable, *_bench_cmd(mini_hmdb51, out)], capture_output=True, text=True,
                         cwd=out.parent)
    assert res.returncode == 0, res.stderr[-3000:]
    return out


def test_benchmark_tool_tabulates_every_split(mini_hmdb51, bench_one_process):
    out = bench_one_process
    rows = _results(out)
    assert rows[0][:4] == ["split", "top1", "top5", "macro_f1"] and [r[0] for r in rows[1:]] == \
        ["1", "2", "3", "mean", "std"]
    top1 = [float(r[1]) for r in rows[1:4]]
    assert float(rows[4][1]) == pytest.approx(np.mean(top1), abs=1e-6)
    assert float(rows[5][1]) == pytest.approx(np.std(top1, ddof=1), abs=1e-6)
    for s, r in zip((1, 2, 3), rows[1:4]):
        summary = json.loads((out / f"split{s}" / "summary.json").read_text())
        assert float(r[1]) == pytest.approx(summary["test_metrics"]["test/top1"], abs=1e-6)
        assert r[8] == "2"  # views
    md = (out / "results.md").read_text()
    assert "mean ± std" in md and "commit: `" in md and "data.split" in md
    # resume: finished splits are not trained again (in-process: the same function the tool calls)
    import lsvit.engine
    from lsvit.split_benchmark import run_split_benchmark

    cfg = compose("benchmark_hmdb51", [f"data.root={mini_hmdb51}", f"benchmark.out_dir={out}", *BENCH, "resume=true"])
    trained = []
    real_train = lsvit.engine.train
    lsvit.engine.train = lambda c: trained.append(c) or real_train(c)
    try:
        again = run_split_benchmark(cfg)
    finally:
        lsvit.engine.train = real_train
    assert trained == [] and [round(r["top1"], 6) for r in again["rows"]] == [float(r[1]) for r in rows[1:4]]


@pytest.mark.slow
def test_benchmark_two_processes_equal_one(mini_hmdb51, bench_one_process, tmp_path):
    one, two = bench_one_process, tmp_path / "two"
    split = ["benchmark.splits=[1,2]"]
    accelerate = Path(sys.executable).with_name("accelerate")
    r2 = subprocess.run([str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--main_process_port",
                         "29541", *_bench_cmd(mini_hmdb51, two, *split)], capture_output=True, text=True, cwd=tmp_path)
    assert r2.returncode == 0, r2.stderr[-3000:]
    a, b = _results(one), _results(two)
    assert [r[0] for r in b[1:3]] == ["1", "2"]
    assert [r[:8] for r in a[1:3]] == [r[:8] for r in b[1:3]]  # split, test top1/top5/F1, val top1, epochs, count
    sa = json.loads((one / "split2" / "summary.json").read_text())
    sb = json.loads((two / "split2" / "summary.json").read_text())
    assert sb["num_processes"] == 2
    for k, v in sa["test_metrics"].items():
        assert sb["test_metrics"][k] == pytest.approx(v, rel=1e-5, abs=1e-6), k
    preds = [(d / "split2" / "test_predictions.csv").read_text() for d in (one, two)]
    assert preds[0] == preds[1]
