"""e. end-to-end inference: decode + model + submission.csv."""

from __future__ import annotations

import contextlib
import io
import tempfile
import time
from pathlib import Path

from lsvit.bench.models import SIZES, build_model
from lsvit.checkpoint.folder import save_best
from lsvit.inference import run_inference
from lsvit.perf import PerfReport


def bench_inference(videos: list[Path], report: PerfReport, size: str = "demo", batch_size: int = 4) -> None:
    """End-to-end ``run_inference`` (decode + model + submission.csv), videos/s, with a random-init checkpoint."""


    s = dict(SIZES[size])
    frames, image = s.pop("frames"), s.pop("image")
    s.pop("batch")
    model_cfg = {"name": "lsvit_tiny_patch16_224", "args": {"num_frames": frames, "img_size": image, **s}}
    with tempfile.TemporaryDirectory() as tmp:
        model = build_model({"model_name": "lsvit_tiny_patch16_224", **s}, frames, image)
        meta = {"model": model_cfg, "class_names": [f"c{i}" for i in range(8)],
                "data": {"type": "clips", "num_frames": frames, "frame_stride": 2, "sampling": "dense",
                         "short": "loop", "image_size": image, "mean": [0.5] * 3, "std": [0.25] * 3,
                         "backend": "auto"}}
        save_best(Path(tmp) / "best", model, meta)
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            run_inference(str(Path(tmp) / "best"), str(videos[0].parent), str(Path(tmp) / "submission.csv"),
                          batch_size=batch_size)
        dt = time.perf_counter() - t0
    report.add(f"e. end-to-end inference ({size} model, {frames}x{image})",
               f"videos/s over {len(videos)} x 300-frame videos, writing submission.csv", len(videos) / dt)
