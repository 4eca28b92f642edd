"""Set up ``.venv`` for lsvit: idempotent, constrained, and honest about what it fixed.

Usage: ``python3 scripts/install.py [--extras dev,wandb] [--venv .venv]``.

* creates the virtual environment if missing (Python >= 3.11);
* installs ``-e .[extras]`` under ``constraints.txt`` (also exported as PIP_CONSTRAINT so
  build environments obey it), which keeps torch at the pinned build;
* applies the torchvision import fix only when ``import torchvision`` fails with the
  known ``torchvision::nms`` error, and says so;
* checks that no ``nvidia-*`` package slipped in;
* skips everything when the stamp file says this exact request already succeeded.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIX_SRC = ROOT / "lsvit" / "_torchvision_fix.py"
PTH_NAME = "lsvit_torchvision_fix.pth"


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, **kw)


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _site_packages(py: Path) -> Path:
    out = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         check=True, capture_output=True, text=True)
    return Path(out.stdout.strip())


def _torchvision_import_error(py: Path) -> str | None:
    res = subprocess.run([str(py), "-c", "import torchvision"], capture_output=True, text=True)
    return None if res.returncode == 0 else (res.stderr.strip().splitlines() or ["unknown error"])[-1]


def ensure_torchvision_import(py: Path) -> None:
    """Apply the lazy torchvision fix only when the import is broken in the known way."""
    err = _torchvision_import_error(py)
    if err is None:
        print("torchvision imports cleanly: no fix needed.")
        return
    if "torchvision::nms" not in err:
        sys.exit(f"install: `import torchvision` fails in an unknown way: {err}")
    site = _site_packages(py)
    shutil.copyfile(FIX_SRC, site / "_lsvit_torchvision_fix.py")
    (site / PTH_NAME).write_text("import _lsvit_torchvision_fix; _lsvit_torchvision_fix.install()\n")
    err = _torchvision_import_error(py)
    if err is not None:
        sys.exit(f"install: torchvision still fails after the fix: {err}")
    print("install: `import torchvision` failed with 'operator torchvision::nms does not exist' "
          "(a CUDA torchvision wheel beside CPU torch). Applied the lazy schema fix "
          f"({site / PTH_NAME}); torchvision, timm and accelerate now import.")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--venv", default=str(ROOT / ".venv"))
    ap.add_argument("--extras", default="", help="comma-separated extras, e.g. dev,wandb")
    args = ap.parse_args()
    venv = Path(args.venv)
    py = _venv_python(venv)
    constraints = ROOT / "constraints.txt"
    extras = ",".join(sorted(e for e in args.extras.split(",") if e))
    digest = hashlib.sha1()
    for f in (ROOT / "pyproject.toml", constraints, FIX_SRC, Path(__file__)):
        digest.update(f.read_bytes())
    digest.update(extras.encode())
    stamp = venv / f".lsvit-installed-{digest.hexdigest()[:12]}"
    if stamp.exists() and py.exists():
        print(f"{venv} is up to date ({extras or 'no extras'}).")
        return
    if not py.exists():
        if sys.version_info < (3, 11):
            sys.exit("install: Python >= 3.11 is required to create the virtual environment")
        _run([sys.executable, "-m", "venv", str(venv)])
    env = dict(os.environ, PIP_CONSTRAINT=str(constraints), PIP_DISABLE_PIP_VERSION_CHECK="1")
    target = f".[{extras}]" if extras else "."
    # torch first, alone and pinned: nothing later can then pull a different build.
    _run([str(py), "-m", "pip", "install", "-q", "-c", str(constraints), "torch"], env=env, cwd=ROOT)
    _run([str(py), "-m", "pip", "install", "-q", "-c", str(constraints), "-e", target], env=env, cwd=ROOT)
    ensure_torchvision_import(py)
    listed = subprocess.run([str(py), "-m", "pip", "list", "--format=freeze"], capture_output=True,
                            text=True, check=True).stdout
    nvidia = [line for line in listed.splitlines() if line.lower().startswith("nvidia-")]
    if nvidia:
        sys.exit(f"install: CUDA packages slipped in despite constraints.txt: {nvidia}")
    check = subprocess.run([str(py), "-m", "pip", "check"], capture_output=True, text=True)
    print(check.stdout.strip() or check.stderr.strip())
    for old in venv.glob(".lsvit-installed-*"):
        old.unlink()
    stamp.touch()
    print(f"{venv} ready ({extras or 'no extras'}); torch pinned by constraints.txt.")


if __name__ == "__main__":
    main()
