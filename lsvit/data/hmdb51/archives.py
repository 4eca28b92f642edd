"""Reading RAR archives (HMDB51 ships as a RAR of RARs): unrar2-cffi, else Debian's ``unar``.

Members are streamed to disk one by one, each under a temporary name first, so an interrupted
extraction never leaves a half-written file under its final name; member paths cannot escape
the destination.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from lsvit import LsvitError


def _rar_backend() -> str:
    try:
        from unrar.cffi import rarfile  # noqa: F401

        return "unrar2-cffi"
    except Exception:
        pass
    if shutil.which("unar"):
        return "unar"
    raise LsvitError("reading .rar archives needs the 'unrar2-cffi' package (pip install unrar2-cffi, or "
                     "pip install -e .[hmdb51]) or the 'unar' command; or extract the archives yourself "
                     "and pass the folders")


def extract_rar(archive: str | Path, dest: str | Path, want: Callable[[str], bool] | None = None) -> list[str]:
    """Extract the members of a RAR archive into ``dest``, streaming each one to disk.

    Each member is written to a temporary name and renamed, so an interrupted extraction
    never leaves a half-written file under its final name.

    Args:
        archive: the ``.rar`` file (RAR 3 solid, RAR 5).
        dest: output folder (member paths are kept, ``..`` refused).
        want: member-name filter; others are skipped.

    Returns:
        The member names written.

    Raises:
        LsvitError: not a RAR archive, or a corrupt one (the archive is named).
    """
    archive, dest = Path(archive), Path(dest)
    if not archive.is_file():
        raise LsvitError(f"{archive}: no such archive")
    dest.mkdir(parents=True, exist_ok=True)
    if _rar_backend() == "unar":
        return _extract_unar(archive, dest, want)
    from unrar.cffi import rarfile
    from unrar.cffi.unrarlib import FLAGS_RHDF_DIRECTORY, BadRarFile, RarArchive

    if not rarfile.is_rarfile(str(archive)):
        raise LsvitError(f"{archive}: not a RAR archive (expected HMDB51's hmdb51_org.rar / test_train_splits.rar)")
    written: list[str] = []
    try:
        with RarArchive.open_for_processing(str(archive)) as rar:
            for header in rar.iterate_headers():
                name = header.FileNameW.replace("\\", "/")
                if header.Flags & FLAGS_RHDF_DIRECTORY or (want is not None and not want(name)):
                    header.skip()
                    continue
                target = _safe_target(dest, name, archive)
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f".{target.name}.part")
                with open(tmp, "wb") as f:
                    header.test(f.write)  # the callback receives the member's bytes chunk by chunk
                os.replace(tmp, target)
                written.append(name)
    except BadRarFile as exc:
        raise LsvitError(f"{archive}: corrupt or unreadable RAR archive ({exc.message})") from exc
    return written


def _safe_target(dest: Path, name: str, archive: Path) -> Path:
    target = (dest / name).resolve()
    if not str(target).startswith(str(dest.resolve()) + os.sep):
        raise LsvitError(f"{archive}: member {name!r} would be written outside {dest}")
    return target


def _extract_unar(archive: Path, dest: Path, want: Callable[[str], bool] | None) -> list[str]:
    listing = subprocess.run(["lsar", str(archive)], capture_output=True, text=True)
    if listing.returncode != 0:
        raise LsvitError(f"{archive}: not a readable RAR archive ({listing.stderr.strip() or listing.stdout.strip()})")
    names = [ln.strip() for ln in listing.stdout.splitlines()[1:] if ln.strip() and not ln.strip().endswith("/")]
    names = [n for n in names if want is None or want(n)]
    if names:
        tmp = dest / f".unar_{os.getpid()}"
        res = subprocess.run(["unar", "-q", "-f", "-D", "-o", str(tmp), str(archive), *names], capture_output=True,
                             text=True)
        if res.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise LsvitError(f"{archive}: unar failed ({res.stderr.strip()})")
        for n in names:
            src = next(tmp.rglob(Path(n).name), None)
            if src is not None:
                target = _safe_target(dest, n, archive)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, target)
        shutil.rmtree(tmp, ignore_errors=True)
    return names
