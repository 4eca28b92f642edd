"""The benchmark: its arithmetic on known inputs, and one end-to-end run at its smoke size."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from conftest import ROOT

from lsvit.bench import Check
from lsvit.bench.models import flops_per_clip
from lsvit.bench.report import idle_fraction, training_mfu


@pytest.mark.parametrize("value,target,op,status", [(0.9, 0.85, ">=", "PASS"), (0.85, 0.85, ">=", "PASS"),
                                                    (0.8, 0.85, ">=", "FAIL"), (0.1, 0.2, "<=", "PASS"),
                                                    (0.3, 0.2, "<=", "FAIL"), (None, 0.4, ">=", "N/A")])
def test_check_status_compares_in_the_stated_direction(value, target, op, status):
    assert Check("x", value, target, op).status == status


def test_flop_count_of_a_known_layer():
    # Linear(8 -> 4) on 3 rows: 3 * 8 * 4 multiply-adds = 2 * 96 FLOPs, per sample of a batch of 3
    model = torch.nn.Linear(8, 4)
    assert flops_per_clip(model, torch.randn(3, 8)) == pytest.approx(2 * 8 * 4)


def test_mfu_and_idle_fraction_formulas():
    # 1 TFLOP forward per clip, 100 clips/s, 1 PFLOP/s peak: 3 * 1e12 * 100 / 1e15 = 0.3
    assert training_mfu(1e12, 100.0, 1e15) == pytest.approx(0.3)
    assert idle_fraction(0.08, 0.10) == pytest.approx(0.2)
    assert idle_fraction(0.11, 0.10) == 0.0  # noise: a fed step slightly faster than the reference


def test_benchmark_smoke_prints_every_figure_and_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    res = subprocess.run([sys.executable, str(ROOT / "tools/benchmark.py"), "--size", "smoke", "--json", str(out)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    data = json.loads(out.read_text())
    sections = " ".join(data["figures"])
    for part in ("a. clip loading", "b. train step", "e. end-to-end inference", "f. data path"):
        assert part in sections, part
    loading = data["figures"]["a. clip loading"]
    for key in ("raw decord", "project VideoDataset", "naive decode-all", "backend=pyav", "backend=opencv",
                "0 worker(s)", "1 worker(s)", "on the device"):
        assert any(key in k and isinstance(v, float) and v > 0 for k, v in loading.items()), key
    train = next(v for k, v in data["figures"].items() if k.startswith("b. train step"))
    assert any("lsvit clips/s" in k for k in train) and any("GFLOPs" in k for k in train)
    for module in ("SMIF", "LMI"):  # the overhead split is measured (a module that did not run has no entry)
        assert f"{module} forward + backward, all modules (ms/step)" in train
    by_name = {c["name"]: c for c in data["checks"]}
    avg = next(c for n, c in by_name.items() if "LS-ViT / vit_frame_avg" in n)
    assert "forward FLOPs" in avg["note"] and "LMI" in avg["note"]  # the check carries its measured reason
    tsf = [c for n, c in by_name.items() if "LS-ViT / TimeSformer" in n]
    assert tsf and all("FLOP/s" in c["note"] for c in tsf)
    # g. the frame-embedding cache: the four measurements, each a check with a status
    cache = data["figures"]["g. frame-embedding cache (BiLSTM family)"]
    assert cache["read a batch of 4 from the cache (ms)"] > 0 and cache["backbones' forward alone, all videos (s)"] > 0
    for name in ("extraction wall / backbones' forward alone", "cache size / raw float32", "cache read / recompute",
                 "BiLSTM training: loader wait share"):
        c = next(c for n, c in by_name.items() if n.startswith(name))
        assert c["status"] in ("PASS", "FAIL", "N/A") and (c["value"] is not None or c["status"] == "N/A"), name
    # the printed table shows each check with its status
    assert all(f"{c['status']:4s}  {c['name']}" in res.stdout for c in data["checks"])
