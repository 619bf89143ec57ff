"""Part buffers and the zero-copy body: pure tests."""

from __future__ import annotations

import io
import os
from pathlib import Path

import anyio
import pytest

from async_ingest._buffers import OFF_LOOP_ALLOCATION, BufferPool, PartBody, read_into


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
async def test_take_cancelled_while_allocating_off_loop_frees_its_reservation() -> None:
    """A large buffer is zero-filled in a worker thread; cancelled before it comes, its share of the budget returns."""
    size = 2 * OFF_LOOP_ALLOCATION
    pool = BufferPool(limit=size)
    threads = anyio.to_thread.current_default_thread_limiter()
    saved = threads.total_tokens
    holder = object()
    threads.total_tokens = 1
    await threads.acquire_on_behalf_of(holder)  # no worker thread free: the allocation waits for one
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(pool.take, size)
            await anyio.wait_all_tasks_blocked()
            assert pool.held == size  # reserved, and waiting for its thread
            tg.cancel_scope.cancel()
    finally:
        threads.release_on_behalf_of(holder)
        threads.total_tokens = saved
    assert pool.held == 0
    with anyio.fail_after(5):
        assert len(await pool.take(size)) == size  # the whole budget is there again
