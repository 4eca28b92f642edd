"""The benchmark: its arithmetic on known inputs, and one end-to-end run at its smoke size."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
import torch
from conftest import ROOT

from lsvit.bench import Check
from lsvit.bench.models import flops_per_clip
from lsvit.perf import idle_fraction, training_mfu


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
    from lsvit.bench import section_names

    out = tmp_path / "bench.json"
    # the deploy section has its own test below (in-process, with the same smoke sizes); the CLI runs the rest
    sections = [n for n in section_names() if n != "deploy"]
    res = subprocess.run([sys.executable, str(ROOT / "tools/benchmark.py"), "--size", "smoke", "--json", str(out),
                          "--only", *sections], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    data = json.loads(out.read_text())
    sections = " ".join(data["figures"])
    for part in ("a. clip loading", "b. train step", "e. end-to-end inference", "f. data path"):
        assert part in sections, part
    loading = data["figures"]["a. clip loading"]
    for key in ("raw decord", "project VideoDataset", "naive decode-all", "backend=pyav", "backend=opencv",
                "0 worker(s)", "1 worker(s)", "on the device", "gesture_strong"):
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
    # every LS-ViT variant's train step beside the control, a check against the size's target
    variants = {n.split("variant ")[1].split(" / ")[0]: c for n, c in by_name.items() if "] variant " in n}
    assert set(variants) == {"smif=pixels", "smif=difference", "smif=none", "lmi=excitation", "lmi=none",
                             "lmi_blocks=encoder", "lmi=excitation, lmi_blocks=encoder"}
    assert all(c["status"] in ("PASS", "FAIL") and c["target"] == 0.85 for c in variants.values())
    assert all(any(k.startswith(f"lsvit[{v}] clips/s") for k in train) for v in variants)  # and its figure
    # g. the frame-embedding cache: the four measurements, each a check with a status
    cache = data["figures"]["g. frame-embedding cache (BiLSTM family)"]
    assert cache["read a batch of 4 from the cache (ms)"] > 0 and cache["backbones' forward alone, all videos (s)"] > 0
    for name in ("extraction wall / backbones' forward alone", "cache size / raw float32", "cache read / recompute",
                 "BiLSTM training: loader wait share"):
        c = next(c for n, c in by_name.items() if n.startswith(name))
        assert c["status"] in ("PASS", "FAIL", "N/A") and (c["value"] is not None or c["status"] == "N/A"), name
    # the printed table shows each check with its status
    assert all(f"{c['status']:4s}  {c['name']}" in res.stdout for c in data["checks"])
    # k. keypoints: the window latency is measured everywhere; extraction and realtime fps where MediaPipe is
    kp = data["figures"]["k. keypoints"]
    assert kp["keypoint_lstm_stacked 30x1662, batch 1 (ms per window)"] > 0
    latency = by_name["keypoint_lstm_stacked window 30x1662, batch 1 (ms)"]
    assert latency["op"] == "<=" and latency["target"] == 5.0 and latency["value"] > 0
    realtime = by_name["realtime fps, hands extraction + LSTM every frame, 640x480"]
    if importlib.util.find_spec("mediapipe"):
        assert any(k.startswith("extraction frames/s, mode=hands") and v > 0 for k, v in kp.items())
        assert realtime["value"] > 0
    else:
        assert realtime["status"] == "N/A" and any("mediapipe is not installed" in n for n in data["notes"])


def test_deploy_section_times_both_runtimes_for_every_family(tmp_path, monkeypatch):
    from lsvit.bench.deploy import PARITY_CHECK, SECTION, bench_deploy
    from lsvit.perf import PerfReport
    from lsvit.registry import input_types

    cases = [c for t in input_types().values() for c in t.bench_cases(True)]
    labels = [c.label for c in cases if c.relative is None]  # the models (logits)
    EMBEDDER_LABEL = "bilstm frame embedder"
    EMBEDDER_CHECK = "ONNX Runtime vs PyTorch max |embeddings difference| / max(1, |embeddings|)"

    ort = pytest.importorskip("onnxruntime")
    runs = []

    class CountingSession(ort.InferenceSession):
        def run(self, *args, **kwargs):
            runs.append(1)
            return super().run(*args, **kwargs)

    monkeypatch.setattr(ort, "InferenceSession", CountingSession)
    report = PerfReport("cpu")
    bench_deploy(report, tmp_path, smoke=True)
    # per family: the parity check, a warm-up and the timed run(s) on ONNX Runtime
    assert len(runs) >= 3 * len(labels)
    figures = report.figures[SECTION]
    for label in labels:  # side by side: both runtimes measured for each family, in one run
        eager, ort = figures[f"{label}: PyTorch eager clips/s"], figures[f"{label}: ONNX Runtime clips/s"]
        assert eager > 0 and ort > 0
        assert figures[f"{label}: ONNX Runtime / PyTorch eager (x)"] == pytest.approx(ort / eager)
        check = next(c for c in report.checks if c.name == f"[deploy] {label} {PARITY_CHECK}")
        assert check.status == "PASS" and check.value <= 1e-4 and check.op == "<="
    assert {"lsvit", "vit_frame_avg", "bilstm", "embedding_mean_probe", "keypoint_lstm",
            "keypoint_lstm_stacked"} <= set(labels)  # every family on main
    # the BiLSTM's frame embedder (embedder.onnx) beside them, in frames per second, within its relative tolerance
    eager = figures[f"{EMBEDDER_LABEL}: PyTorch eager frames/s"]
    onnx_rate = figures[f"{EMBEDDER_LABEL}: ONNX Runtime frames/s"]
    assert eager > 0 and onnx_rate > 0
    assert figures[f"{EMBEDDER_LABEL}: ONNX Runtime / PyTorch eager (x)"] == pytest.approx(onnx_rate / eager)
    check = next(c for c in report.checks if c.name == f"[deploy] {EMBEDDER_LABEL} {EMBEDDER_CHECK}")
    assert check.status == "PASS" and check.value <= 1e-4
    assert len(runs) >= 3 * (len(labels) + 1)


def test_a_fast_model_is_timed_over_a_minimum_round(tmp_path, monkeypatch):
    from lsvit.bench import deploy

    pytest.importorskip("onnxruntime")
    asked = []

    def one_ms_a_call(fn, reps):  # every call "takes" 1 ms: the calls per round follow from it alone
        asked.append(reps)
        return 1e-3

    monkeypatch.setattr(deploy, "_mean_time", one_ms_a_call)
    from lsvit.families.embeddings.bench import probe_case

    res = deploy.compare_runtimes(probe_case(True), tmp_path / "probe.onnx", rounds=2, reps=3,
                                  min_round_s=0.05, opset=deploy.SMOKE_OPSET)
    # 3 single-call timings per runtime, then 2 rounds of each of 50 calls (0.05 s / 1 ms), not of 3
    assert asked == [1] * 6 + [50, 50] * 2 and res["pytorch"] == res["onnxruntime"] == pytest.approx(2 / 1e-3)


def test_only_runs_the_named_sections(monkeypatch):
    import lsvit.bench as bench

    ran = []

    def section_one(report, ctx):
        ran.append("one")
        report.add("one", "x", 1.0)

    def section_two(report, ctx):
        ran.append("two")

    monkeypatch.setattr(bench, "all_sections", lambda: [section_one, section_two])
    monkeypatch.setattr(bench, "make_videos", lambda *a, **k: [])
    report = bench.run_benchmark("smoke", None, only=["one"])
    assert ran == ["one"] and list(report.figures) == ["one"]
    assert not any("MFU" in c.name for c in report.checks)  # the models section did not run: no MFU row
    from lsvit import LsvitError

    with pytest.raises(LsvitError, match=r"only=three: no such benchmark section \(choose from one, two\)"):
        bench.run_benchmark("smoke", None, only=["three"])
    assert ran == ["one"]


def test_deploy_section_says_so_without_onnxruntime(tmp_path, monkeypatch):
    from lsvit.bench.deploy import SECTION, bench_deploy
    from lsvit.perf import PerfReport

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` raises ImportError
    report = PerfReport("cpu")
    bench_deploy(report, tmp_path, smoke=True)
    assert "pip install -e '.[export]'" in report.figures[SECTION]["not measured"]
    assert any("deployment section skipped" in n for n in report.notes) and not report.checks
