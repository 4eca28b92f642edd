"""Reliability: broken and unusual inputs, interruptions, unsafe checkpoints, bad configs, NaN, disk."""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch
from conftest import ROOT, tiny_overrides

from lsvit import LsvitError
from lsvit.config import compose
from lsvit.data.readers import VideoReadError, read_clip
from lsvit.data.synthetic import write_video


# ------------------------------------------------------------------------------------------ 1. inputs
def _write_av(path: Path, frames: np.ndarray, codec: str, pix_fmt: str, fmt_in: str) -> Path:
    with av.open(str(path), "w") as out:
        s = out.add_stream(codec, rate=25)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format=fmt_in)):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


def _smooth_frames(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3)).astype(np.uint8), (9, 9), 3)
    return np.stack([np.roll(base, 2 * i, axis=1) for i in range(n)])


@pytest.fixture(scope="module")
def odd_inputs(tmp_path_factory, sample_video) -> dict[str, tuple[Path | tuple[str, ...], np.ndarray | None, str]]:
    """name -> (source, reference frames or None for 'must be reported', reason/kind)."""
    d = tmp_path_factory.mktemp("odd")
    good, ref = sample_video
    out: dict = {}
    (d / "zero.mp4").write_bytes(b"")
    out["zero_byte_mp4"] = (d / "zero.mp4", None, "empty file")
    (d / "text.avi").write_text("this is not a video\n" * 50)
    out["text_named_avi"] = (d / "text.avi", None, "unreadable")
    raw = good.read_bytes()
    (d / "truncated.mp4").write_bytes(raw[: len(raw) * 3 // 10])
    out["truncated_mp4"] = (d / "truncated.mp4", None, "unreadable")  # no index (moov) left: tests/test_data.py
    one = _smooth_frames(1, 48, 64)
    write_video(d / "one_frame.mp4", one)
    out["one_frame"] = (d / "one_frame.mp4", one, "lossy")
    short = _smooth_frames(5, 48, 64, 1)
    write_video(d / "short.mp4", short)
    out["shorter_than_span"] = (d / "short.mp4", short, "lossy")
    gray = _smooth_frames(8, 48, 64, 2)[..., 0]
    out["grayscale"] = (_write_av(d / "gray.mkv", gray, "ffv1", "gray", "gray"), np.repeat(gray[..., None], 3, -1),
                        "exact")
    odd = _smooth_frames(8, 97, 177, 3)
    out["odd_177x97"] = (_write_av(d / "odd.mkv", odd, "ffv1", "bgr0", "rgb24"), odd, "exact")
    folder = d / "frames"
    folder.mkdir()
    frames = _smooth_frames(8, 40, 40, 4)
    for i, f in enumerate(frames, 1):
        if i == 4:
            continue  # a missing index
        cv2.imwrite(str(folder / f"frame_{i:05d}.jpg"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    (folder / "frame_00006.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    out["frame_folder_gap_and_bad_jpeg"] = (tuple(str(p) for p in sorted(folder.iterdir())), frames, "folder")
    return out


def _check(source, ref, kind, num_frames: int = 8, stride: int = 2):
    from lsvit.data.sampling import sample_indices

    pick = lambda n: sample_indices(n, num_frames, stride, "dense", False, None, "loop")  # noqa: E731
    if ref is None:
        with pytest.raises(VideoReadError) as err:
            read_clip(source, pick)
        # the message starts with the file's path (decoders' own reasons inside it may quote the path too)
        assert str(err.value).startswith(f"{source}: ") and kind in str(err.value), str(err.value)
        return
    got, n = read_clip(source, pick, name="clip")
    assert got.shape[0] == num_frames and got.shape[-1] == 3 and got.dtype == np.uint8
    if isinstance(ref, np.ndarray):
        if kind == "folder":
            return
        idx = pick(n)
        want = ref[np.minimum(idx, len(ref) - 1)]
        err = np.abs(got.astype(int) - want.astype(int)).mean()
        assert err < (0.5 if kind == "exact" else 4.0), err


@pytest.mark.parametrize("name", ["zero_byte_mp4", "text_named_avi", "truncated_mp4", "one_frame",
                                  "shorter_than_span", "grayscale", "odd_177x97", "frame_folder_gap_and_bad_jpeg"])
def test_broken_and_unusual_inputs_decode_right_or_are_named(odd_inputs, name):
    source, ref, kind = odd_inputs[name]
    _check(source, ref, kind)


def test_frame_folder_with_gap_and_unreadable_jpeg(odd_inputs):
    import lsvit.data.readers as readers

    source, frames, _ = odd_inputs["frame_folder_gap_and_bad_jpeg"]
    readers._warned.clear()  # warnings are once per file and process
    with pytest.warns(UserWarning, match="frame_00006.jpg"):
        got, n = read_clip(source, lambda n: list(range(n)), name="frames")
    assert n == 7  # 8 written, index 4 missing: the folder's frames, in order
    assert np.abs(got[3].astype(int) - frames[4].astype(int)).mean() < 3  # frame 5 comes right after 3
    assert np.abs(got[4].astype(int) - got[3].astype(int)).max() == 0  # the bad JPEG borrows its neighbour


def _iscc_videos() -> list[Path]:
    spec = importlib.util.find_spec("iscc_samples")
    if spec is None or spec.origin is None:
        return []
    return sorted((Path(spec.origin).parent / "files" / "video").iterdir())


@pytest.mark.skipif(not _iscc_videos(), reason="iscc-samples is not installed (dev extra)")
@pytest.mark.parametrize("path", _iscc_videos(), ids=lambda p: p.suffix)
def test_real_containers_match_a_sequential_reference_or_are_named(path):
    idx = [0, 7, 14, 21]
    ref = []
    try:  # reference: PyAV decoding every frame in order (no seeking)
        with av.open(str(path)) as c:
            for i, frame in enumerate(c.decode(video=0)):
                if i in idx:
                    ref.append(frame.to_ndarray(format="rgb24"))
                if i >= max(idx):
                    break
    except Exception:
        ref = []
    try:
        got, _ = read_clip(str(path), lambda n: idx)
    except VideoReadError as exc:
        assert str(path) in str(exc) and "unreadable" in str(exc)
        assert len(ref) < len(idx), "a container the reference decodes must not be reported"
        return
    assert len(ref) == len(idx), "frames returned for a container the reference cannot decode"
    assert np.abs(got.astype(int) - np.stack(ref).astype(int)).mean() < 1.0  # the same frames, not neighbours


def test_training_and_inference_survive_a_folder_of_bad_files(tiny_dataset, odd_inputs, tmp_path):
    from lsvit.engine import train
    from lsvit.inference import predict

    data = tmp_path / "data"
    shutil.copytree(tiny_dataset / "train", data)
    bad_names = []
    for cls, name in zip(sorted(os.listdir(data)), ["zero_byte_mp4", "text_named_avi", "truncated_mp4", "one_frame",
                                                    "shorter_than_span", "grayscale", "odd_177x97"]):
        src = odd_inputs[name][0]
        dst = data / cls / f"odd_{name}{src.suffix}"
        shutil.copyfile(src, dst)
        bad_names.append((cls, dst))
    summary = train(compose("train", tiny_overrides(data, tmp_path / "run", "engine.epochs=1")))
    skipped = " ".join(summary["skipped"])
    for cls, p in bad_names:
        if p.stem in ("odd_zero_byte_mp4", "odd_text_named_avi"):
            assert str(p) in skipped
    assert (tmp_path / "run" / "best" / "meta.json").is_file()
    res = predict(tmp_path / "run" / "best", data, progress=False)
    ids = set(res["ids"])
    assert not any("zero_byte" in i or "text_named" in i for i in ids)  # no row, never a guess
    broken = ("zero_byte", "text_named", "truncated")
    decodable = {f"{cls}/{p.stem}" for cls, p in bad_names if not any(b in p.stem for b in broken)}
    assert decodable <= ids  # the unusual but valid files are predicted, under their own class folder
    reported = " ".join(res["unreadable"])
    assert all(str(p) in reported for _, p in bad_names if any(b in p.stem for b in broken))
    assert not any(str(p) in reported for _, p in bad_names if not any(b in p.stem for b in broken))


# ------------------------------------------------------------------------------------------ 2. interruption
KILLER = textwrap.dedent('''
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    os.environ["HF_HUB_OFFLINE"] = "1"; os.environ["TQDM_DISABLE"] = "1"
    import torch; torch.set_num_threads(2)
    import lsvit; lsvit.setup()
    from lsvit.config import compose
    from lsvit.cli import guarded
    from lsvit.families.clips.dataset import VideoDataset
    from lsvit.engine import train
    calls = {{"n": 0}}
    original = VideoDataset.__getitem__
    def counting(self, key):
        if self.train:
            calls["n"] += 1
            if calls["n"] == {at}:
                os.kill(os.getpid(), signal.{sig})
        return original(self, key)
    VideoDataset.__getitem__ = counting
    guarded(train, compose("train", {overrides!r}))
''')


def _run_killed(overrides: list[str], sig: str, at: int) -> subprocess.CompletedProcess:
    code = KILLER.format(tests=str(ROOT / "tests"), at=at, sig=sig, overrides=overrides)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)


RUN = ("engine.epochs=3", "engine.save_every_steps=1", "data.val_ratio=0.25")


@pytest.fixture(scope="module")
def uninterrupted(tiny_dataset, tmp_path_factory):
    from lsvit.engine import train

    run = tmp_path_factory.mktemp("uninterrupted") / "run"
    return run, train(compose("train", tiny_overrides(tiny_dataset / "train", run, *RUN)))


def _same_outcome(run_a: Path, sa: dict, run_b: Path, sb: dict) -> None:
    from safetensors.torch import load_file

    assert sb["best_epoch"] == sa["best_epoch"]
    hist_a, hist_b = (json.loads((r / "last" / "trainer_state.json").read_text())["history"] for r in (run_a, run_b))
    for ra, rb in zip(hist_a, hist_b, strict=True):
        for k in ("val/loss", "val/top1", "val/top5", "val/macro_f1"):
            assert ra[k] == pytest.approx(rb[k], abs=1e-6), k
    wa, wb = (load_file(str(r / "best" / "model.safetensors")) for r in (run_a, run_b))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_equals_an_uninterrupted_run(tiny_dataset, uninterrupted, tmp_path):
    from lsvit.engine import train

    run = tmp_path / "run"
    args = tiny_overrides(tiny_dataset / "train", run, *RUN)
    # 24 training videos at batch 4: 6 batches (24 loads) per epoch; die loading epoch 2's third batch
    killed = _run_killed(args, "SIGKILL", at=24 + 2 * 4 + 2)
    assert killed.returncode == -signal.SIGKILL
    state = json.loads((run / "last" / "trainer_state.json").read_text())
    assert state["epoch"] == 1 and state["step_in_epoch"] >= 1  # mid-epoch 2: the last per-step save
    summary = train(compose("train", args + ["resume=true"]))
    _same_outcome(uninterrupted[0], uninterrupted[1], run, summary)


@pytest.mark.slow
def test_sigterm_saves_last_and_resume_equals_an_uninterrupted_run(tiny_dataset, uninterrupted, tmp_path):
    from lsvit.engine import train

    run = tmp_path / "run"
    args = tiny_overrides(tiny_dataset / "train", run, *RUN[:1], *RUN[2:])  # no per-step saves: the signal saves
    stopped = _run_killed(args, "SIGTERM", at=24 + 4 + 2)  # while loading epoch 2's second batch
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr[-2000:]
    assert "stopped by SIGTERM" in stopped.stderr and "resume=true" in stopped.stderr
    state = json.loads((run / "last" / "trainer_state.json").read_text())
    assert state["epoch"] == 1 and state["step_in_epoch"] >= 1  # saved mid-epoch 2
    summary = train(compose("train", args + ["resume=true"]))
    _same_outcome(uninterrupted[0], uninterrupted[1], run, summary)


def test_sigint_saves_last_before_leaving(tiny_dataset, tmp_path):
    run = tmp_path / "run"
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN where the suite runs in the background (nohup, CI runners)
    res = _run_killed(tiny_overrides(tiny_dataset / "train", run, "engine.epochs=1"), "SIGINT", at=3)
    assert res.returncode == 128 + signal.SIGINT and "stopped by SIGINT" in res.stderr
    assert json.loads((run / "last" / "trainer_state.json").read_text())["step_in_epoch"] >= 1
    assert signal.getsignal(signal.SIGINT) is before  # this process: handlers untouched


def test_a_torn_best_folder_is_never_loaded(uninterrupted, tmp_path):
    from lsvit.checkpoint.folder import build_from_checkpoint

    torn = tmp_path / "best"
    shutil.copytree(uninterrupted[0] / "best", torn)
    (torn / "meta.json").unlink()  # meta.json is written last: without it the folder is a torn write
    with pytest.raises(LsvitError, match="incomplete checkpoint"):
        build_from_checkpoint(torn)
    shutil.copytree(uninterrupted[0] / "best", tmp_path / "b2")
    (tmp_path / "b2" / "model.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(LsvitError, match=r"b2/model\.safetensors: not a readable safetensors file"):
        build_from_checkpoint(tmp_path / "b2")


# ------------------------------------------------------------------------------------------ 4. safe loading
class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickles_are_refused(tmp_path, uninterrupted, tiny_dataset):
    from lsvit.engine import train
    from lsvit.models.pretrained import read_state_dict

    marker = tmp_path / "pwned"
    evil = tmp_path / "vit_tiny_patch16_224.pth"
    torch.save({"pos_embed": _Payload(marker)}, evil)
    with pytest.raises(LsvitError, match="not a loadable weights file"):
        read_state_dict(evil)
    assert not marker.exists()
    # a shared last/ whose RNG file carries code: refused on resume, nothing runs
    run = tmp_path / "run"
    shutil.copytree(uninterrupted[0], run)
    with open(run / "last" / "random_states_0.pkl", "wb") as f:
        pickle.dump(_Payload(marker), f)
    with pytest.raises(LsvitError, match="refused"):
        train(compose("train", tiny_overrides(tiny_dataset / "train", run, *RUN, "resume=true")))
    assert not marker.exists()
    # meta.json: tests/test_security.py


# ------------------------------------------------------------------------------------------ 5. config
@pytest.mark.parametrize("override,message", [
    ("data.num_frames=0", "data.num_frames=0"),
    ("model.smif_window=4", "model: smif_window must be odd and >= 3, got 4"),  # checked by the model itself
    ("model.smif_window=7", "model: smif_window=7 is larger than num_frames=4"),
    ("data.image_size=30", "not divisible by the patch size"),
    ("engine.grad_accum=0", "engine.grad_accum=0"),
    ("data.val_ratio=1.5", "data.val_ratio=1.5"),
    ("eval.num_clips=0", "eval.num_clips=0"),
])
def test_invalid_settings_fail_before_any_work(tiny_dataset, tmp_path, override, message):
    from lsvit.engine import train

    cfg = compose("train", tiny_overrides(tiny_dataset / "train", tmp_path / "run", "+model.patch_size=8", override))
    with pytest.raises(LsvitError, match=message.replace("(", r"\(")):
        train(cfg)
    assert not (tmp_path / "run").exists()  # nothing was started


def test_unknown_keys_are_rejected(tiny_dataset, tmp_path):
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match="batchsize"):
        compose("train", ["engine.batchsize=4"])
    with pytest.raises(ConfigCompositionException, match="modle"):
        compose("train", ["modle.depth=2"])


def test_a_checkpoint_of_other_classes_is_refused_before_training(uninterrupted, tmp_path, mini_hmdb51):
    from lsvit.engine import train

    cfg = compose("train", tiny_overrides(mini_hmdb51 / "videos", tmp_path / "run", f"init_from={uninterrupted[0]}/best"))
    with pytest.raises(LsvitError, match="trained on classes"):
        train(cfg)
    assert not (tmp_path / "run" / "metrics.csv").exists()


# ------------------------------------------------------------------------------------------ 6. NaN / inf
def _nan_loss_at(monkeypatch, bad_calls: set[int] | None):
    import lsvit.engine.trainer as trainer

    real = trainer.build_criterion
    calls = {"n": 0}

    def patched(smoothing):
        ce = real(smoothing)

        def loss(logits, labels):
            calls["n"] += 1
            out = ce(logits, labels)
            return out * float("nan") if bad_calls is None or calls["n"] in bad_calls else out
        return loss
    monkeypatch.setattr(trainer, "build_criterion", patched)


def test_nonfinite_losses_are_skipped_and_counted(tiny_dataset, tmp_path, monkeypatch):
    from safetensors.torch import load_file

    from lsvit.engine import train

    _nan_loss_at(monkeypatch, {2, 3, 6})
    summary = train(compose("train", tiny_overrides(tiny_dataset / "train", tmp_path / "run")))
    assert summary["nonfinite_steps"] == 3
    assert all(torch.isfinite(t).all() for t in load_file(str(tmp_path / "run" / "best" / "model.safetensors")).values())
    assert np.isfinite(summary["last_metrics"]["train/loss"])
    assert "train/nonfinite_steps" in (tmp_path / "run" / "metrics.csv").read_text()


def test_consecutive_nonfinite_losses_stop_the_run(tiny_dataset, tmp_path, monkeypatch):
    from lsvit.engine import train

    _nan_loss_at(monkeypatch, None)
    with pytest.raises(LsvitError, match="NaN/inf for 3 consecutive steps"):
        train(compose("train", tiny_overrides(tiny_dataset / "train", tmp_path / "run", "engine.max_nonfinite=3")))


class _Acc:
    """The two things the guard asks of an accelerator."""

    scaler = None
    num_processes = 1


@pytest.mark.parametrize("fused", [True, False])
def test_a_nonfinite_step_leaves_weights_and_moments_alone(fused, monkeypatch):
    from lsvit.engine.guards import NonFiniteGuard

    p = torch.nn.Parameter(torch.ones(4))
    opt = (torch.optim.AdamW([p], lr=0.1, fused=True) if fused else torch.optim.RAdam([p], lr=0.1))
    guard = NonFiniteGuard(limit=2)
    assert guard.attach(opt, _Acc()) == ("device" if fused else "host")
    p.grad = torch.ones(4)
    guard.step(opt, torch.linalg.vector_norm(p.grad))
    after_good = (p.detach().clone(), {k: v.clone() if torch.is_tensor(v) else v for k, v in opt.state[p].items()})
    if fused:  # the skip is decided on the device: no host synchronisation at all
        def no_sync(*a, **k):
            raise AssertionError("host sync inside the step")
        for name in ("item", "tolist", "__bool__", "__float__", "__int__"):
            monkeypatch.setattr(torch.Tensor, name, no_sync)
    p.grad = torch.full((4,), float("nan"))
    guard.step(opt, torch.linalg.vector_norm(p.grad))
    monkeypatch.undo()
    assert torch.equal(p.detach(), after_good[0])
    for k, v in opt.state[p].items():
        assert torch.equal(torch.as_tensor(v), torch.as_tensor(after_good[1][k])), k  # moments and step count
    p.grad = torch.ones(4)
    guard.step(opt, torch.linalg.vector_norm(p.grad))
    assert not torch.equal(p.detach(), after_good[0])  # a later good step applies
    guard.sync(_Acc(), "here")
    assert (guard.total, guard.in_a_row) == (1, 0)
    for _ in range(2):
        guard.step(opt, torch.tensor(float("inf")))
    with pytest.raises(LsvitError, match="NaN/inf for 2 consecutive steps"):
        guard.sync(_Acc(), "here")


def test_the_fp16_scaler_path_counts_nonfinite_losses_and_leaves_the_skip_to_the_scaler():
    from lsvit.engine.guards import NonFiniteGuard

    class _ScalerAcc(_Acc):
        scaler = object()  # engine.mixed_precision=fp16: accelerate holds a GradScaler

    class _Opt:  # accelerate's optimizer under fp16: step() goes through the scaler, which skips inf/NaN
        steps = 0

        def step(self) -> None:
            self.steps += 1

    opt, guard = _Opt(), NonFiniteGuard(limit=2)
    assert guard.attach(opt, _ScalerAcc()) == "scaler"
    assert bool(guard.observe(torch.tensor(1.0)))
    guard.step(opt, None)
    # two accumulated micro-steps with a NaN loss make one skipped optimizer step
    assert not bool(guard.observe(torch.tensor(float("nan"))))
    guard.observe(torch.tensor(float("inf")))
    guard.step(opt, None)
    guard.observe(torch.tensor(2.0))  # a finite step after it: not counted, and the run of skips ends
    guard.step(opt, None)
    assert opt.steps == 3  # the scaler is always handed the step: it decides the skip itself
    guard.sync(_ScalerAcc(), "here")
    assert (guard.total, guard.in_a_row) == (1, 0)
    # a NaN micro-step followed by a finite one in the same optimizer step: the step is counted as skipped
    # (any non-finite loss in the window counts, not only the last micro-step's)
    guard.observe(torch.tensor(float("nan")))
    guard.observe(torch.tensor(3.0))
    guard.step(opt, None)
    guard.observe(torch.tensor(2.0))  # a finite step again: the run of skips ends
    guard.step(opt, None)
    guard.sync(_ScalerAcc(), "here")
    assert (guard.total, guard.in_a_row) == (2, 0) and opt.steps == 5
    for _ in range(2):
        guard.observe(torch.tensor(float("nan")))
        guard.step(opt, None)
    with pytest.raises(LsvitError, match="NaN/inf for 2 consecutive steps"):
        guard.sync(_ScalerAcc(), "here")


def test_default_optimizers_are_fused():
    from functools import partial

    from lsvit.engine.optim import build_optimizer

    model = torch.nn.Linear(3, 2)
    assert build_optimizer(partial(torch.optim.AdamW), model, 1e-3, 0.05).defaults["fused"]
    assert not build_optimizer(partial(torch.optim.AdamW, fused=False), model, 1e-3, 0.05).defaults["fused"]
    assert isinstance(build_optimizer(partial(torch.optim.RAdam), model, 1e-3, 0.05), torch.optim.RAdam)


# ------------------------------------------------------------------------------------------ 8. disk
def test_unwritable_run_folder_fails_at_start(tiny_dataset, tmp_path):
    from lsvit.engine import train

    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should go")
    with pytest.raises(LsvitError, match="not writable"):
        train(compose("train", tiny_overrides(tiny_dataset / "train", blocker / "run")))


def test_full_disk_fails_at_start_and_a_failed_save_is_one_clear_error(tiny_dataset, tmp_path, monkeypatch):
    import errno
    from collections import namedtuple

    import lsvit.engine.guards as guards
    import lsvit.engine.trainer as trainer
    from lsvit.engine import train

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(guards.shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(LsvitError, match="MiB free"):
        train(compose("train", tiny_overrides(tiny_dataset / "train", tmp_path / "run")))
    assert not (tmp_path / "run" / "metrics.csv").exists() and not (tmp_path / "run" / "last").exists()
    monkeypatch.undo()

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(trainer, "save_best", full)
    with pytest.raises(LsvitError, match="disk full"):
        train(compose("train", tiny_overrides(tiny_dataset / "train", tmp_path / "run2")))
