"""Part buffers: read into reusable memory, sent without copying.

A part is read (in a worker thread) into a buffer taken from a pool, and sent
through a file-like view of that buffer.  Reusing buffers keeps the process's
memory at about ``concurrency x part size`` instead of letting the allocator
accumulate freed 8 MiB blocks, and the view spares the copy that ``io.BytesIO``
makes of its contents as soon as aiohttp asks for its buffer.
"""

from __future__ import annotations

import io
import os

__all__ = ["BufferPool", "PartBody", "read_into"]


class BufferPool:
    """Buffers free for reuse.  Used from the event loop only; the run's request slots bound how many exist."""

    def __init__(self) -> None:
        self._free: list[bytearray] = []

    def take(self, size: int) -> bytearray:
        """A buffer of at least *size* bytes."""
        while self._free:
            buffer = self._free.pop()
            if len(buffer) >= size:
                return buffer
        return bytearray(size)

    def give(self, buffer: bytearray) -> None:
        """Return *buffer* once nothing reads it any more."""
        self._free.append(buffer)


def read_into(fd: int, buffer: bytearray, offset: int, length: int) -> memoryview | None:
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
