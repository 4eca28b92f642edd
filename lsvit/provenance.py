"""Where a result came from: the code's commit and the command that produced it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any


def code_version() -> str:
    """The git commit of the code (``+dirty`` with uncommitted changes), or ``unknown``."""
    root = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}{'+dirty' if dirty else ''}" if sha else "unknown"


def run_info(config_yaml: str) -> dict[str, Any]:
    """Provenance recorded in ``best/meta.json``: command line, commit, and the resolved config as YAML text.

    The config is kept as text (never parsed back into objects from a checkpoint): it documents the run.
    """
    return {"command": " ".join(["python", *sys.argv]), "commit": code_version(), "config_yaml": config_yaml}
