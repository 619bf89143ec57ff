"""The run's bandwidth limit: a token bucket that request bodies wait on as their bytes are sent.

The bucket is filled at the limit's rate and starts empty.  A part (or a file larger than
``SMALL_BODY``, sent in one request) goes out as a :class:`ThrottledBody`: aiohttp iterates it,
and each chunk of :data:`CHUNK` bytes takes its tokens before it is handed over, waiting while
the bucket is in debt; botocore still sees a seekable file (signing, checksums, retries).  A
small body, sent in one piece, takes its tokens before its request.  So by any time ``t`` at
most ``rate x t`` bytes (plus one chunk or small body, and the debt of a wait too short to
sleep, MIN_SLEEP) have been let through: the run never beats the limit, and its duration is
at least its bytes over the rate.  With worker processes,
each process has its own bucket with an equal share of the limit (:func:`process_share`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio

from ._exceptions import ConfigError

__all__ = ["CHUNK", "ThrottledBody", "TokenBucket", "check_bandwidth", "process_share"]

#: Bytes of a body let through at a time: aiohttp's own chunk size.
CHUNK = 1 << 16
#: A wait shorter than this is not slept yet: the debt carries over to the next chunk (fewer, longer sleeps).
MIN_SLEEP = 0.01


class TokenBucket:
    """Tokens (bytes) added at *rate* per second, up to *capacity* saved while idle (none by default).

    *clock* and *sleep* are injectable (a test's fake time); used from one event loop.
    """

    def __init__(
        self,
        rate: float,
        *,
        capacity: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = anyio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate = rate
        self._capacity = capacity
        self._clock = clock
        self._sleep = sleep
        self._tokens = 0.0
        self._filled_at: float | None = None

    def take(self, amount: int) -> float:
        """Take *amount* tokens now, going into debt if need be; the seconds until the debt is paid off."""
        now = self._clock()
        if self._filled_at is not None:
            self._tokens = min(self._capacity, self._tokens + (now - self._filled_at) * self.rate)
        self._filled_at = now
        self._tokens -= amount
        return max(0.0, -self._tokens / self.rate)

    async def acquire(self, amount: int) -> None:
        """Wait until *amount* bytes may be sent; cancelled while waiting, the tokens are given back."""
        delay = self.take(amount)
        if delay < MIN_SLEEP:
            return
        try:
            await self._sleep(delay)
        except BaseException:
            self._tokens += amount
            raise


class ThrottledBody:
    """A request body that aiohttp iterates, chunk by chunk, each let through by *bucket*; a file to botocore.

    *body* is the file-like body it stands for (read, seek and tell go to it): botocore reads
    it to sign or checksum the request and seeks it back for a retry, which iterates it again
    from where it stands.  Deliberately not an ``io.IOBase``: aiohttp would read it as a file,
    without a pause between chunks.
    """

    def __init__(self, body: Any, size: int, bucket: TokenBucket) -> None:
        self._body = body
        self._size = size
        self._bucket = bucket

    def read(self, size: int | None = -1) -> bytes:
        data: bytes = self._body.read(size)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        position: int = self._body.seek(offset, whence)
        return position

    def tell(self) -> int:
        position: int = self._body.tell()
        return position

    def __len__(self) -> int:
        return self._size

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        while chunk := self._body.read(CHUNK):
            await self._bucket.acquire(len(chunk))
            yield chunk


def check_bandwidth(max_bandwidth: int | None, *, checksum: str, request_checksum_calculation: str) -> None:
    """Raise ConfigError unless *max_bandwidth* is None (no limit) or a limit that can be kept.

    A limit is at least 1 byte per second.  It cannot be kept when botocore computes the
    checksum itself (``when_supported`` with no checksum of ours): over HTTPS botocore then
    wraps the body in its own streaming encoding, which reads it past the limiter.
    """
    if max_bandwidth is None:
        return
    if isinstance(max_bandwidth, bool) or not max_bandwidth >= 1:
        raise ConfigError(f"max bandwidth must be at least 1 byte per second, got {max_bandwidth!r}")
    if checksum == "none" and request_checksum_calculation == "when_supported":
        raise ConfigError(
            "max bandwidth cannot be kept while botocore computes the checksum "
            "(request_checksum_calculation=when_supported with checksum none): choose a checksum or when_required"
        )


def process_share(max_bandwidth: int | None, processes: int) -> int | None:
    """The share of the limit of each of *processes* processes (at least 1 byte per second); None: no limit."""
    if max_bandwidth is None:
        return None
    return max(1, max_bandwidth // processes)
