"""The run folder: one per run, agreed on by every process, written by the main process only."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from accelerate import Accelerator
from accelerate.utils import broadcast_object_list

from lsvit import LsvitError


def prepare_run_dir(run_dir: str, accelerator: Accelerator, resume: bool, overwrite: bool) -> Path:
    """Agree on one run folder across processes, check it is writable, guard old runs."""
    chosen = broadcast_object_list([str(Path(run_dir).resolve())])[0] if accelerator.num_processes > 1 else run_dir
    path = Path(chosen)
    if accelerator.is_main_process:
        has_run = (path / "metrics.csv").exists() or (path / "last").exists() or (path / "best").exists()
        if has_run and not resume:
            if not overwrite:
                raise LsvitError(f"run_dir={path} already holds a run. Pass resume=true to continue it, "
                                 "overwrite=true to replace it, or another run_dir=")
            for sub in ("best", "last", "metrics.csv", "summary.json", "report.md"):
                p = path / sub
                shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
        try:
            path.mkdir(parents=True, exist_ok=True)
            probe = path / f".write_test_{os.getpid()}"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise LsvitError(f"run_dir={path}: not writable ({exc.strerror})") from exc
    accelerator.wait_for_everyone()
    return path
