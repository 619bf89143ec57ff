"""Part buffers and the zero-copy body: pure tests."""

from __future__ import annotations

import io
import os
from pathlib import Path

from async_ingest._buffers import BufferPool, PartBody, read_into


def test_part_body_reads_seeks_and_rewinds() -> None:
    """The body behaves as a seekable file over its view, so botocore can rewind it for a retry."""
    body = PartBody(memoryview(bytearray(b"0123456789"))[:8])
    assert len(body) == 8
    assert body.getbuffer().tobytes() == b"01234567"
    assert body.read(3) == b"012"
    assert body.tell() == 3
    assert body.read() == b"34567"
    assert body.read(5) == b""
    assert body.seek(0) == 0
    assert body.read(None) == b"01234567"
    assert body.seek(-2, io.SEEK_END) == 6
    assert body.read() == b"67"
    assert isinstance(body, io.BytesIO)  # what makes aiohttp stream it in chunks


def test_pool_reuses_buffers_big_enough() -> None:
    """A returned buffer is handed out again when it is large enough; a small one is replaced."""
    pool = BufferPool()
    first = pool.take(100)
    pool.give(first)
    assert pool.take(50) is first
    pool.give(first)
    bigger = pool.take(200)
    assert bigger is not first
    assert len(bigger) == 200


def test_read_into_reads_exactly_or_reports_a_short_file(tmp_path: Path) -> None:
    """Reads fill the buffer from the offset; a file that ends early gives None."""
    path = tmp_path / "f"
    path.write_bytes(b"abcdefghij")
    fd = os.open(path, os.O_RDONLY)
    try:
        buffer = bytearray(16)
        view = read_into(fd, buffer, 2, 5)
        assert view is not None
        assert view.tobytes() == b"cdefg"
        assert read_into(fd, buffer, 8, 5) is None
    finally:
        os.close(fd)
