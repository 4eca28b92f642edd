"""The engine: optimizer groups, schedules, metrics, device/precision, and tiny end-to-end runs."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import timm
import torch
from omegaconf import DictConfig, OmegaConf

from lsvit import LsvitError
from lsvit.checkpoint.meta import read_meta
from lsvit.device import resolve_precision
from lsvit.engine import train
from lsvit.engine.optim import cosine_with_warmup, param_groups
from lsvit.inference import folder_accuracy, predict, rows_to_csv, run_inference
from lsvit.metrics import classification_metrics

ROOT = Path(__file__).resolve().parents[1]


def test_param_groups_no_decay_on_norms_biases_tokens_and_faster_head():
    m = timm.create_model("lsvit_test", num_classes=3, num_frames=4, smif_window=3)
    groups = {g["name"]: g for g in param_groups(m, lr=1e-4, weight_decay=0.05, head_lr_mult=10)}
    names = {id(p): n for n, p in m.named_parameters()}
    nd = {names[id(p)] for p in groups["backbone_no_decay"]["params"]}
    assert {"pos_embed", "cls_token", "norm.weight", "blocks.0.attn.qkv.bias", "smif.alpha", "lmi.0.time_pos"} <= nd
    assert "blocks.0.attn.qkv.weight" in {names[id(p)] for p in groups["backbone"]["params"]}
    assert groups["head"]["lr"] == pytest.approx(1e-3) and groups["backbone_no_decay"]["weight_decay"] == 0
    assert sum(len(g["params"]) for g in groups.values()) == len(list(m.parameters()))


def test_cosine_warmup_shape():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = cosine_with_warmup(opt, total_steps=100, steps_per_epoch=10, warmup_epochs=1, min_lr_ratio=0.0)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] < lrs[5] < lrs[10] and max(lrs) == pytest.approx(1.0, abs=0.01) and lrs[-1] < 0.01


def test_metrics_known_values():
    logits = torch.tensor([[5.0, 1, 0], [0, 5, 1], [0, 1, 5], [5, 1, 0], [0, 0, 1.0]])
    labels = torch.tensor([0, 1, 1, 2, -1])  # the -1 stand-in is left out
    m = classification_metrics(logits, labels, "val/")
    assert m["val/top1"] == pytest.approx(0.5) and m["val/num_samples"] == 4
    assert m["val/top5"] == 1.0
    # per-class F1: c0 2/3, c1 2/3, c2 0 -> 4/9
    assert m["val/macro_f1"] == pytest.approx(4 / 9)
    # the reports' macro average is the same number (one definition)
    from lsvit.metrics import confusion_matrix
    from lsvit.reports import per_class_table

    cm = confusion_matrix(logits.argmax(1), labels, 3).numpy()
    macro = next(r for r in per_class_table(cm, ["a", "b", "c"]) if r["class"] == "macro avg")
    assert macro["f1"] == pytest.approx(4 / 9)
    # a fourth class that is neither a label nor a prediction is not scored: still 4/9 (not 4/12, as it would be
    # averaged in with F1 = 0), in the training metrics and in the reports alike
    absent = torch.cat([logits, torch.full((len(logits), 1), -10.0)], 1)
    assert classification_metrics(absent, labels, "val/")["val/macro_f1"] == pytest.approx(4 / 9)
    cm4 = confusion_matrix(absent.argmax(1), labels, 4).numpy()
    macro4 = next(r for r in per_class_table(cm4, ["a", "b", "c", "d"]) if r["class"] == "macro avg")
    assert macro4["f1"] == pytest.approx(4 / 9)


def test_precision_resolution():
    assert resolve_precision("auto", "cpu") == "no"
    assert resolve_precision("bf16", "cpu") == "bf16"
    with pytest.raises(LsvitError, match="fp16"):
        resolve_precision("fp16", "cpu")


# ------------------------------------------------------------------------------------------- end to end
def test_train_best_inference_csv(tiny_cfg, tiny_dataset, tmp_path):
    summary = train(tiny_cfg())
    run = Path(summary["run_dir"])
    meta = read_meta(run / "best")
    assert meta["class_names"] == sorted(p.name for p in (tiny_dataset / "train").iterdir() if p.is_dir())
    assert meta["data"]["num_frames"] == 4 and meta["model"]["name"] == "lsvit_test"
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert {"train/loss", "val/loss", "val/top1", "val/top5", "val/macro_f1", "lr"} <= set(rows[0])
    assert (run / "last" / "trainer_state.json").exists() and (run / "report.md").exists()
    # inference rebuilds everything from best/ alone
    result = predict(run / "best", tiny_dataset / "test", batch_size=3, progress=False)
    assert result["ids"] == sorted(result["ids"]) and len(result["ids"]) == 8
    assert torch.allclose(result["probs"].sum(1), torch.ones(8), atol=1e-5)
    out = tmp_path / "sub.csv"
    assert run_inference(str(run / "best"), str(tiny_dataset / "test"), str(out), topk=2, probs=True) == 0
    lines = list(csv.reader(open(out)))
    assert lines[0][:2] == ["id", "class"] and "prob_grow" in lines[0] and lines[0][-2:] == ["top2", "top2_prob"]
    assert lines[1][0] == "grow/grow_0000" and lines[1][1] in meta["class_names"]
    preds = [result["class_names"][int(p.argmax())] for p in result["probs"]]
    truth = [i.split("/")[0] for i in result["ids"]]
    assert folder_accuracy(result) == pytest.approx(sum(a == b for a, b in zip(preds, truth)) / 8)
    # known values with fewer videos than classes (above, 8 videos = 8 classes): 1 of 2 videos right -> 1/2, not 1/8
    two = {"class_names": result["class_names"], "ids": [f"{c}/v" for c in result["class_names"][:2]],
           "probs": torch.eye(8)[[0, 0]]}
    assert folder_accuracy(two) == pytest.approx(1 / 2)
    assert folder_accuracy({**result, "ids": [i.split("/")[1] for i in result["ids"]]}) is None  # no class folders


def test_same_seed_same_metrics(tiny_cfg, tmp_path):
    a = train(tiny_cfg("engine.epochs=1", f"run_dir={tmp_path}/a"))
    b = train(tiny_cfg("engine.epochs=1", f"run_dir={tmp_path}/b"))
    assert a["last_metrics"]["val/loss"] == b["last_metrics"]["val/loss"]
    assert a["last_metrics"]["train/loss"] == b["last_metrics"]["train/loss"]


def test_resume_continues_at_the_right_epoch(tiny_cfg, tmp_path):
    full = train(tiny_cfg("engine.epochs=3", f"run_dir={tmp_path}/full"))
    part = tmp_path / "part"
    train(tiny_cfg("engine.epochs=3", f"run_dir={part}", "engine.stop_after_epochs=1"))
    state = json.loads((part / "last" / "trainer_state.json").read_text())
    assert state["epoch"] == 1
    resumed = train(tiny_cfg("engine.epochs=3", f"run_dir={part}", "resume=true"))
    rows = list(csv.DictReader(open(part / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert resumed["last_metrics"]["val/loss"] == pytest.approx(full["last_metrics"]["val/loss"], rel=1e-5)
    assert resumed["best_epoch"] == full["best_epoch"]


def test_grad_accum_wandb_offline_and_no_silent_overwrite(tiny_cfg, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    summary = train(tiny_cfg("engine.epochs=1", "engine.grad_accum=2", "logger=wandb"))
    # 24 training videos / batch 4 = 6 batches -> 3 optimizer steps with accumulation over 2
    assert summary["last_metrics"]["step"] == 3
    assert list((tmp_path / "run" / "wandb").glob("offline-run-*"))
    with pytest.raises(LsvitError, match="already holds a run"):
        train(tiny_cfg("engine.epochs=1"))


def test_broken_video_in_training_is_skipped_and_reported(tiny_cfg, tiny_dataset, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_dataset / "train", data)
    (data / "grow" / "zz_broken.mp4").write_bytes(b"")
    (data / "shrink" / "notes.avi").write_text("not a video")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # a clean validation folder: both broken files are met in training, where readable videos stand in for
        # them; 34 training videos at batch 2 leave none out of the epoch
        summary = train(tiny_cfg(f"data.root={data}", f"data.val_root={tiny_dataset}/test", "engine.epochs=1",
                                 "engine.batch_size=2"))
    assert any("zz_broken.mp4: empty file" in s for s in summary["skipped"])
    assert any("notes.avi: unreadable" in s for s in summary["skipped"])
    assert summary["last_metrics"]["step"] == 17  # every batch full: the stand-ins kept the epoch's length
    assert math.isfinite(summary["last_metrics"]["val/loss"])


def test_checkpoint_of_another_class_set_is_one_clear_error(tiny_cfg, tiny_dataset, tmp_path):
    summary = train(tiny_cfg("engine.epochs=1", "engine.mixed_precision=bf16"))  # CPU autocast path
    assert math.isfinite(summary["last_metrics"]["val/loss"])
    data = tmp_path / "three"
    for c in ("grow", "shrink", "move_up"):
        shutil.copytree(tiny_dataset / "train" / c, data / c)
    with pytest.raises(LsvitError, match="classes"):
        train(tiny_cfg(f"data.root={data}", f"init_from={tmp_path}/run/best", f"run_dir={tmp_path}/ft"))


def _run(args: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300, **kw)


def test_tools_train_and_inference_cli(tiny_dataset, tmp_path):
    from tests.conftest import tiny_overrides

    run = tmp_path / "cli"
    env = dict(__import__("os").environ, APPCONFIG__EPOCHS="1", APPCONFIG__BATCH_SIZE="999")
    # the command line wins over the environment (batch size), the environment fills the rest (epochs)
    args = [a for a in tiny_overrides(tiny_dataset / "train", run) if not a.startswith("engine.epochs=")]
    r = _run(["tools/train.py", *args], env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(list(csv.DictReader(open(run / "metrics.csv")))) == 1
    out = tmp_path / "s.csv"
    r = _run(["tools/inference.py", f"checkpoint={run}/best", f"data_root={tiny_dataset}/test", f"output={out}"])
    assert r.returncode == 0, r.stderr[-2000:]
    assert out.read_text().startswith("id,class\n")
    # bad input: one line, no traceback
    r = _run(["tools/train.py", f"data.root={tmp_path}/nope", f"run_dir={tmp_path}/x", "engine.device=cpu"])
    assert r.returncode == 2 and "no such folder" in r.stderr and "Traceback" not in r.stderr
    r = _run(["tools/inference.py", f"checkpoint={tmp_path}/nope", f"data_root={tiny_dataset}/test"])
    assert r.returncode == 2 and "no such folder" in r.stderr and "Traceback" not in r.stderr


def test_inference_lists_unreadable_videos_and_fails_only_when_nothing_reads(tiny_cfg, tiny_dataset, tmp_path, capsys):
    train(tiny_cfg("engine.epochs=1"))
    best = tmp_path / "run" / "best"
    data = tmp_path / "test"
    shutil.copytree(tiny_dataset / "test" / "grow", data / "grow")
    (data / "grow" / "broken.mp4").write_bytes(b"junk" * 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert run_inference(str(best), str(data), str(tmp_path / "o.csv")) == 0
        err = capsys.readouterr().err
        assert "broken.mp4" in err
        assert len(open(tmp_path / "o.csv").read().splitlines()) == 2  # header + the readable one
        only_bad = tmp_path / "bad"
        only_bad.mkdir()
        (only_bad / "x.mp4").write_bytes(b"")
        assert run_inference(str(best), str(only_bad), str(tmp_path / "b.csv")) == 1


# every family's model at test size (the same config keys as the presets, small values)
TEST_SIZES = {"LSViT": dict(embed_dim=32, depth=2, num_heads=2, patch_size=8),
              "KeypointLSTM": dict(hidden_sizes=[8, 8])}


def _data_paths(cfg, tiny_dataset, mini_hmdb51, tiny_keypoints) -> list[str]:
    """Where each data module's preset finds tiny data of its kind."""
    target = cfg.data._target_
    if "HMDB51" in target:
        return [f"data.root={mini_hmdb51}"]
    if "Keypoint" in target:
        return [f"data.path={tiny_keypoints}"] + ([f"data.test_path={tiny_keypoints}"] if cfg.data.test_path else [])
    return [f"data.root={tiny_dataset}/train"] + ([f"data.test_root={tiny_dataset}/test"] if cfg.data.test_root else [])


def _assert_scheduler_follows_config(sched: Any, sched_cfg: DictConfig, total_steps: int,
                                     steps_per_epoch: int) -> None:
    """Assert that a built scheduler carries the settings of its config (the factories' defaults must not win).

    Args:
        sched: the scheduler the config's factory built.
        sched_cfg: the composed ``scheduler`` config group (``_target_`` and the factory's arguments).
        total_steps: the ``total_steps`` the factory was called with.
        steps_per_epoch: the ``steps_per_epoch`` the factory was called with.
    """
    from torch.optim.lr_scheduler import LambdaLR, OneCycleLR, ReduceLROnPlateau

    kind = sched_cfg._target_.rsplit(".", 1)[-1]
    if kind == "plateau":
        assert isinstance(sched, ReduceLROnPlateau), kind
        assert (sched.mode, sched.factor, sched.patience) == (sched_cfg.mode, sched_cfg.factor, sched_cfg.patience)
        assert sched.min_lrs == [sched_cfg.get("min_lr", 0.0)] * len(sched.optimizer.param_groups)
    elif kind == "one_cycle":
        assert isinstance(sched, OneCycleLR) and sched.total_steps == total_steps, kind
        for g in sched.optimizer.param_groups:
            assert g["initial_lr"] == pytest.approx(g["max_lr"] / sched_cfg.div_factor)
            assert g["min_lr"] == pytest.approx(g["initial_lr"] / sched_cfg.final_div_factor)
        # the rate peaks pct_start of the way through (no gradients: the optimizer steps change no weight)
        lrs = [sched.get_last_lr()[0]]
        for _ in range(total_steps - 1):
            sched.optimizer.step()
            sched.step()
            lrs.append(sched.get_last_lr()[0])
        peak, top = round(sched_cfg.pct_start * total_steps) - 1, sched.optimizer.param_groups[0]["max_lr"]
        assert lrs[peak] == pytest.approx(top) and max(lrs[peak - 1], lrs[peak + 1]) < 0.99 * top
    elif kind == "cosine_with_warmup":
        assert isinstance(sched, LambdaLR), kind
        factor = sched.lr_lambdas[0]
        warm = round(sched_cfg.warmup_epochs * steps_per_epoch)
        assert factor(0) == pytest.approx(1 / (warm + 1)) and factor(warm) == pytest.approx(1.0)
        assert factor(total_steps) == pytest.approx(sched_cfg.min_lr_ratio)
    elif kind == "constant":
        assert isinstance(sched, LambdaLR), kind
        assert [sched.lr_lambdas[0](k) for k in (0, steps_per_epoch, total_steps)] == [1.0, 1.0, 1.0]
    else:
        raise AssertionError(f"no check for the scheduler {sched_cfg._target_}: add one here")


def test_every_preset_composes_and_builds(tiny_dataset, mini_hmdb51, tiny_keypoints, tmp_path):
    from hydra.utils import get_class, get_method, instantiate

    from lsvit.checkpoint.meta import model_spec
    from lsvit.config import compose
    from lsvit.engine.optim import build_optimizer
    from lsvit.models import FAMILIES

    presets = sorted(p.stem for p in (ROOT / "configs" / "experiment").glob("*.yaml"))
    assert {"demo", "hmdb51_lsvit_base", "signs_keypoint_lstm"} <= set(presets)
    models = sorted(p.stem for p in (ROOT / "configs" / "model").glob("*.yaml"))
    scheds = sorted(p.stem for p in (ROOT / "configs" / "scheduler").glob("*.yaml"))
    optims = sorted(p.stem for p in (ROOT / "configs" / "optim").glob("*.yaml"))
    combos = [[f"experiment={p}"] for p in presets] + [[f"model={m}"] for m in models] + \
        [[f"scheduler={s}", f"optim={o}"] for s, o in zip(scheds * 2, optims + optims[:1])] + \
        [["debug=fast"], ["debug=cpu"], ["logger=wandb"]] + \
        [["scheduler=plateau", "scheduler.factor=0.3", "scheduler.patience=5"],
         ["scheduler=onecycle", "scheduler.pct_start=0.5", "scheduler.div_factor=10",
          "scheduler.final_div_factor=100"],
         ["scheduler=cosine", "scheduler.warmup_epochs=0.4", "scheduler.min_lr_ratio=0.1"]]  # not the defaults
    for extra in combos:
        cfg = compose("train", [*extra, f"run_dir={tmp_path}/r"])
        if "Feature" in cfg.data._target_ or cfg.model.model_name in ("bilstm_attention", "embedding_mean_probe"):
            continue  # built on a real embedding cache: tests/test_bilstm.py::test_every_bilstm_preset_composes_and_builds
        if cfg.model.model_name.startswith("keypoint") and "Keypoint" not in cfg.data._target_:
            extra = [*extra, "data=keypoints"]  # a keypoint model trains on keypoints
            cfg = compose("train", [*extra, f"run_dir={tmp_path}/r"])
        cfg = compose("train", [*extra, f"run_dir={tmp_path}/r",
                                *_data_paths(cfg, tiny_dataset, mini_hmdb51, tiny_keypoints)])
        dm = instantiate(cfg.data)
        assert dm.class_names and dm.meta()["num_frames"] == cfg.data.num_frames, extra
        # a registered family whose checkpoint can be rebuilt, at test size (same config keys), not the preset's size
        spec = model_spec(OmegaConf.to_container(cfg.model, resolve=True))
        family = FAMILIES[spec["name"]].cls
        model = instantiate(cfg.model, num_classes=len(dm.class_names), pretrained=False, **TEST_SIZES[family.__name__])
        assert isinstance(model, family) and spec["name"] == cfg.model.model_name, extra
        assert getattr(model, "num_frames", cfg.data.num_frames) == cfg.data.num_frames, extra
        opt = build_optimizer(instantiate(cfg.optim.optimizer), model, cfg.optim.lr, cfg.optim.weight_decay,
                              cfg.optim.head_lr_mult, cfg.optim.head_lr)
        assert type(opt) is get_class(cfg.optim.optimizer._target_), extra
        lrs = {g["name"]: g["lr"] for g in opt.param_groups}
        assert lrs["backbone"] == cfg.optim.lr and lrs["head"] == pytest.approx(cfg.optim.lr * cfg.optim.head_lr_mult)
        sched = instantiate(cfg.scheduler)(optimizer=opt, total_steps=10, steps_per_epoch=5)
        assert sched is not None and cfg.scheduler._target_.endswith(get_method(cfg.scheduler._target_).__name__)
        _assert_scheduler_follows_config(sched, cfg.scheduler, total_steps=10, steps_per_epoch=5)


def test_env_overrides():
    from lsvit.config import merge_env_overrides

    env = {"APPCONFIG__BATCH_SIZE": "16", "APPCONFIG__LR": "0.01", "APPCONFIG__SMIF_WINDOW": "3", "HOME": "/x"}
    out = merge_env_overrides(["optim.lr=0.5"], env)
    assert out == ["optim.lr=0.5", "++engine.batch_size=16", "++model.smif_window=3"]
    # Hydra's flags keep working wherever they stand: the environment's overrides join the command line's own
    # (issue 24.11)
    assert merge_env_overrides(["--cfg", "job", "experiment=demo"], {"APPCONFIG__EPOCHS": "3"}) == \
        ["--cfg", "job", "experiment=demo", "++engine.epochs=3"]
    assert merge_env_overrides(["experiment=demo", "--cfg", "job"], {"APPCONFIG__EPOCHS": "3"}) == \
        ["experiment=demo", "++engine.epochs=3", "--cfg", "job"]
    with pytest.raises(LsvitError, match="APPCONFIG__BATCHSIZE"):
        merge_env_overrides([], {"APPCONFIG__BATCHSIZE": "3"})
    # two names of one key: one line naming both, not one of them silently winning
    with pytest.raises(LsvitError, match=r"APPCONFIG__CHECKPOINT_DIR=a and APPCONFIG__RUN_DIR=b both set run_dir"):
        merge_env_overrides([], {"APPCONFIG__CHECKPOINT_DIR": "a", "APPCONFIG__RUN_DIR": "b"})
    assert merge_env_overrides([], {"APPCONFIG__CHECKPOINT_DIR": "a", "APPCONFIG__RUN_DIR": "a"}) == ["++run_dir=a"]


@pytest.mark.parametrize("sched", ["plateau", "onecycle", "cosine"])
def test_schedulers_step_as_they_should(tiny_cfg, tmp_path, sched, monkeypatch):
    """The learning rate after each epoch equals a reference schedule stepped the same way:
    once per optimizer step (onecycle, cosine) or once per evaluation on the monitored metric (plateau)."""
    from torch.optim.lr_scheduler import ReduceLROnPlateau

    from lsvit.engine.optim import cosine_with_warmup, one_cycle, plateau

    stepped_on: list[float] = []  # every value a ReduceLROnPlateau is stepped on during training
    real_step = ReduceLROnPlateau.step

    def recording_step(self: ReduceLROnPlateau, metrics: float, *args: Any, **kwargs: Any) -> None:
        stepped_on.append(float(metrics))
        real_step(self, metrics, *args, **kwargs)

    monkeypatch.setattr(ReduceLROnPlateau, "step", recording_step)
    extra = ["scheduler.patience=0"] if sched == "plateau" else []
    s = train(tiny_cfg("engine.epochs=3", f"scheduler={sched}", "optim=radam", "optim.lr=0.01",
                       f"run_dir={tmp_path}/{sched}", *extra))
    monkeypatch.undo()  # the reference below steps unrecorded
    rows = list(csv.DictReader(open(Path(s["run_dir"]) / "metrics.csv")))
    steps = [int(r["step"]) for r in rows]
    assert steps == [6, 12, 18]  # 24 training videos, batch 4
    # plateau is stepped on engine.monitor (val/top1 here) once per evaluation: the LR trace alone cannot show it,
    # since val/top1 and val/loss may stall at the same epoch (they do in this run)
    monitored = [float(r["val/top1"]) for r in rows] if sched == "plateau" else []
    assert stepped_on == pytest.approx(monitored, rel=1e-5)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.01)
    if sched == "plateau":
        ref = plateau(opt, 18, 6, mode="max", patience=0)
        expected = []
        for r in rows:  # a row's lr is the one its epoch trained with: stepped on the metric after the row
            expected.append(opt.param_groups[0]["lr"])
            ref.step(float(r["val/top1"]))
    else:
        ref = one_cycle(opt, 18, 6) if sched == "onecycle" else cosine_with_warmup(opt, 18, 6)
        expected = []
        for step in range(1, 19):
            opt.step()
            ref.step()
            if step % 6 == 0:
                expected.append(opt.param_groups[0]["lr"])
    assert [float(r["lr"]) for r in rows] == pytest.approx(expected, rel=1e-5)
    assert len(set(expected)) > 1 or sched == "plateau"  # the schedule moves (plateau: only if val stalls)


def test_early_stopping(tiny_cfg):
    # lr 0: the monitored metric cannot improve after the first evaluation
    s = train(tiny_cfg("engine.epochs=6", "engine.patience=2", "optim.lr=0.0", "scheduler=plateau"))
    assert s["stopped_early"] and s["epochs_run"] == 3 and s["best_epoch"] == 1


# ------------------------------------------------------------------------------------------- settings reach the loop
def test_gradient_clipping_on_and_off():
    from lsvit.device import build_accelerator
    from lsvit.engine.trainer import grad_norm

    acc = build_accelerator("cpu", "no")
    model = torch.nn.Linear(4, 2)
    for clip, expect_clipped in ((None, False), (0.5, True)):
        model.zero_grad()
        (model(torch.full((3, 4), 10.0)).square().sum()).backward()
        before = torch.nn.utils.get_total_norm([p.grad for p in model.parameters()])
        norm = grad_norm(model, acc, clip, "device")
        after = torch.nn.utils.get_total_norm([p.grad for p in model.parameters()])
        assert norm == pytest.approx(before.item(), rel=1e-5)  # the guard sees the norm before clipping
        assert (after.item() == pytest.approx(0.5, rel=1e-4)) if expect_clipped else after == before


def _total_grad_norm(model: torch.nn.Module) -> float:
    """The L2 norm of all of ``model``'s gradients together.

    Args:
        model: a module after ``backward``.

    Returns:
        The norm, 0.0 when no parameter has a gradient.
    """
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    return float(torch.nn.utils.get_total_norm(grads)) if grads else 0.0


def test_label_smoothing_and_eval_batch_size_reach_the_loop(tiny_cfg, monkeypatch):
    """engine.label_smoothing, engine.eval_batch_size and engine.clip_grad reach the training loop."""
    import lsvit.engine.trainer as trainer

    seen: dict = {"smoothing": [], "batches": [], "norms": []}
    real_criterion, real_loader, real_grad_norm = trainer.build_criterion, trainer.make_loader, trainer.grad_norm

    def recording_grad_norm(model: torch.nn.Module, *args: Any) -> torch.Tensor | None:
        # records the norm the guard sees (before clipping) and that of the gradients the optimizer steps with
        norm = real_grad_norm(model, *args)
        seen["norms"].append((float(norm), _total_grad_norm(model)))
        return norm

    monkeypatch.setattr(trainer, "build_criterion",
                        lambda ls: seen["smoothing"].append(ls) or real_criterion(ls))
    monkeypatch.setattr(trainer, "make_loader",
                        lambda ds, bs, **kw: seen["batches"].append((ds.train, bs)) or real_loader(ds, bs, **kw))
    monkeypatch.setattr(trainer, "grad_norm", recording_grad_norm)
    clip = 1e-3  # far below this model's gradient norms: every step is clipped
    train(tiny_cfg("engine.epochs=1", "engine.label_smoothing=0.3", "engine.eval_batch_size=3",
                   f"engine.clip_grad={clip}"))
    assert seen["smoothing"] == [0.3]
    assert seen["batches"] == [(True, 4), (False, 3)]
    # engine.clip_grad reaches the step: every optimizer step's gradients are clipped to it
    assert len(seen["norms"]) == 6  # 24 training videos, batch 4
    assert all(before > 10 * clip and after == pytest.approx(clip, rel=1e-3) for before, after in seen["norms"]), \
        seen["norms"]
    # and what the criterion computes with it: (1 - a) * CE + a * mean over classes of -log p
    logits, y = torch.tensor([[2.0, 0.0, -1.0]]), torch.tensor([0])
    logp = logits.log_softmax(1)
    assert real_criterion(0.3)(logits, y).item() == pytest.approx((0.7 * -logp[0, 0] - 0.3 * logp.mean()).item())


@dataclass
class _CollateRecordingWorkers:
    """A collate function that leaves a mark, per loader, in the worker process that calls it.

    A module-level class, so that it pickles for worker processes started by ``spawn`` or ``forkserver``.

    Attributes:
        collate: the data module's own collate function, applied unchanged.
        marks: the folder for the marks: one empty file ``<loader>-<pid>`` per worker process that collated.
        loader: ``train`` or ``val``.
    """

    collate: Callable[[list[Any]], Any]
    marks: Path
    loader: str

    def __call__(self, samples: list[Any]) -> Any:
        if torch.utils.data.get_worker_info() is not None:
            (self.marks / f"{self.loader}-{os.getpid()}").touch()
        return self.collate(samples)


def test_loader_workers_change_nothing(tiny_cfg, tmp_path, monkeypatch):
    import lsvit.engine.trainer as trainer

    a = train(tiny_cfg("engine.epochs=1", f"run_dir={tmp_path}/w0"))
    marks = tmp_path / "worker_marks"
    marks.mkdir()
    real_loader = trainer.make_loader

    def marking_loader(ds: Any, bs: int, collate_fn: Callable[[list[Any]], Any], **kw: Any) -> Any:
        collate = _CollateRecordingWorkers(collate_fn, marks, "train" if ds.train else "val")
        return real_loader(ds, bs, collate_fn=collate, **kw)

    monkeypatch.setattr(trainer, "make_loader", marking_loader)
    b = train(tiny_cfg("engine.epochs=1", "engine.num_workers=2", f"run_dir={tmp_path}/w2"))
    for key in ("train/loss", "val/loss", "val/top1"):
        assert a["last_metrics"][key] == b["last_metrics"][key], key
    # ... and the second run did load its batches in worker processes (equal metrics alone would also hold if
    # engine.num_workers were ignored): both loaders, in processes other than this one
    pids = {name: {int(m.name.split("-")[1]) for m in marks.glob(f"{name}-*")} for name in ("train", "val")}
    assert pids["train"] and pids["val"] and os.getpid() not in pids["train"] | pids["val"], pids


def test_predict_strict_stops_at_an_unreadable_video(tiny_cfg, tiny_dataset, tmp_path):
    from lsvit.data.readers import VideoReadError

    train(tiny_cfg("engine.epochs=1"))
    data = tmp_path / "test"
    shutil.copytree(tiny_dataset / "test" / "grow", data / "grow")
    (data / "grow" / "broken.mp4").write_bytes(b"junk" * 10)
    with pytest.raises(VideoReadError, match="broken.mp4"):
        predict(tmp_path / "run" / "best", data, strict=True, progress=False)


def test_topk_columns_are_clamped_to_the_number_of_classes():
    result = {"class_names": ["a", "b", "c"], "ids": ["v1"], "probs": torch.tensor([[0.2, 0.5, 0.3]])}
    header, row = rows_to_csv(result, topk=10).splitlines()
    assert header == "id,class,top1,top1_prob,top2,top2_prob,top3,top3_prob"
    assert row == "v1,b,b,0.500000,c,0.300000,a,0.200000"


def test_deterministic_and_matmul_precision_are_applied_once_per_run(tiny_keypoints, tmp_path, monkeypatch):
    from lsvit.config import compose
    from lsvit.device import apply_numerics

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)

    def run(name: str, *extra: str) -> dict:
        return train(compose("train", ["experiment=signs_keypoint_lstm", f"data.path={tiny_keypoints}",
                                       "data.num_frames=8", f"run_dir={tmp_path}/{name}", "engine.epochs=1",
                                       "engine.batch_size=4", "engine.device=cpu", "engine.mixed_precision=no",
                                       "model.hidden_sizes=[8]", *extra]))

    try:
        a = run("a", "engine.deterministic=true", "engine.matmul_precision=medium")
        assert torch.are_deterministic_algorithms_enabled() and not torch.is_deterministic_algorithms_warn_only_enabled()
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8" and torch.get_float32_matmul_precision() == "medium"
        b = run("b", "engine.deterministic=true")
        assert a["last_metrics"]["train/loss"] == b["last_metrics"]["train/loss"]  # the same run, the same numbers
        run("c")  # the defaults: a later run in this process does not inherit the previous run's numerics
        assert not torch.are_deterministic_algorithms_enabled() and torch.get_float32_matmul_precision() == "highest"
        assert not torch.backends.cudnn.deterministic
        run("d", "engine.deterministic=warn")
        assert torch.is_deterministic_algorithms_warn_only_enabled()
        for bad, msg in (("engine.deterministic=maybe", "engine.deterministic=maybe: choose true, false or warn"),
                         ("engine.matmul_precision=low", "engine.matmul_precision=low: choose one of")):
            with pytest.raises(LsvitError, match=msg):
                run("e", bad)
    finally:
        apply_numerics()


def _keypoint_run(tiny_keypoints, run_dir, *extra):
    from lsvit.config import compose

    return compose("train", ["experiment=signs_keypoint_lstm", f"data.path={tiny_keypoints}", "data.num_frames=8",
                             f"run_dir={run_dir}", "engine.epochs=2", "engine.batch_size=4", "engine.device=cpu",
                             "engine.mixed_precision=no", "model.hidden_sizes=[8]", *extra])


def test_tensorboard_logger_through_accelerates_trackers(tiny_keypoints, tmp_path, monkeypatch):
    """The writer is faked (TensorBoard is not in this environment's venv; the next test reads real event files
    where it is): what the tracker is asked to write, where, and that a missing TensorBoard is one message."""
    import types

    from lsvit.config import compose
    from lsvit.engine import loggers
    from lsvit.engine.settings import train_settings

    monkeypatch.setattr(loggers, "is_tensorboard_available", lambda: False)
    with pytest.raises(LsvitError, match="logger=tensorboard needs TensorBoard, which is not installed: pip install"):
        train(_keypoint_run(tiny_keypoints, tmp_path / "missing", "logger=tensorboard"))
    assert not (tmp_path / "missing").exists()  # refused before any work

    writers = []

    class Writer:
        def __init__(self, log_dir, **kwargs):
            self.log_dir, self.kwargs, self.scalars, self.hparams, self.closed = log_dir, kwargs, [], [], False
            writers.append(self)

        def add_scalar(self, tag, value, global_step=None, **kw):
            self.scalars.append((tag, value, global_step))

        def add_text(self, *a, **k):
            pass

        def add_hparams(self, hparams, metric_dict, run_name=None):
            assert None not in hparams.values()  # TensorBoard's hparams refuse None
            self.hparams.append((hparams, run_name))

        def flush(self):
            pass

        def close(self):
            self.closed = True

    fake = types.ModuleType("torch.utils.tensorboard")
    fake.SummaryWriter = Writer
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
    monkeypatch.setattr(torch.utils, "tensorboard", fake, raising=False)
    monkeypatch.setattr(loggers, "is_tensorboard_available", lambda: True)
    run = tmp_path / "tb"
    train(_keypoint_run(tiny_keypoints, run, "logger=tensorboard", "logger.tensorboard.flush_secs=5"))
    (w,) = writers
    assert w.log_dir == str(run / "tensorboard") and w.kwargs == {"flush_secs": 5, "max_queue": 10} and w.closed
    top1 = [(v, step) for tag, v, step in w.scalars if tag == "val/top1"]
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [step for _, step in top1] == [1, 2]  # one point per epoch
    assert [round(v, 6) for v, _ in top1] == [round(float(r["val/top1"]), 6) for r in rows]
    (hp, run_name), = w.hparams
    assert hp["engine.epochs"] == 2 and hp["data.test_path"] == "null" and run_name == "."
    # with Weights & Biases too; an unknown key is refused by name
    both = compose("train", ["logger=[wandb,tensorboard]"])
    assert train_settings(both).trackers == ["wandb", "tensorboard"]
    with pytest.raises(LsvitError, match="logger.tensorboard.flush: no such setting"):
        train(_keypoint_run(tiny_keypoints, tmp_path / "typo", "logger=tensorboard", "+logger.tensorboard.flush=1"))


def test_tensorboard_event_files_hold_the_epochs(tiny_keypoints, tmp_path):
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed (the dev extra has it)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    train(_keypoint_run(tiny_keypoints, run, "logger=tensorboard"))
    acc = EventAccumulator(str(run / "tensorboard"))
    acc.Reload()
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    events = acc.Scalars("val/top1")
    assert [e.step for e in events] == [1, 2]
    assert [round(e.value, 5) for e in events] == [round(float(r["val/top1"]), 5) for r in rows]
