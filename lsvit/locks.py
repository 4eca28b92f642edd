"""One writer at a time for a run folder or an output file.

:class:`WriterLock` takes an exclusive OS lock (``fcntl.flock``) on a hidden lock file beside
the target (``outputs/.demo.lock`` for ``outputs/demo``), held for as long as the writer runs.
The kernel releases it when the process dies, however it dies (``kill -9`` included), so a
crashed run never blocks the next one and ``resume=true`` always gets it back. The lock file
holds who took it (pid, host, start time, command) so the second writer's message can name the
holder; it is never deleted (deleting a lock file while another process waits on it would let
two writers in).

The lock file sits *beside* the target rather than inside it so that replacing a run
(``overwrite=true``) can move the whole old folder aside with one rename while the lock holds.

Under ``accelerate launch`` only the main process takes the lock (:func:`lock_for_job`); the
other ranks learn the outcome from it and never race for the file.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from lsvit import LsvitError


def lock_path(target: str | Path) -> Path:
    """The lock file of ``target``: a hidden sibling, ``<parent>/.<name>.lock``."""
    target = Path(target).resolve()
    return target.with_name(f".{target.name}.lock")


class WriterLock:
    """An exclusive, non-blocking writer lock on ``target`` (a folder or a file).

    Args:
        target: what is written (a run folder, an HDF5 file, a benchmark folder).
        what: how the target is named in the message (``run_dir``, ``output``).
        advice: what a user refused by the lock should do.

    Raises (on :meth:`acquire`):
        LsvitError: another process holds it; the message names the holder.
    """

    def __init__(self, target: str | Path, what: str = "folder", advice: str = "") -> None:
        self.target = Path(target)
        self.path = lock_path(target)
        self.what = what
        self.advice = advice or "wait for it to finish, stop it, or choose another one"
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> WriterLock:
        """Take the lock now or fail at once with the holder's name."""
        if self._fd is not None:
            return self
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise LsvitError(f"{self.what}={self.target}: not writable ({exc.strerror})") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _describe(_read_holder(fd))
            os.close(fd)
            raise LsvitError(f"{self.what}={self.target} is being written by another process ({holder}); "
                             f"{self.advice}") from None
        # who holds it, for the message of the next writer (the file is rewritten in place:
        # the lock is on the inode, which must not change)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S"),
                "command": " ".join(sys.argv)[:300]}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Give the lock back (it also goes when the process exits)."""
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        raw = os.pread(fd, 4096, 0)
        info = json.loads(raw.decode() or "{}")  # data written by another process: parsed, never evaluated
        return info if isinstance(info, dict) else {}
    except (OSError, ValueError):
        return {}


def _describe(info: dict[str, Any]) -> str:
    if not info:
        return "holder unknown"
    parts = [f"pid {info.get('pid', '?')} on {info.get('host', '?')}", f"since {info.get('since', '?')}"]
    if info.get("command"):
        parts.append(f"command: {info['command']}")
    return ", ".join(str(p) for p in parts)


def lock_for_job(target: str | Path, what: str = "folder", advice: str = "", state: Any = None) -> WriterLock | None:
    """Take the writer lock on the main process only; every rank raises if it could not be taken.

    Args:
        target: the folder or file to guard.
        what: its name in messages.
        advice: what a refused user should do.
        state: an Accelerate ``PartialState`` (or ``Accelerator``); default: the current one.

    Returns:
        The held lock on the main process, ``None`` on the others.
    """
    if state is None:
        from accelerate import PartialState

        state = PartialState()
    lock, error = None, None
    if state.is_main_process:
        try:
            lock = WriterLock(target, what, advice).acquire()
        except LsvitError as exc:
            error = str(exc)
    if state.num_processes > 1:
        from accelerate.utils import broadcast_object_list

        error = broadcast_object_list([error])[0]
    if error:
        raise LsvitError(error)
    return lock
