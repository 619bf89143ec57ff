"""Part buffers and the zero-copy body: pure tests."""

from __future__ import annotations

import io
import mmap
import os
from pathlib import Path

import anyio
import pytest

from async_ingest._buffers import MAPPED_BUFFER, BufferPool, PartBody, read_into


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


@pytest.mark.anyio
async def test_pool_reuses_buffers_big_enough() -> None:
    """A returned buffer is handed out again when it is large enough; a small one is replaced."""
    pool = BufferPool(limit=1000)
    first = await pool.take(100)
    await pool.give(first)
    assert await pool.take(50) is first
    await pool.give(first)
    bigger = await pool.take(200)
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


@pytest.mark.anyio
async def test_pool_keeps_to_its_budget() -> None:
    """A take that would exceed the budget waits for a give; one oversized buffer is still granted alone."""
    pool = BufferPool(limit=100)
    first = await pool.take(60)
    second_taken = anyio.Event()

    async def take_second() -> None:
        buffer = await pool.take(60)
        second_taken.set()
        await pool.give(buffer)

    async with anyio.create_task_group() as tg:
        tg.start_soon(take_second)
        await anyio.wait_all_tasks_blocked()
        assert not second_taken.is_set()
        await pool.give(first)
        with anyio.fail_after(5):
            await second_taken.wait()
    assert pool.held <= 100
    huge = await pool.take(500)
    assert len(huge) == 500
    await pool.give(huge)


@pytest.mark.anyio
async def test_large_buffers_are_memory_maps_read_into_and_reused(tmp_path: Path) -> None:
    """From MAPPED_BUFFER up a buffer is an anonymous map (its pages zeroed by the kernel as they are
    first written, not by Python holding the GIL); reads fill it, and it is reused."""
    data = os.urandom(MAPPED_BUFFER + 100)
    source = tmp_path / "part"
    source.write_bytes(data)
    pool = BufferPool(limit=4 * MAPPED_BUFFER)
    buffer = await pool.take(MAPPED_BUFFER + 100)
    assert isinstance(buffer, mmap.mmap)
    assert buffer[:4096] == bytes(4096)
    fd = os.open(source, os.O_RDONLY)
    try:
        view = read_into(fd, buffer, 50, MAPPED_BUFFER)
    finally:
        os.close(fd)
    assert view is not None
    assert view.tobytes() == data[50 : 50 + MAPPED_BUFFER]
    view.release()
    await pool.give(buffer)
    assert await pool.take(MAPPED_BUFFER) is buffer
    assert isinstance(await pool.take(100), bytearray)  # small ones stay plain bytearrays


@pytest.mark.anyio
async def test_pool_gives_a_small_request_a_small_buffer() -> None:
    """A kept part-sized buffer is not handed to a small file: the small file gets its own, and the
    large one stays kept for the next part, within the budget."""
    pool = BufferPool(limit=10_000)
    large = await pool.take(8000)
    await pool.give(large)
    small = await pool.take(1000)
    assert len(small) == 1000
    assert await pool.take(8000) is large
    assert pool.held <= 10_000
    await pool.give(small)
    await pool.give(large)
    assert await pool.take(900) is small  # the smallest that fits
