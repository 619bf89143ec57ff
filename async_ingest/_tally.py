"""The figures of a run's progress, kept up to date in O(1) per event, and their plain-text lines.

Bytes done are the bytes sent, plus the whole size of each file uploaded or
skipped: a failed file counts only what was sent of it, so a failure does not
fill the bar.  The rate is the one the final line shows, bytes sent since the
run's start over the time elapsed; the current rate (bytes sent over the last
``RATE_WINDOW`` seconds) is shown beside it, and the ETA is the bytes still
ahead at the current rate.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass

from ._results import FileStatus, ProgressEvent

__all__ = ["MIN_RATE_SPAN", "InFlight", "Tally", "format_bytes", "format_duration", "printable"]

#: Seconds of history behind the rate and the ETA.
RATE_WINDOW = 20.0
#: Seconds between two samples of the bytes sent (bounds the samples kept to RATE_WINDOW / SAMPLE_EVERY).
SAMPLE_EVERY = 0.5
#: A rate over less time than this is noise: none is shown.
MIN_RATE_SPAN = 0.5

_PREFIX = "async-ingest: "
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def format_bytes(size: float) -> str:
    """``123.4 MiB``: binary units, one decimal (none for bytes)."""
    for unit in _UNITS:
        if abs(size) < 1024 or unit == _UNITS[-1]:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def format_duration(seconds: float, *, precise: bool = False) -> str:
    """``2s``, ``1m05s``, ``2h03m``; *precise*: tenths under a minute (``3.4s``)."""
    if precise and seconds < 59.95:
        return f"{max(seconds, 0.0):.1f}s"
    whole = max(0, math.ceil(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def printable(text: str) -> str:
    """*text* with control characters (a newline in a file name…) shown as ``?``: one row stays one line."""
    return text if text.isprintable() else "".join(c if c.isprintable() else "?" for c in text)


@dataclass(slots=True)
class InFlight:
    size: int
    done: int
    started: float

    @property
    def sent_all(self) -> bool:
        """Every byte is sent and the file has no result yet: it is completing (and being verified)."""
        return self.done >= self.size


class Tally:
    """The run so far, updated in O(1) per event."""

    def __init__(self, total_files: int, total_bytes: int, start: float, *, limit: int | None = None) -> None:
        self.total_files = total_files
        self.total_bytes = total_bytes
        #: The run's bandwidth limit in bytes per second (None: no limit), shown beside the rates.
        self.limit = limit
        self.start = start
        #: Bytes actually sent.
        self.sent = 0
        #: Bytes done: sent, plus the whole size of every file uploaded or skipped.
        self.settled = 0
        self.files_done = 0
        #: Files in flight whose bytes are all sent.
        self.completing = 0
        self.statuses: collections.Counter[FileStatus] = collections.Counter()
        #: Files started and not finished, oldest first.
        self.in_flight: dict[str, InFlight] = {}
        #: (time, bytes sent then), one every SAMPLE_EVERY seconds at most, oldest first.
        self._samples: collections.deque[tuple[float, int]] = collections.deque([(start, 0)])

    def restart(self, now: float) -> None:
        """Time the run (its elapsed time and its rate) from *now*."""
        self.start = now
        self._samples = collections.deque([(now, self.sent)])

    def record(self, event: ProgressEvent, now: float) -> None:
        if event.kind == "finished":
            file = self.in_flight.pop(event.key, None)
            done = file.done if file is not None else 0
            if file is not None and file.sent_all:
                self.completing -= 1
            if event.status in (FileStatus.UPLOADED, FileStatus.SKIPPED):
                self.settled += max(event.size, done) - done
            self.files_done += 1
            if event.status is not None:
                self.statuses[event.status] += 1
            return
        file = self.in_flight.get(event.key)
        if file is None:
            file = self.in_flight[event.key] = InFlight(size=event.size, done=0, started=now)
            self.completing += file.sent_all
        if event.kind == "advanced":
            self.completing -= file.sent_all
            self.sent += event.advance
            self.settled += event.advance
            file.done += event.advance
            self.completing += file.sent_all
            if now - self._samples[-1][0] >= SAMPLE_EVERY:
                self._samples.append((now, self.sent))

    @property
    def all_done(self) -> bool:
        return self.total_files > 0 and self.files_done >= self.total_files

    def percent(self) -> int:
        if self.total_bytes > 0:
            return min(100, self.settled * 100 // self.total_bytes)
        if self.total_files > 0:
            return min(100, self.files_done * 100 // self.total_files)
        return 100

    def rate(self, now: float) -> float | None:
        """Bytes sent per second over about the last RATE_WINDOW seconds; None before there is a span to measure."""
        samples = self._samples
        while len(samples) >= 2 and samples[1][0] <= now - RATE_WINDOW:
            samples.popleft()
        since, sent_then = samples[0]
        span = now - since
        if span < MIN_RATE_SPAN:
            return None
        return (self.sent - sent_then) / span

    def average(self, now: float) -> float | None:
        """Bytes sent per second since the run's start, as the final line says; None before there is a span."""
        elapsed = now - self.start
        return self.sent / elapsed if elapsed >= MIN_RATE_SPAN else None

    def files_per_second(self, now: float) -> float | None:
        elapsed = now - self.start
        return self.files_done / elapsed if elapsed >= MIN_RATE_SPAN else None

    def eta(self, rate: float | None) -> float | None:
        remaining = self.total_bytes - self.settled
        if rate is None or rate <= 0 or remaining <= 0:
            return None
        return remaining / rate

    def files_text(self) -> str:
        """``3 of 50 files done (1 skipped, 1 failed)``."""
        details = ", ".join(
            f"{self.statuses[status]} {status.value}"
            for status in FileStatus
            if status is not FileStatus.UPLOADED and self.statuses[status]
        )
        return f"{self.files_done} of {self.total_files} files done" + (f" ({details})" if details else "")

    def bytes_text(self) -> str:
        """``123.4 MiB of 290.1 MiB (42%)``."""
        return f"{format_bytes(self.settled)} of {format_bytes(self.total_bytes)} ({self.percent()}%)"

    def plain_line(self, now: float) -> str:
        """``async-ingest: 123.4 MiB of 290.1 MiB (42%), 1 of 2 files done, 4s elapsed, 30.9 MiB/s
        average (85.3 MiB/s now), ETA 2s``, and ``1 completing`` while files have sent all their bytes,
        ``limit 50 MiB/s`` under a bandwidth limit."""
        parts = [self.bytes_text(), self.files_text(), f"{format_duration(now - self.start)} elapsed"]
        average, rate = self.average(now), self.rate(now)
        if average is not None:
            parts.append(f"{format_bytes(average)}/s average" + (f" ({format_bytes(rate)}/s now)" if rate else ""))
        eta = self.eta(rate)
        if eta is not None:
            parts.append(f"ETA {format_duration(eta)}")
        if self.completing:
            parts.append(f"{self.completing} completing")
        if self.limit is not None:
            parts.append(self.limit_text())
        return _PREFIX + ", ".join(parts)

    def limit_text(self) -> str:
        """``limit 50 MiB/s``: the bandwidth limit (whole units without their ``.0``)."""
        return f"limit {format_bytes(self.limit or 0).replace('.0 ', ' ')}/s"

    def final_line(self, now: float, *, interrupted: bool) -> str:
        """``async-ingest: 290.1 MiB of 290.1 MiB (100%), 2 of 2 files done in 3.4s, 85.3 MiB/s``."""
        elapsed = now - self.start
        line = f"{_PREFIX}{self.bytes_text()}, {self.files_text()} in {format_duration(elapsed, precise=True)}"
        if self.sent and elapsed > 0:
            line += f", {format_bytes(self.sent / elapsed)}/s average"
        if interrupted:
            line += ", interrupted"
        return line
