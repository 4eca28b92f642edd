"""The realtime tool on a clip-model (LS-ViT) checkpoint: the same sliding-window loop, headless output."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from lsvit import LsvitError
from lsvit.realtime import GREEN, RED, WHITE, RealtimePredictor, label_color, open_source, run_realtime


def test_colours_for_right_and_wrong_labels():
    assert label_color("squat_R") == GREEN and label_color("squat_W") == RED
    assert label_color("wave") == WHITE and label_color(None) == WHITE


def test_lsvit_checkpoint_headless_video_csv_and_the_window_matches_evaluation(tiny_cfg, sample_video, tmp_path):
    from lsvit.data.discovery import VideoItem
    from lsvit.engine import train
    from lsvit.inference import checkpoint_dataset

    summary = train(tiny_cfg("engine.epochs=1"))
    best = Path(summary["run_dir"]) / "best"
    names = json.loads((best / "meta.json").read_text())["class_names"]
    video, _ = sample_video
    out = tmp_path / "rt.mp4"
    r = run_realtime(best, str(video), stride=3, threshold=0.0, smooth=1, headless=True, output=out, progress=False)
    # 4 frames at stride 2 = a window of 8 frames: first prediction at frame 8, then every 3rd of the 20
    assert r["frames"] == 20 and r["predictions"] == 5 and Path(r["output"]).is_file()
    rows = list(csv.DictReader((tmp_path / "rt.csv").read_text().splitlines()))
    assert [i for i, row in enumerate(rows) if row["predicted"]] == [7, 10, 13, 16, 19]
    assert all(row["label"] in names for row in rows[7:]) and rows[6]["label"] == ""
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 20 and cap.read()[1].shape[:2] == (48, 48)
    # the window is the clip evaluation reads: decoded the same way, the same model input
    from lsvit.data.sampling import sample_indices
    from lsvit.data.transforms import to_model_input

    pred = RealtimePredictor(best)
    decoded = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in open_source(str(video))[0]]
    sample = checkpoint_dataset(pred.meta, [VideoItem("x", 0, str(video))])[0]
    ref = to_model_input(sample["inputs"][None], sample["color"][None])
    idx = sample_indices(20, 4, 2, "dense", False)
    window = pred.adapter.batch([pred.adapter.frame(f)[0] for f in decoded[idx[0]:idx[0] + 8]])
    whole = pred.adapter.whole([pred.adapter.frame(f)[0] for f in decoded])
    torch.testing.assert_close(window, ref, atol=1e-4, rtol=0)
    torch.testing.assert_close(whole, ref, atol=1e-4, rtol=0)


def test_frame_folder_source_and_bad_sources(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in (10, 2, 1):
        cv2.imwrite(str(folder / f"frame_{i}.png"), np.full((8, 8, 3), i, np.uint8))
    it, _, name = open_source(str(folder))
    assert [int(f[0, 0, 0]) for f in it] == [1, 2, 10] and name == "frames"
    with pytest.raises(LsvitError, match="no such file, folder or camera"):
        open_source(str(tmp_path / "nope.mp4"))


def test_realtime_tool_cli_reports_a_bad_checkpoint_in_one_line(tmp_path):
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "tools/realtime.py", f"checkpoint={tmp_path}/nope", "source=0",
                        "headless=true"], cwd=root, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "no such folder" in r.stderr and "Traceback" not in r.stderr
