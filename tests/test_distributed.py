"""Two CPU processes (gloo) give the same result as one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lsvit.config import compose
from lsvit.engine import train
from tests.conftest import tiny_overrides

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_two_ranks_give_the_same_val_metrics_as_one(tiny_dataset, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    # a broken video met by one rank only must neither hang the other nor change the result
    data = tmp_path / "data"
    shutil.copytree(tiny_dataset / "train", data)
    (data / "move_left" / "broken.mp4").write_text("not a video\n" * 30)
    # stochastic depth and dropout on (issue 24.3): each sample's masks follow its seed on whichever rank it lands
    args = [a for a in tiny_overrides(data, tmp_path / "x", "model.drop_path_rate=0.3", "model.drop_rate=0.3")
            if not a.startswith("run_dir=")]
    # the one-process reference runs here (the CLI has its own test); on one thread, as each rank below
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(compose("train", [*args, f"run_dir={tmp_path}/one"]))
    finally:
        torch.set_num_threads(threads)
    accelerate = str(Path(sys.executable).with_name("accelerate"))
    # --multi_gpu without GPUs runs gloo ranks on the CPU (`--cpu` would start a single process)
    two = subprocess.run([accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                          "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29533",
                          "tools/train.py", *args, f"run_dir={tmp_path}/two"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    s1 = json.loads((tmp_path / "one" / "summary.json").read_text())
    s2 = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert s2["num_processes"] == 2 and s1["num_processes"] == 1
    assert any("broken.mp4" in m for m in s1["skipped"]) and s1["skipped"] == s2["skipped"]
    for key in ("val/top1", "val/top5", "val/macro_f1", "val/num_samples"):
        assert s1["last_metrics"][key] == s2["last_metrics"][key], key
    assert s1["last_metrics"]["val/loss"] == pytest.approx(s2["last_metrics"]["val/loss"], abs=1e-4)
    assert s1["last_metrics"]["train/loss"] == pytest.approx(s2["last_metrics"]["train/loss"], abs=1e-4)
    # one run folder, written once: the same files as the single-process run
    files = lambda d: sorted(p.relative_to(d).as_posix() for p in d.rglob("*") if "random_states" not in p.name)
    assert files(tmp_path / "one") == files(tmp_path / "two")
