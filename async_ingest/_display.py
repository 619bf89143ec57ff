"""Progress on the terminal: a live rich display, plain periodic lines, or nothing.

``ProgressDisplay`` is the ``on_progress`` callback of ``Ingestor.ingest``.  It runs
on the event loop, so each event costs O(1): it only updates counters.  Drawing
happens at most every ``RICH_REFRESH`` seconds (rich) or every ``interval``
seconds (plain), from inside a call, never from a thread of its own: rich's
auto-refresh thread is switched off, so every piece of state is touched by the
event loop's thread only.  The flip side: while no event arrives, nothing is
redrawn (a stall shows as a frozen display); ``tick()`` redraws when one is due,
for a caller that wants a heartbeat.

The figures measure how much of the run is behind: a file that finished counts
in full, whether uploaded, skipped or failed (its report says what landed).  The
rate counts only bytes actually sent, over the last ``RATE_WINDOW`` seconds, and
the ETA is the bytes still ahead at that rate.

rich is imported only when the rich display starts: importing this module (or
the CLI) does not import it.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import math
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TextIO

from ._results import FileStatus, ProgressEvent

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = ["ProgressDisplay"]

DisplayMode = Literal["auto", "rich", "plain", "off"]

#: Seconds between two redraws of the rich display, at most.
RICH_REFRESH = 0.1
#: File rows of the rich display, at most; the files beyond are counted on a line of their own.
MAX_FILE_ROWS = 10
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


def _printable(text: str) -> str:
    """*text* with control characters (a newline in a file name…) shown as ``?``: one row stays one line."""
    return text if text.isprintable() else "".join(c if c.isprintable() else "?" for c in text)


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, OSError, ValueError):  # no isatty, or a closed stream
        return False


@dataclass(slots=True)
class _InFlight:
    size: int
    done: int
    started: float


class _Tally:
    """The run so far, updated in O(1) per event."""

    def __init__(self, total_files: int, total_bytes: int, start: float) -> None:
        self.total_files = total_files
        self.total_bytes = total_bytes
        self.start = start
        #: Bytes actually sent.
        self.sent = 0
        #: Bytes behind: sent by files in flight, plus the whole size of every finished file.
        self.settled = 0
        self.files_done = 0
        self.statuses: collections.Counter[FileStatus] = collections.Counter()
        #: Files started and not finished, oldest first.
        self.in_flight: dict[str, _InFlight] = {}
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
            self.settled += max(event.size, done) - done
            self.files_done += 1
            if event.status is not None:
                self.statuses[event.status] += 1
            return
        file = self.in_flight.get(event.key)
        if file is None:
            file = self.in_flight[event.key] = _InFlight(size=event.size, done=0, started=now)
        if event.kind == "advanced":
            self.sent += event.advance
            self.settled += event.advance
            file.done += event.advance
            if now - self._samples[-1][0] >= SAMPLE_EVERY:
                self._samples.append((now, self.sent))

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

    def plain_line(self, now: float) -> str:
        """``async-ingest: 123.4 MiB of 290.1 MiB (42%), 1 of 2 files done, 85.3 MiB/s, ETA 2s``."""
        parts = [
            f"{format_bytes(self.settled)} of {format_bytes(self.total_bytes)} ({self.percent()}%)",
            self.files_text(),
        ]
        rate = self.rate(now)
        if rate is not None:
            parts.append(f"{format_bytes(rate)}/s")
        eta = self.eta(rate)
        if eta is not None:
            parts.append(f"ETA {format_duration(eta)}")
        return _PREFIX + ", ".join(parts)

    def final_line(self, now: float, *, interrupted: bool) -> str:
        """``async-ingest: 290.1 MiB of 290.1 MiB (100%), 2 of 2 files done in 3.4s, 85.3 MiB/s``."""
        elapsed = now - self.start
        line = (
            f"{_PREFIX}{format_bytes(self.settled)} of {format_bytes(self.total_bytes)} ({self.percent()}%), "
            f"{self.files_text()} in {format_duration(elapsed, precise=True)}"
        )
        if self.sent and elapsed > 0:
            line += f", {format_bytes(self.sent / elapsed)}/s"
        if interrupted:
            line += ", interrupted"
        return line


class ProgressDisplay:
    """Shows a run's progress on *stream*; use it as ``on_progress`` inside ``with``.

    *mode*: ``rich`` a live display (a row per file in flight, at most
    ``MAX_FILE_ROWS``, and a total row), cleared on exit so the report printed
    next stands alone; ``plain`` a line every *interval* seconds at most and a
    final line on exit, no escape codes; ``off`` nothing; ``auto`` rich on a
    terminal, plain otherwise.  *total_files* and *total_bytes* are the run's
    (its plan's) totals.  *clock* is injectable for tests.

    A display never raises into the run: if writing to *stream* fails, it stops
    drawing.  Events before ``__enter__`` or after ``__exit__`` are ignored; a
    display is entered once.
    """

    def __init__(
        self,
        *,
        stream: TextIO,
        mode: DisplayMode,
        total_files: int,
        total_bytes: int,
        interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if mode not in ("auto", "rich", "plain", "off"):
            raise ValueError(f"unknown progress mode {mode!r}")
        if interval < 0:
            raise ValueError(f"interval must not be negative, got {interval}")
        if mode == "auto":
            mode = "rich" if _isatty(stream) and not _dumb_terminal() else "plain"
        self.stream = stream
        #: The mode in use: ``auto`` resolved to ``rich`` or ``plain``.
        self.mode: Literal["rich", "plain", "off"] = mode
        self.interval = interval
        self._clock = clock
        self._tally = _Tally(total_files, total_bytes, clock())
        #: idle -> running (inside ``with``) -> done.
        self._state: Literal["idle", "running", "done"] = "idle"
        #: Events are recorded and drawn: running, and the stream still takes writes.
        self._drawing = False
        self._next_draw = math.inf
        self._progress: Progress | None = None
        self._total_task: TaskID | None = None
        #: Key -> rich task of the file rows on screen, in screen order.
        self._rows: dict[str, TaskID] = {}

    def __enter__(self) -> ProgressDisplay:
        if self._state != "idle":
            raise RuntimeError("a ProgressDisplay is entered once")
        self._state = "running"
        if self.mode == "off":
            return self
        now = self._clock()
        self._tally.restart(now)
        self._drawing = True
        if self.mode == "rich":
            self._next_draw = now + RICH_REFRESH
            try:
                self._start_rich()
            except (OSError, ValueError):
                self._stop_drawing()
        else:
            self._next_draw = now + self.interval
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._state != "running":
            return
        self._state = "done"
        drawing, self._drawing = self._drawing, False
        if self.mode == "rich":
            self._stop_rich()
        elif self.mode == "plain" and drawing:
            interrupted = bool(exc_info) and exc_info[0] is not None
            self._write(self._tally.final_line(self._clock(), interrupted=interrupted))

    def __call__(self, event: ProgressEvent) -> None:
        """Record *event*; draw if a redraw is due.  O(1) unless drawing."""
        if not self._drawing:
            return
        now = self._clock()
        self._tally.record(event, now)
        if now >= self._next_draw:
            self._draw(now)

    def tick(self) -> None:
        """Redraw if a redraw is due: for a caller's heartbeat while no event arrives (optional)."""
        if self._drawing:
            now = self._clock()
            if now >= self._next_draw:
                self._draw(now)

    # -- drawing --------------------------------------------------------------------------------------------------

    def _draw(self, now: float) -> None:
        if self.mode == "plain":
            self._next_draw = now + self.interval
            self._write(self._tally.plain_line(now))
        else:
            self._next_draw = now + RICH_REFRESH
            try:
                self._refresh_rich(now)
            except (OSError, ValueError):
                self._stop_drawing()

    def _write(self, line: str) -> None:
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream
            self._stop_drawing()

    def _stop_drawing(self) -> None:
        """The stream failed: draw no more (the run goes on), and give back the cursor and sys.stderr."""
        self._drawing = False
        self._stop_rich()

    def _stop_rich(self) -> None:
        if self._progress is not None:
            with contextlib.suppress(OSError, ValueError):
                self._progress.stop()  # transient: clears the display; restores the cursor and the redirected stream

    def _start_rich(self) -> None:
        from rich.cells import cell_len, get_character_cell_size
        from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
        from rich.measure import Measurement
        from rich.progress import BarColumn, DownloadColumn, ProgressColumn, Task, TextColumn
        from rich.progress import Progress as RichProgress
        from rich.table import Column
        from rich.text import Text

        display = self

        class Label:
            """One line of text; *from_left*: cut from the left (``…/2022/05/02/movies.csv``) to fit."""

            def __init__(self, text: str, *, from_left: bool, style: str = "") -> None:
                self.text = text
                self.from_left = from_left
                self.style = style

            def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
                width = cell_len(self.text)
                return Measurement(min(width, 12), width)

            def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
                text, width = self.text, options.max_width
                if self.from_left and cell_len(text) > width:
                    ellipsis = "..." if options.ascii_only else "…"
                    room, start = width - len(ellipsis), len(text)
                    while start > 0 and room >= get_character_cell_size(text[start - 1]):
                        start -= 1
                        room -= get_character_cell_size(text[start])
                    text = ellipsis + text[start:] if width > len(ellipsis) else ""
                yield Text(text, style=self.style, no_wrap=True, overflow="ellipsis", end="")

        class LabelColumn(ProgressColumn):
            def render(self, task: Task) -> Label:
                if task.fields.get("is_total"):
                    return Label(task.description, from_left=False, style="bold")
                return Label(task.description, from_left=True)

        class Live(RichProgress):
            def refresh(self) -> None:
                """Nothing: rich would redraw on every add_task; ProgressDisplay draws with ``live.refresh()``."""

            def get_renderables(self) -> Iterable[RenderableType]:
                yield self.make_tasks_table(self.tasks)
                hidden = len(display._tally.in_flight) - len(display._rows)
                if hidden > 0:
                    yield Text(f"+ {hidden} more in flight", style="dim")

        class Terminal(Console):
            def on_broken_pipe(self) -> None:
                # rich's own points stdout at /dev/null and raises SystemExit: not in the middle of a run.
                self.quiet = True
                display._drawing = False

        console = Terminal(file=self.stream, force_terminal=True)
        progress = Live(
            LabelColumn(table_column=Column(ratio=2, no_wrap=True)),
            BarColumn(bar_width=None, table_column=Column(ratio=1)),
            DownloadColumn(binary_units=True, table_column=Column(justify="right", no_wrap=True)),
            TextColumn("{task.fields[rate]}", justify="right", markup=False),
            TextColumn("{task.fields[eta]}", justify="right", markup=False),
            console=console,
            auto_refresh=False,  # no refresh thread: drawn from the event loop, at most every RICH_REFRESH s
            transient=True,
            expand=True,
            get_time=self._clock,
            redirect_stdout=self.stream is sys.stdout,
            redirect_stderr=self.stream is sys.stderr,
        )
        tally = self._tally
        self._total_task = progress.add_task(
            self._total_description(),
            total=max(tally.total_bytes, 0),
            completed=0,
            is_total=True,
            rate="",
            eta="",
        )
        self._progress = progress
        progress.live.start()  # not progress.start(), which draws a first frame before the rows are in
        self._refresh_rich(self._clock())

    def _total_description(self) -> str:
        tally = self._tally
        failed = tally.statuses[FileStatus.FAILED]
        return f"total {tally.files_done}/{tally.total_files} files" + (f", {failed} failed" if failed else "")

    def _refresh_rich(self, now: float) -> None:
        """Bring the rows up to date (the oldest MAX_FILE_ROWS files in flight) and redraw: O(MAX_FILE_ROWS)."""
        progress = self._progress
        assert progress is not None
        assert self._total_task is not None
        tally = self._tally
        rows: dict[str, TaskID] = {}
        for key, file in itertools.islice(tally.in_flight.items(), MAX_FILE_ROWS):
            span = now - file.started
            rate = file.done / span if span >= MIN_RATE_SPAN and file.done else None
            rate_text, eta_text = _rate_texts(rate, file.size - file.done)
            task = self._rows.pop(key, None)
            if task is None:
                task = progress.add_task(
                    _printable(key), total=file.size, completed=file.done, rate=rate_text, eta=eta_text
                )
            else:
                progress.update(task, completed=file.done, rate=rate_text, eta=eta_text)
            rows[key] = task
        for gone in self._rows.values():
            progress.remove_task(gone)
        self._rows = rows
        rate_text, eta_text = _rate_texts(tally.rate(now), tally.total_bytes - tally.settled)
        progress.update(
            self._total_task,
            description=self._total_description(),
            completed=min(tally.settled, max(tally.total_bytes, 0)),
            rate=rate_text,
            eta=eta_text,
        )
        progress.live.refresh()


def _rate_texts(rate: float | None, remaining: int) -> tuple[str, str]:
    """The rate and ETA columns: ``85.3 MiB/s``, ``2s``; empty when unknown."""
    return (
        f"{format_bytes(rate)}/s" if rate is not None else "",
        format_duration(remaining / rate) if rate and remaining > 0 else "",
    )


def _dumb_terminal() -> bool:
    return os.environ.get("TERM", "").lower() in ("dumb", "unknown")
