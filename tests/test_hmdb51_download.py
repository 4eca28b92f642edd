"""tools/download_hmdb51.py against an HTTP server started on 127.0.0.1: cuts, Range ignored, corrupt, offline."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import ROOT
from fixtures import pack_official_archives, tree

from lsvit import LsvitError
from lsvit.data.hmdb51.download import DownloadError, download_file, download_hmdb51, hmdb51_archives

VIDEOS, SPLITS = "hmdb51_org.rar", "test_train_splits.rar"


class ArchiveServer:
    """Serves ``files`` over HTTP on an ephemeral port, with scripted faults; every request is recorded.

    Attributes:
        honor_range: answer ``Range`` with 206 (False: ignore it and send the whole file with 200).
        cut_after: name -> for each of the next responses, the bytes sent before the connection is closed.
        stall_after: name -> bytes of the next response sent before the handler hangs until :meth:`close`
            (used once; bounded by 60 s so no test can hang on it).
        requests: ``(name, Range header or None, status, body bytes sent)`` per request.
    """

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = dict(files)
        self.honor_range = True
        self.cut_after: dict[str, list[int]] = {}
        self.stall_after: dict[str, int] = {}
        self.requests: list[tuple[str, str | None, int, int]] = []
        self.release = threading.Event()
        srv = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                name = self.path.lstrip("/")
                data, rng = srv.files.get(name), self.headers.get("Range")
                # each request is recorded before its answer goes out: the client may act on it at once
                if data is None:
                    srv.requests.append((name, rng, 404, 0))
                    self.send_error(404)
                    return
                start, status = 0, 200
                if rng and srv.honor_range:
                    start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
                    if start >= len(data):
                        srv.requests.append((name, rng, 416, 0))
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    status = 206
                body = data[start:]
                cuts = srv.cut_after.get(name)
                cut, stall = cuts.pop(0) if cuts else None, srv.stall_after.pop(name, None)
                sent = body[:cut] if cut is not None else body[:stall] if stall is not None else body
                srv.requests.append((name, rng, status, len(sent)))
                self.send_response(status)
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(sent)
                self.wfile.flush()
                if stall is not None:
                    srv.release.wait(60)
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture(scope="module")
def packed(mini_hmdb51: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The miniature HMDB51 packed like the official download: name -> archive bytes."""
    videos, splits = pack_official_archives(mini_hmdb51, tmp_path_factory.mktemp("packed"))
    return {VIDEOS: videos.read_bytes(), SPLITS: splits.read_bytes()}


@pytest.fixture
def server(packed: dict[str, bytes]):
    srv = ArchiveServer(packed)
    yield srv
    srv.close()


def md5(data: bytes) -> str:
    return "md5:" + hashlib.md5(data).hexdigest()


def archives_on(srv: ArchiveServer, packed: dict[str, bytes]):
    return hmdb51_archives(srv.url(VIDEOS), srv.url(SPLITS), md5(packed[VIDEOS]),
                           "sha256:" + hashlib.sha256(packed[SPLITS]).hexdigest())


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tool(*overrides: str) -> list[str]:
    return [sys.executable, str(ROOT / "tools/download_hmdb51.py"), "retry_wait=0", "retries=1", *overrides]


def test_complete_download_then_prepare(server, packed, mini_hmdb51, tmp_path):
    pytest.importorskip("unrar.cffi")
    logs: list[str] = []
    rep = download_hmdb51(tmp_path / "dl", tmp_path / "hmdb51", archives_on(server, packed), check_counts=False,
                          retry_wait=0, log=logs.append)
    assert rep.problems == [], rep.summary()
    assert tree(tmp_path / "hmdb51" / "videos") == tree(mini_hmdb51 / "videos")
    assert tree(tmp_path / "hmdb51" / "splits") == tree(mini_hmdb51 / "splits")
    assert {p.name for p in (tmp_path / "dl").iterdir() if not p.name.startswith(".")} == {VIDEOS, SPLITS,
                                                                                         "SHA256SUMS"}
    assert all((tmp_path / "dl" / n).read_bytes() == packed[n] for n in (VIDEOS, SPLITS))
    sums = (tmp_path / "dl" / "SHA256SUMS").read_text().splitlines()  # `sha256sum -c` format, for pinning
    assert sorted(sums) == sorted(f"{hashlib.sha256(packed[n]).hexdigest()}  {n}" for n in (VIDEOS, SPLITS))
    assert server.requests == [(VIDEOS, None, 200, len(packed[VIDEOS])), (SPLITS, None, 200, len(packed[SPLITS]))]
    # a rerun fetches nothing: the verified archives are kept, the extracted classes skipped
    rep = download_hmdb51(tmp_path / "dl", tmp_path / "hmdb51", archives_on(server, packed), check_counts=False,
                          retry_wait=0, log=logs.append)
    assert rep.problems == [] and len(server.requests) == 2


def test_cut_connection_resumes_with_range_for_the_remaining_bytes(server, packed, tmp_path):
    data = packed[VIDEOS]
    server.cut_after[VIDEOS] = [1000, 2000]  # two cuts in a row, each after progress: retries=1 is enough
    dest = download_file(server.url(VIDEOS), tmp_path / VIDEOS, checksum=md5(data), retries=1, retry_wait=0,
                         log=lambda _: None)
    assert dest.read_bytes() == data and not (tmp_path / f"{VIDEOS}.part").exists()
    assert server.requests == [(VIDEOS, None, 200, 1000), (VIDEOS, "bytes=1000-", 206, 2000),
                               (VIDEOS, "bytes=3000-", 206, len(data) - 3000)]
    # cut again and again without a byte of progress: gives up after `retries`, keeping the .part for a rerun
    server.requests.clear()
    server.cut_after[VIDEOS] = [500, 0, 0]
    with pytest.raises(DownloadError, match=r"gave up after 2 retries without progress .*holds 500 bytes: rerun"):
        download_file(server.url(VIDEOS), tmp_path / "again" / VIDEOS, retries=2, retry_wait=0, log=lambda _: None)
    assert [r[1] for r in server.requests] == [None, "bytes=500-", "bytes=500-"]  # the first try + 2 retries


def test_a_complete_part_left_by_a_killed_run_is_verified_and_renamed(server, packed, tmp_path):
    data = packed[VIDEOS]
    (tmp_path / f"{VIDEOS}.part").write_bytes(data)  # killed after the last byte, before the rename
    dest = download_file(server.url(VIDEOS), tmp_path / VIDEOS, checksum=md5(data), log=lambda _: None)
    assert dest.read_bytes() == data and server.requests == [(VIDEOS, f"bytes={len(data)}-", 416, 0)]


def test_one_download_per_file_and_ctrl_c_keeps_the_part(server, packed, tmp_path, monkeypatch):
    from lsvit import Interrupted
    from lsvit.locks import WriterLock

    dest = tmp_path / VIDEOS
    with WriterLock(dest, "download"), pytest.raises(LsvitError, match="being written by another process"):
        download_file(server.url(VIDEOS), dest, log=lambda _: None)
    assert server.requests == []
    (tmp_path / f"{VIDEOS}.part").write_bytes(packed[VIDEOS][:700])

    def ctrl_c(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("urllib.request.urlopen", ctrl_c)
    with pytest.raises(Interrupted, match=rf"{VIDEOS}.part holds 700 bytes; rerun to continue") as exc:
        download_file(server.url(VIDEOS), dest, log=lambda _: None)
    assert exc.value.code == 130 and (tmp_path / f"{VIDEOS}.part").stat().st_size == 700


def test_server_ignoring_range_restarts_from_the_first_byte(server, packed, tmp_path):
    data = packed[VIDEOS]
    server.honor_range, server.cut_after[VIDEOS] = False, [1000]
    logs: list[str] = []
    dest = download_file(server.url(VIDEOS), tmp_path / VIDEOS, checksum=md5(data), retry_wait=0, log=logs.append)
    assert dest.read_bytes() == data  # the 1,000 bytes are replaced, not kept in front of the full copy
    assert server.requests == [(VIDEOS, None, 200, 1000), (VIDEOS, "bytes=1000-", 200, len(data))]
    assert any("ignored the Range request" in ln for ln in logs)


def test_corrupt_part_from_an_earlier_run_is_named_and_fetched_again(server, packed, tmp_path):
    data = packed[VIDEOS]
    (tmp_path / f"{VIDEOS}.part").write_bytes(b"\0" * 1000)  # an earlier run's bytes, but not this file's
    logs: list[str] = []
    dest = download_file(server.url(VIDEOS), tmp_path / VIDEOS, checksum=md5(data), retry_wait=0, log=logs.append)
    assert dest.read_bytes() == data
    assert server.requests == [(VIDEOS, "bytes=1000-", 206, len(data) - 1000), (VIDEOS, None, 200, len(data))]
    assert any(f"{VIDEOS}.part md5 is" in ln and "again from the first byte" in ln for ln in logs)


def test_checksum_mismatch_is_refused_with_one_line_naming_the_file(server, packed, tmp_path):
    dest = tmp_path / "dl" / VIDEOS
    wrong, got = md5(b"another file"), hashlib.md5(packed[VIDEOS]).hexdigest()
    with pytest.raises(DownloadError, match=rf"^{VIDEOS} downloaded from {re.escape(server.url(VIDEOS))} md5 is "
                                            rf"{got}, expected {wrong[4:]}: refused"):
        download_file(server.url(VIDEOS), dest, checksum=wrong, retry_wait=0, log=lambda _: None)
    assert not dest.exists() and len(server.requests) == 1  # fetched whole in this run: not fetched again
    # no checksum, but a pinned size the server's file does not have
    with pytest.raises(DownloadError, match=rf"^{VIDEOS} downloaded from .* is {len(packed[VIDEOS]):,} bytes, "
                                            rf"expected {len(packed[VIDEOS]) + 1:,}: refused"):
        download_file(server.url(VIDEOS), tmp_path / "sized" / VIDEOS, size=len(packed[VIDEOS]) + 1, retry_wait=0,
                      log=lambda _: None)
    # through the HMDB51 entry point: the same line plus how to download by hand, still one line
    videos, splits = archives_on(server, packed)
    with pytest.raises(LsvitError) as exc:
        download_hmdb51(tmp_path / "dl2", tmp_path / "out", (videos.__class__(videos.url, VIDEOS, wrong), splits),
                        retry_wait=0, log=lambda _: None)
    assert "\n" not in str(exc.value) and f"{VIDEOS} downloaded from" in str(exc.value)
    assert "tools/prepare_hmdb51.py" in str(exc.value)
    with pytest.raises(LsvitError, match="expected '<algo>:<hex digest>'"):  # a malformed pin: before any request
        download_file(server.url(VIDEOS), tmp_path / "bad" / VIDEOS, checksum="md5:1234", log=lambda _: None)
    # a file already under the final name that does not match is refused, not overwritten
    dest.write_bytes(b"not the archive")
    with pytest.raises(DownloadError, match=rf"{re.escape(str(dest))} md5 is .*delete it to download it again"):
        download_file(server.url(VIDEOS), dest, checksum=md5(packed[VIDEOS]), log=lambda _: None)
    assert dest.read_bytes() == b"not the archive"


def test_unreachable_url_is_one_line_saying_how_to_download_by_hand(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/{VIDEOS}"
    r = subprocess.run(tool(f"out={tmp_path / 'hmdb51'}", f"videos_url={url}"), capture_output=True, text=True,
                       cwd=tmp_path, timeout=60)
    assert r.returncode == 2, r.stderr
    line = r.stderr.strip()
    assert "\n" not in line and line.startswith(f"error: cannot reach {url} (")
    assert "Download hmdb51_org.rar and test_train_splits.rar by hand" in line
    assert "serre-lab.clps.brown.edu" in line and "tools/prepare_hmdb51.py" in line
    assert not any(p.suffix in (".rar", ".part") for p in (tmp_path / "hmdb51").rglob("*"))


def test_killed_download_leaves_only_part_and_the_rerun_continues(server, packed, mini_hmdb51, tmp_path):
    pytest.importorskip("unrar.cffi")
    data, dl = packed[VIDEOS], tmp_path / "hmdb51" / "downloads"
    server.stall_after[VIDEOS] = 1000
    args = tool(f"out={tmp_path / 'hmdb51'}", f"videos_url={server.url(VIDEOS)}", f"splits_url={server.url(SPLITS)}",
                f"videos_checksum={md5(data)}", f"splits_checksum={md5(packed[SPLITS])}", "check_counts=false",
                "timeout=60")
    proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        part, deadline = dl / f"{VIDEOS}.part", time.monotonic() + 15
        while not (part.exists() and part.stat().st_size == 1000) and time.monotonic() < deadline \
                and proc.poll() is None:
            time.sleep(0.02)
        # the bytes are on disk while the connection still hangs (the server holds it up to 60 s, the client 60 s)
        assert time.monotonic() < deadline and proc.poll() is None
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert part.read_bytes() == data[:1000]
    assert not (dl / VIDEOS).exists()  # never a half file under the final name
    server.release.set()
    r = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "OK: complete" in r.stdout
    assert server.requests[1:] == [(VIDEOS, "bytes=1000-", 206, len(data) - 1000), (SPLITS, None, 200,
                                                                                      len(packed[SPLITS]))]
    assert tree(tmp_path / "hmdb51" / "videos") == tree(mini_hmdb51 / "videos")
    assert not part.exists() and (dl / VIDEOS).read_bytes() == data


def test_a_full_disk_stops_at_once_naming_the_part(server, packed, tmp_path, monkeypatch):
    import errno

    import lsvit.data.hmdb51.download as download

    class FullDisk:
        def __init__(self, f) -> None:
            self.f = f

        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name: str):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc: object) -> None:
            self.f.close()

    monkeypatch.setattr(download, "open", lambda *a, **k: FullDisk(open(*a, **k)), raising=False)
    with pytest.raises(DownloadError, match=rf"{VIDEOS}.part: No space left on device after 0 bytes"):
        download_file(server.url(VIDEOS), tmp_path / VIDEOS, retries=3, retry_wait=0, log=lambda _: None)
    assert len(server.requests) == 1  # not retried: the disk, not the connection
