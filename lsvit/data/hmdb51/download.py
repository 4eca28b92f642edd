"""Download HMDB51's official archives (resumable, verified, atomic) and prepare them.

The archives come from the Serre lab's HMDB51 page
(https://serre-lab.clps.brown.edu/resource/hmdb-a-large-human-motion-database/), which links
``wp-content/uploads/2013/10/hmdb51_org.rar`` ("about 2GB") and ``test_train_splits.rar``. The lab
publishes no checksum and no exact size. The MD5 sums below were published by others:
``test_train_splits.rar`` by torchvision (``torchvision.datasets.HMDB51.splits["md5"]``) and by
DeepMind's ``brave`` (``brave/download_hmdb.py``, ``MD5_OF_SPLITS_FILE``), ``hmdb51_org.rar`` by
``brave`` only (``MD5_OF_VIDEOS_FILE``). They are checked by default; a verified download also
prints its size and SHA-256 and appends them to ``SHA256SUMS`` beside the archive, so a user can
pin a stronger sum (``sha256:<hex>``) from the copy they trust.

How a download behaves:

- bytes go to ``<name>.part``; the final name appears (one ``os.replace``) only after the size the
  server announced and the checksum match, so a killed process never leaves a half file under it;
- a cut connection, or a rerun after a killed process, continues from the ``.part``'s length with an
  HTTP ``Range`` request; a server that answers ``200`` instead of ``206`` (Range ignored) is read
  from the first byte and the ``.part`` rewritten, never appended to;
- a ``.part`` left by an earlier run that fails the checksum is deleted and fetched once from the
  start (its old bytes may be what is wrong); a file fetched whole in this run that still fails is
  refused (fetching the same bytes again would not help), with one line naming it;
- no network: one line naming the URL that could not be reached and how to download by hand.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import Any

from lsvit import Interrupted, LsvitError
from lsvit.data.hmdb51.prepare import prepare_hmdb51
from lsvit.locks import WriterLock

HMDB51_PAGE = "https://serre-lab.clps.brown.edu/resource/hmdb-a-large-human-motion-database/"
_BASE = "https://serre-lab.clps.brown.edu/wp-content/uploads/2013/10"
VIDEOS_URL = f"{_BASE}/hmdb51_org.rar"
SPLITS_URL = f"{_BASE}/test_train_splits.rar"
# published by DeepMind's brave (brave/download_hmdb.py), not by the Serre lab
VIDEOS_MD5 = "md5:517d6f1f19f215c45cdd4d25356be1fb"
# published by torchvision (datasets/hmdb51.py) and by DeepMind's brave, not by the Serre lab
SPLITS_MD5 = "md5:15e67781e70dcfbdce2d7dbb9b3344b5"

_CHECKSUM = re.compile(r"^(?P<algo>md5|sha1|sha256|sha512):(?P<hex>[0-9a-fA-F]+)$")
_CONTENT_RANGE = re.compile(r"^bytes\s+(?:(?P<start>\d+)-(?P<end>\d+)|\*)/(?P<total>\d+|\*)$")
_TRANSIENT_HTTP = {408, 429, 500, 502, 503, 504}
_DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES}


class DownloadError(LsvitError):
    """A download that failed for good; ``url`` is what was asked for."""

    def __init__(self, message: str, url: str) -> None:
        super().__init__(message)
        self.url = url


class Unreachable(DownloadError):
    """The server could not be reached at all (no network, wrong host, closed port)."""


@dataclass(frozen=True)
class Archive:
    """One file to download.

    Attributes:
        url: where it is served.
        name: the file name it is saved under.
        checksum: ``"<algo>:<hex>"`` (``md5``, ``sha1``, ``sha256``, ``sha512``), or None to skip the check.
        size: the exact size in bytes, or None to trust the length the server announces.
    """

    url: str
    name: str
    checksum: str | None = None
    size: int | None = None


def parse_checksum(checksum: str | None) -> tuple[str, str] | None:
    """``"md5:<hex>"`` -> ``("md5", "<hex>")``; None stays None.

    Raises:
        LsvitError: not ``<algo>:<hex>`` with a supported algorithm and the right digest length.
    """
    if checksum is None or str(checksum).strip() == "":
        return None
    m = _CHECKSUM.match(str(checksum).strip())
    if m is None or len(m.group("hex")) != 2 * hashlib.new(m.group("algo")).digest_size:
        raise LsvitError(f"checksum {checksum!r}: expected '<algo>:<hex digest>' with algo md5, sha1, sha256 "
                         "or sha512 (e.g. sha256:<64 hex digits>)")
    return m.group("algo"), m.group("hex").lower()


def file_digests(path: str | Path, algos: Sequence[str], chunk_size: int = 1 << 20) -> dict[str, str]:
    """Hex digests of ``path`` for every algorithm in ``algos``, reading the file once."""
    hashes = {a: hashlib.new(a) for a in dict.fromkeys(algos)}
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            for h in hashes.values():
                h.update(chunk)
    return {a: h.hexdigest() for a, h in hashes.items()}


def check_file(path: str | Path, size: int | None, checksum: str | None) -> tuple[str | None, dict[str, str]]:
    """Compare a file with its expected size and checksum.

    Returns:
        ``(problem, digests)``: ``problem`` is None when it matches, else what is wrong (one phrase);
        ``digests`` holds the SHA-256 and, when a checksum is given, its algorithm's digest.
    """
    path = Path(path)
    expected = parse_checksum(checksum)
    have = path.stat().st_size
    if size is not None and have != size:
        return f"is {have:,} bytes, expected {size:,}", {}
    digests = file_digests(path, ["sha256", *([expected[0]] if expected else [])])
    if expected and digests[expected[0]] != expected[1]:
        return f"{expected[0]} is {digests[expected[0]]}, expected {expected[1]}", digests
    return None, digests


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """``Content-Range`` -> ``(first byte, total)``; None for what is absent or ``*``."""
    m = _CONTENT_RANGE.match((value or "").strip())
    if m is None:
        return None, None
    start = int(m.group("start")) if m.group("start") is not None else None
    total = int(m.group("total")) if m.group("total") != "*" else None
    return start, total


class _Cut(Exception):
    """The transfer stopped before the end (retried); ``unreachable``: no connection was made."""

    def __init__(self, reason: str, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.unreachable = unreachable


def _transfer_once(url: str, part: Path, timeout: float, chunk_size: int,
                   log: Callable[[str], None]) -> int | None:
    """One HTTP request that appends to ``part`` from its current length; returns the file's total size.

    Raises:
        _Cut: the connection failed or ended early (the caller retries from the new length).
        DownloadError: the server refused for good (e.g. 404).
    """
    from tqdm import tqdm

    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "lsvit-download/1", "Accept-Encoding": "identity"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)  # noqa: S310 (http/https URLs from the config)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the .part already holds every byte (or more than the file has)
            _, total = _content_range(exc.headers.get("Content-Range"))
            if total is not None and have > total:
                part.unlink()
                raise _Cut(f"{part.name} was longer than the file ({have:,} > {total:,} bytes); starting over")
            return total if total is not None else have
        if exc.code in _TRANSIENT_HTTP:
            raise _Cut(f"HTTP {exc.code} {exc.reason}") from exc
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}", url) from exc
    except urllib.error.URLError as exc:  # before any response: refused, no route, name not resolved
        raise _Cut(str(exc.reason), unreachable=True) from exc
    except (OSError, HTTPException) as exc:
        raise _Cut(f"{type(exc).__name__}: {exc}") from exc
    with resp:
        length = resp.headers.get("Content-Length")
        if resp.status == 206:
            start, total = _content_range(resp.headers.get("Content-Range"))
            if start != have:  # a range we did not ask for: its bytes cannot be appended
                part.unlink()
                raise _Cut(f"the server sent bytes from {start}, asked from {have}; starting over")
            mode = "ab"
        else:
            if have:
                log(f"{url}: the server ignored the Range request; downloading {part.stem} from the first byte")
            start, have, mode = 0, 0, "wb"  # "wb": the old bytes are replaced, never kept in front of a full copy
            total = int(length) if length is not None else None
        expected = None if total is None else total - start
        received = 0
        try:
            with open(part, mode) as f, tqdm(total=total, initial=have, unit="B", unit_scale=True,
                                              desc=part.stem, disable=None, leave=False) as bar:
                # read1: whatever has arrived, at most chunk_size (read() would wait for a full chunk, and a
                # timeout inside it loses the bytes it had gathered)
                while chunk := resp.read1(chunk_size):
                    f.write(chunk)
                    f.flush()  # what arrived is on disk if the process is killed now: the rerun resumes after it
                    received += len(chunk)
                    bar.update(len(chunk))
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            if exc.errno in _DISK_ERRORS:  # the disk, not the connection: retrying cannot help
                raise DownloadError(f"{part}: {exc.strerror} after {have + received:,} bytes (the .part is kept: free "
                                    "space or choose downloads=, then rerun to continue)", url) from exc
            raise _Cut(f"connection lost after {have + received:,} bytes ({type(exc).__name__}: {exc})") from exc
        except HTTPException as exc:
            raise _Cut(f"connection lost after {have + received:,} bytes ({type(exc).__name__}: {exc})") from exc
    if expected is not None and received < expected:  # http.client returns a short body without raising
        raise _Cut(f"connection closed after {have + received:,} of {total:,} bytes")
    return total if total is not None else have + received


def download_file(url: str, dest: str | Path, size: int | None = None, checksum: str | None = None,
                  timeout: float = 60.0, retries: int = 5, retry_wait: float = 2.0, chunk_size: int = 1 << 20,
                  log: Callable[[str], None] = print) -> Path:
    """Download ``url`` to ``dest``: resumable, verified, renamed into place only once complete.

    Args:
        url: an ``http://`` or ``https://`` URL.
        dest: the final path; bytes are written to ``<dest>.part`` first.
        size: the exact size in bytes, or None (then the length the server announces is required).
        checksum: ``"<algo>:<hex>"`` the file must match, or None.
        timeout: seconds a connection may stay silent before it counts as cut.
        retries: failed attempts in a row (without a byte of progress) before giving up.
        retry_wait: seconds before the first retry; doubled after each further failure.
        chunk_size: bytes read per call.
        log: progress messages.

    Returns:
        ``dest``, verified.

    Raises:
        Unreachable: the server could not be reached (the URL is named).
        DownloadError: the server refused, the transfer kept failing, or the file does not match
            its size or checksum (the file is named).
        Interrupted: Ctrl-C; the ``.part`` is kept and a rerun continues from it.
    """
    dest = Path(dest)
    parse_checksum(checksum)  # a malformed checksum fails before any byte is fetched
    if dest.exists():
        problem, digests = check_file(dest, size, checksum)
        if problem:
            raise DownloadError(f"{dest} {problem}: not the expected file; delete it to download it again", url)
        log(f"{dest}: already downloaded ({dest.stat().st_size:,} bytes, "
            f"{'checksum ok' if checksum else 'no checksum to check'})")
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    with WriterLock(dest, "download", "wait for the other download of this file to finish"):
        resumed = part.exists() and part.stat().st_size > 0
        if resumed:
            log(f"{dest.name}: continuing from {part.stat().st_size:,} bytes already in {part}")
        total = _transfer(url, part, timeout, retries, retry_wait, chunk_size, log)
        problem, digests = check_file(part, size if size is not None else total, checksum)
        if problem and resumed:  # the bytes kept from an earlier run may be what is wrong: start over once
            log(f"{part} {problem}; downloading {dest.name} again from the first byte")
            part.unlink()
            total = _transfer(url, part, timeout, retries, retry_wait, chunk_size, log)
            problem, digests = check_file(part, size if size is not None else total, checksum)
        if problem:
            raise DownloadError(f"{dest.name} downloaded from {url} {problem}: refused (kept as {part}; if the "
                                "server's file has changed on purpose, pin its checksum or set it to null)", url)
        os.replace(part, dest)
    _record_sha256(dest, digests["sha256"])
    log(f"{dest}: {dest.stat().st_size:,} bytes, " + ("checksum ok, " if checksum else "no checksum to check, ")
        + f"sha256:{digests['sha256']}")
    return dest


def _transfer(url: str, part: Path, timeout: float, retries: int, retry_wait: float, chunk_size: int,
              log: Callable[[str], None]) -> int | None:
    """Call :func:`_transfer_once` until the file is complete, retrying cut connections with backoff."""
    failures = 0
    while True:
        before = part.stat().st_size if part.exists() else 0
        try:
            return _transfer_once(url, part, timeout, chunk_size, log)
        except KeyboardInterrupt:
            have = part.stat().st_size if part.exists() else 0
            raise Interrupted(f"download stopped: {part} holds {have:,} bytes; rerun to continue from there",
                              130) from None
        except _Cut as cut:
            after = part.stat().st_size if part.exists() else 0
            failures = 1 if after > before else failures + 1  # progress resets the count
            if failures > retries:
                if cut.unreachable:
                    raise Unreachable(f"cannot reach {url} ({cut})", url) from None
                raise DownloadError(f"{url}: {cut}; gave up after {retries} retries without progress ({part} "
                                    f"holds {after:,} bytes: rerun to continue)", url) from None
            wait = retry_wait * 2 ** (failures - 1)
            log(f"{url}: {cut}; retrying from byte {after:,} in {wait:.0f} s ({failures}/{retries})")
            time.sleep(wait)


def _record_sha256(path: Path, sha256: str) -> None:
    """Add ``<sha256>  <name>`` to ``SHA256SUMS`` beside ``path`` (``sha256sum -c`` reads it), replacing its line."""
    sums = path.with_name("SHA256SUMS")
    lines = [ln for ln in (sums.read_text().splitlines() if sums.exists() else []) if not ln.endswith(f"  {path.name}")]
    tmp = sums.with_name(f".{sums.name}.tmp")
    tmp.write_text("\n".join([*lines, f"{sha256}  {path.name}"]) + "\n")
    os.replace(tmp, sums)


def hmdb51_archives(videos_url: str = VIDEOS_URL, splits_url: str = SPLITS_URL,
                    videos_checksum: str | None = VIDEOS_MD5, splits_checksum: str | None = SPLITS_MD5,
                    videos_size: int | None = None, splits_size: int | None = None) -> tuple[Archive, Archive]:
    """The two official archives (videos, splits), each saved under the name the official URL gives it."""
    return (Archive(videos_url, "hmdb51_org.rar", videos_checksum, videos_size),
            Archive(splits_url, "test_train_splits.rar", splits_checksum, splits_size))


def download_hmdb51(downloads: str | Path = "datasets/hmdb51/downloads", out: str | Path = "datasets/hmdb51",
                    archives: Sequence[Archive] | None = None, prepare: bool = True, check_counts: bool = True,
                    timeout: float = 60.0, retries: int = 5, retry_wait: float = 2.0,
                    log: Callable[[str], None] = print) -> Any:
    """Download HMDB51's two archives into ``downloads`` and prepare ``out`` with :func:`prepare_hmdb51`.

    Rerunning is cheap: verified archives are not fetched again, ``.part`` files are continued and
    classes already extracted are skipped.

    Args:
        downloads: where the archives are saved (kept: the preparation's resume marker names them).
        out: the prepared dataset folder.
        archives: the videos archive and the splits archive (default: :func:`hmdb51_archives`).
        prepare: extract and verify after downloading (False: download only).
        check_counts: compare the prepared folder with the official counts.
        timeout, retries, retry_wait: as in :func:`download_file`.
        log: progress messages.

    Returns:
        The :class:`~lsvit.data.hmdb51.prepare.PrepareReport`, or the two archive paths when
        ``prepare`` is False.

    Raises:
        LsvitError: one line: the URL that could not be reached or the file that does not match,
            and how to download by hand and run ``tools/prepare_hmdb51.py``.
    """
    videos, splits = archives if archives is not None else hmdb51_archives()
    downloads = Path(downloads)
    paths = []
    for a in (videos, splits):
        try:
            paths.append(download_file(a.url, downloads / a.name, a.size, a.checksum, timeout, retries, retry_wait,
                                        log=log))
        except DownloadError as exc:
            raise LsvitError(f"{exc}. {'No network? ' if isinstance(exc, Unreachable) else ''}Download "
                             f"{videos.name} and {splits.name} by hand ({HMDB51_PAGE}), then run: python "
                             f"tools/prepare_hmdb51.py videos=<dir>/{videos.name} splits=<dir>/{splits.name} "
                             f"out={out}") from None
    if not prepare:
        return tuple(paths)

    return prepare_hmdb51(paths[0], paths[1], out, check_counts=check_counts, log=log)
