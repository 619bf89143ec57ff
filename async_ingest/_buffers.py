"""Part buffers: read into reusable memory, sent without copying.

A part is read (in a worker thread) into a buffer taken from a pool, and sent
through a file-like view of that buffer.  Reusing buffers keeps the process's
memory at about ``concurrency x part size`` instead of letting the allocator
accumulate freed part-sized blocks, and the view spares the copy that ``io.BytesIO``
makes of its contents as soon as aiohttp asks for its buffer.
"""

from __future__ import annotations

import io
import mmap
import os
from dataclasses import dataclass

import anyio

from ._bandwidth import ThrottledBody, TokenBucket

__all__ = ["MAPPED_BUFFER", "Buffer", "BufferPool", "Limits", "PartBody", "read_into"]

#: Buffers from this size up are anonymous memory maps: the kernel supplies their zeroed pages as
#: the read (in a worker thread, without the GIL) first writes them.  A bytearray is zero-filled
#: when created, holding the GIL: for a part-sized buffer that stalls the event loop, even when
#: done in another thread.
MAPPED_BUFFER = 1 << 20

Buffer = bytearray | mmap.mmap


class BufferPool:
    """Reusable buffers under a memory budget, shared by every request of an Ingestor.

    ``take`` waits while the buffers in use plus the one asked for would exceed *limit*
    bytes (a single buffer larger than the budget is still granted when nothing else is
    in use), so memory stays bounded whatever the number of requests in flight.
    Used from the event loop only.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._free: list[Buffer] = []
        self._in_use = 0
        #: Takes waiting for the budget; while there are none, a take or give needs no lock.
        self._waiting = 0
        self._changed = anyio.Condition()

    @property
    def held(self) -> int:
        """Bytes held: in use plus kept for reuse."""
        return self._in_use + sum(len(buffer) for buffer in self._free)

    async def take(self, size: int) -> Buffer:
        """A buffer of at least *size* (and at most twice *size*) bytes, once the budget allows it."""
        if not self._waiting:  # nobody queued ahead: no lock needed on the loop's one thread
            buffer = self._grant(size)
            if buffer is not None:
                return buffer
        async with self._changed:
            while True:
                buffer = self._grant(size)
                if buffer is not None:
                    return buffer
                self._waiting += 1
                try:
                    await self._changed.wait()
                finally:
                    self._waiting -= 1

    def _grant(self, size: int) -> Buffer | None:
        """A buffer for *size* bytes if the budget allows it now, else None."""
        index = self._best_fit(size)
        if index is not None:
            buffer = self._free.pop(index)
            self._in_use += len(buffer)
            return buffer
        if self._in_use == 0 or self._in_use + size <= self._limit:
            # Make room by dropping kept buffers that do not fit this request.
            while self._free and self.held + size > self._limit:
                self._free.pop()
            self._in_use += size
            return mmap.mmap(-1, size) if size >= MAPPED_BUFFER else bytearray(size)
        return None

    def _best_fit(self, size: int) -> int | None:
        """The index of the smallest kept buffer that holds *size* bytes without wasting most of itself.

        A buffer more than twice the size asked for is not handed out: a small file would
        otherwise hold a part-sized buffer and use up the budget the parts need.
        """
        best: int | None = None
        for index, buffer in enumerate(self._free):
            if size <= len(buffer) <= 2 * size and (best is None or len(buffer) < len(self._free[best])):
                best = index
        return best

    async def give(self, buffer: Buffer) -> None:
        """Return *buffer* once nothing reads it any more."""
        self._in_use -= len(buffer)
        self._free.append(buffer)
        if self._waiting:
            async with self._changed:
                self._changed.notify_all()


@dataclass(frozen=True)
class Limits:
    """The limits every request of a run shares: requests in flight, buffer memory, reading threads, bandwidth."""

    slots: anyio.Semaphore
    buffers: BufferPool
    readers: anyio.CapacityLimiter
    #: The bandwidth limit's bucket (None: no limit), which each request body waits on before it is sent.
    bandwidth: TokenBucket | None = None

    async def body(self, data: memoryview | bytearray) -> PartBody | ThrottledBody | bytearray:
        """The request body of *data*: a file over its view, throttled chunk by chunk under a bandwidth limit.

        A bytearray (a small file, sent in one piece) is let through whole, before its request.
        """
        if isinstance(data, bytearray):
            if self.bandwidth is not None:
                await self.bandwidth.acquire(len(data))
            return data
        body = PartBody(data)
        return body if self.bandwidth is None else ThrottledBody(body, len(data), self.bandwidth)


def read_into(fd: int, buffer: Buffer, offset: int, length: int) -> memoryview | None:
    """Read *length* bytes at *offset* into *buffer*; None if the file ends first (blocking: run it in a thread)."""
    view = memoryview(buffer)[:length]
    done = 0
    while done < length:
        count = os.preadv(fd, [view[done:]], offset + done)
        if count == 0:
            return None
        done += count
    return view


class PartBody(io.BytesIO):
    """A read-only, seekable file over a memoryview, which aiohttp streams in chunks without copying it whole.

    (aiohttp sends ``io.BytesIO`` bodies chunk by chunk with back-pressure; a real BytesIO
    would first copy the whole part when aiohttp calls ``getbuffer()``.)
    """

    def __init__(self, view: memoryview) -> None:
        super().__init__()
        self._view = view
        self._position = 0

    def getbuffer(self) -> memoryview:
        return self._view[:]

    def read(self, size: int | None = -1) -> bytes:
        end = len(self._view) if size is None or size < 0 else min(len(self._view), self._position + size)
        chunk = bytes(self._view[self._position : end])
        self._position = end
        return chunk

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self._view)}[whence]
        self._position = max(0, base + offset)
        return self._position

    def tell(self) -> int:
        return self._position

    def __len__(self) -> int:
        return len(self._view)
