"""The benchmark runs end to end at its smoke size and reports every section and target."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT


def test_benchmark_smoke_prints_every_figure_and_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    res = subprocess.run([sys.executable, str(ROOT / "tools/benchmark.py"), "--size", "smoke", "--json", str(out)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    data = json.loads(out.read_text())
    sections = " ".join(data["figures"])
    for part in ("a. clip loading", "b. train step", "d. feature cache", "e. end-to-end inference",
                 "f. data path"):
        assert part in sections, part
    loading = data["figures"]["a. clip loading"]
    for key in ("raw decord", "project VideoDataset", "naive decode-all", "backend=pyav", "backend=opencv",
                "0 worker(s)", "1 worker(s)", "on the device"):
        assert any(key in k and (not isinstance(v, float) or v > 0) for k, v in loading.items()), key
    train = next(v for k, v in data["figures"].items() if k.startswith("b. train step"))
    assert any("lsvit clips/s" in k for k in train) and any("GFLOPs" in k for k in train)
    for module in ("SMIF", "LMI"):  # the overhead split, and the check's reason quoting it
        assert train[f"{module} forward + backward, all modules (ms/step)"] >= 0
    by_name = {c["name"]: c for c in data["checks"]}
    avg = next(c for n, c in by_name.items() if "LS-ViT / vit_frame_avg" in n)
    assert "forward FLOPs" in avg["note"] and "LMI" in avg["note"]
    tsf = [c for n, c in by_name.items() if "LS-ViT / TimeSformer" in n]
    assert all("FLOP/s" in c["note"] for c in tsf)
    path = next(v for k, v in data["figures"].items() if k.startswith("f. data path"))
    assert 0 <= path["idle fraction waiting for data (1 - synthetic / real)"] < 1
    checks = {c["name"]: c["status"] for c in data["checks"]}
    assert any("LS-ViT / vit_frame_avg" in n for n in checks) and all(s in ("PASS", "FAIL", "N/A")
                                                                         for s in checks.values())
    assert "PASS" in res.stdout or "FAIL" in res.stdout
