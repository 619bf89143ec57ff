"""The run's bandwidth limit: a token bucket every request body of an Ingestor waits on before it is sent.

The bucket is filled at the limit's rate and starts empty; a request takes its whole body's
worth of tokens before it is sent, waiting while the bucket is in debt.  So by any time ``t``
after the first request, at most ``rate x t`` bytes have been let through, the run as a whole
cannot beat the limit (its duration is at least its bytes over the rate), and a burst on the
wire is one request body (a part, or a file sent in one request).  With worker processes,
each process has its own bucket with an equal share of the limit (:func:`process_share`).
Retries that botocore makes of a request resend its body without asking the bucket again.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio

from ._exceptions import ConfigError

__all__ = ["TokenBucket", "check_bandwidth", "process_share"]


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
        if delay <= 0:
            return
        try:
            await self._sleep(delay)
        except BaseException:
            self._tokens += amount
            raise


def check_bandwidth(max_bandwidth: int | None) -> None:
    """Raise ConfigError unless *max_bandwidth* is None (no limit) or at least 1 byte per second."""
    if max_bandwidth is not None and (isinstance(max_bandwidth, bool) or not max_bandwidth >= 1):
        raise ConfigError(f"max bandwidth must be at least 1 byte per second, got {max_bandwidth!r}")


def process_share(max_bandwidth: int | None, processes: int) -> int | None:
    """The share of the limit of each of *processes* processes (at least 1 byte per second); None: no limit."""
    if max_bandwidth is None:
        return None
    return max(1, max_bandwidth // processes)
