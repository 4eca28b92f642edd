"""A minimal RAR 4 writer (stored, uncompressed members) for test fixtures.

No RAR writer is installable here (``rar`` is proprietary; ``unrar``, ``unar`` and the
``unrar2-cffi`` wheel only read), so tests pack their miniature HMDB51 with this: the
format of RAR 1.5-4.x archives (marker block, archive header, one file header per member
with method 0x30 "store", end block) is documented in RARLAB's ``technote.txt``.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

MARKER = b"Rar!\x1a\x07\x00"


def _block(head_type: int, flags: int, body: bytes) -> bytes:
    head = struct.pack("<BHH", head_type, flags, 7 + len(body)) + body
    return struct.pack("<H", zlib.crc32(head) & 0xFFFF) + head


def write_rar(path: str | Path, members: dict[str, bytes]) -> Path:
    """Write ``members`` (archive name -> bytes, ``/``-separated) as a stored RAR 4 archive."""
    out = bytearray(MARKER)
    out += _block(0x73, 0, b"\x00" * 6)  # archive header: RESERVED1 (2) + RESERVED2 (4)
    for name, data in members.items():
        raw = name.encode("utf-8")
        # PACK_SIZE, UNP_SIZE, HOST_OS=3 (Unix), FILE_CRC, FTIME (DOS, 2020-01-01), UNP_VER=20,
        # METHOD=0x30 (store), NAME_SIZE, ATTR (Unix mode 0o100644)
        body = struct.pack("<IIBIIBBHI", len(data), len(data), 3, zlib.crc32(data), 0x50210000, 20, 0x30,
                           len(raw), 0o100644) + raw
        out += _block(0x74, 0x8000, body)  # 0x8000: LONG_BLOCK (packed data follows the header)
        out += data
    out += _block(0x7B, 0x4000, b"")
    path = Path(path)
    path.write_bytes(bytes(out))
    return path
