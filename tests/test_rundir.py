"""Run folders: one writer at a time, no silent overwrite by a preset, replaced whole with overwrite=true."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, tiny_overrides

from lsvit import LsvitError
from lsvit.config import compose
from lsvit.locks import WriterLock, lock_path


def _env() -> dict[str, str]:
    return dict(os.environ, HF_HUB_OFFLINE="1", TQDM_DISABLE="1", OMP_NUM_THREADS="1")


def _holder(run: Path) -> dict:
    try:
        return json.loads(lock_path(run).read_text() or "{}")
    except (OSError, ValueError):
        return {}


def _wait_for_lock(run: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    t0 = time.time()
    while _holder(run).get("pid") != proc.pid:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.time() - t0 < timeout, "the first run never took the lock"
        time.sleep(0.1)


@pytest.mark.slow
def test_a_second_run_into_the_same_folder_stops_at_once_and_the_first_keeps_its_files(tiny_dataset, tmp_path):
    run = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "tools/train.py", *tiny_overrides(tiny_dataset / "train", run,
                                                                                "engine.epochs=2", "seed=1")],
                             cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_lock(run, first)
    first.send_signal(signal.SIGSTOP)  # a stopped writer still holds the lock: the second meets a run in progress
    t0 = time.time()
    second = subprocess.run([sys.executable, "tools/train.py", *tiny_overrides(tiny_dataset / "train", run,
                                                                               "engine.epochs=1", "seed=2",
                                                                               "overwrite=true")],
                            cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120)
    assert second.returncode == 2 and time.time() - t0 < 60
    assert "is being written by another process" in second.stderr and f"pid {first.pid}" in second.stderr
    assert "Traceback" not in second.stderr
    first.send_signal(signal.SIGCONT)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-2000:]
    # every file is the first run's: 2 epochs, seed 1, one summary agreeing with metrics.csv and best/
    summary = json.loads((run / "summary.json").read_text())
    rows = (run / "metrics.csv").read_text().splitlines()
    assert summary["epochs_run"] == 2 and len(rows) == 3
    assert "seed: 1" in (run / "config.yaml").read_text()
    meta = json.loads((run / "best" / "meta.json").read_text())
    assert meta["seed"] == 1 and meta["epoch"] == summary["best_epoch"]
    assert _holder(run) == {}  # released: the file no longer names a holder


def test_a_killed_writer_leaves_no_lock_behind(tmp_path):
    """kill -9 releases the lock (the kernel does): a resumed run takes it again at once."""
    target = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from lsvit.locks import WriterLock; "
                               f"WriterLock({str(target)!r}).acquire(); print('held', flush=True); time.sleep(60)"],
                              cwd=ROOT, env=_env(), stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(LsvitError, match=f"pid {holder.pid}"):
        WriterLock(target, "run_dir").acquire()
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with WriterLock(target, "run_dir") as lock:  # the holder info of the dead process is stale, not a lock
        assert lock.held


def test_overwrite_replaces_the_whole_run(tiny_cfg, tiny_dataset, tmp_path):
    from lsvit.engine import train

    run = tmp_path / "run"
    train(tiny_cfg("engine.epochs=1", f"data.test_root={tiny_dataset}/test"))  # writes test_* reports too
    assert (run / "test_metrics.json").exists()
    (run / "val_old_report.csv").write_text("old")  # as an older version of lsvit might have written
    (run / "attention_test.png").write_bytes(b"png")  # a family's evaluation_report file (the BiLSTM's)
    (run / "submission.csv").write_text("id,class\n")  # what `make demo` writes into the run folder
    (tmp_path / "neighbour.txt").write_text("not the run's")  # beside run_dir: never touched
    train(tiny_cfg("engine.epochs=1", "seed=7", "overwrite=true"))
    assert (tmp_path / "neighbour.txt").read_text() == "not the run's"
    fresh = tmp_path / "fresh"
    train(tiny_cfg("engine.epochs=1", "seed=7", f"run_dir={fresh}"))
    names = lambda d: sorted(p.relative_to(d).as_posix() for p in d.rglob("*") if "random_states" not in p.name)
    assert names(run) == names(fresh)  # exactly the files of a run made from scratch
    assert "seed: 7" in (run / "config.yaml").read_text()
    assert not list(tmp_path.glob(".run.replaced-*"))  # the old run, moved aside, is gone


def test_overwrite_never_deletes_what_a_run_did_not_write(tiny_cfg, tmp_path):
    from lsvit.engine import train

    run = tmp_path / "run"
    train(tiny_cfg("engine.epochs=1"))
    (run / "my_notes.txt").write_text("keep me")
    with pytest.raises(LsvitError, match="my_notes.txt"):
        train(tiny_cfg("engine.epochs=1", "overwrite=true"))
    assert (run / "my_notes.txt").read_text() == "keep me" and (run / "best").is_dir()


def test_a_preset_never_overwrites(tiny_dataset, tmp_path):
    from lsvit.engine import train

    run = tmp_path / "run"
    train(compose("train", tiny_overrides(tiny_dataset / "train", run, "engine.epochs=1")))
    before = (run / "summary.json").read_text()
    presets = sorted(p.stem for p in (ROOT / "configs" / "experiment").glob("*.yaml"))
    for preset in presets:
        assert compose("train", [f"experiment={preset}"]).overwrite is False, preset
    demo = compose("train", ["experiment=demo", f"data.root={tiny_dataset}/train", f"data.test_root={tiny_dataset}/test", f"run_dir={run}",
                             "engine.device=cpu"])
    with pytest.raises(LsvitError, match="already holds a run"):
        train(demo)
    assert (run / "summary.json").read_text() == before
