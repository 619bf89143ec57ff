"""Progress on the terminal: a live rich display, plain periodic lines, or nothing.

``ProgressDisplay`` is the ``on_progress`` callback of ``Ingestor.ingest``.  It runs
on the event loop, so each event costs O(1): it only updates counters.  Drawing
happens in a thread of the display's own, at most every ``RICH_REFRESH`` seconds
(rich, whose own refresh thread is off) or every ``interval`` seconds (plain), so a
stall shows as a display that keeps counting the time, not a frozen one.

The figures are a ``Tally``'s (``_tally.py``); the live display is ``_live.py``,
imported only when it starts: importing this module (or the CLI) does not import rich.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, TextIO

from ._results import ProgressEvent
from ._tally import Tally, format_bytes, format_duration

if TYPE_CHECKING:
    from ._live import LiveView

__all__ = ["ProgressDisplay", "format_bytes", "format_duration"]

DisplayMode = Literal["auto", "rich", "plain", "off"]

#: Seconds between two redraws of the rich display, at most.
RICH_REFRESH = 0.1
#: File rows of the rich display, at most; the files beyond are counted on a line of their own.
MAX_FILE_ROWS = 10
#: Files smaller than this get no row of their own on the live display (they come and go too fast to read):
#: the total row counts them.
ROW_MIN_SIZE = 8 * 2**20
#: Seconds between two beats of the heartbeat, at most (a plain line is due every ``interval`` s).
HEARTBEAT_MAX = 0.5


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, OSError, ValueError):  # no isatty, or a closed stream
        return False


class ProgressDisplay:
    """Shows a run's progress on *stream*; use it as ``on_progress`` inside ``with``.

    *mode*: ``rich`` a live display (a row per file in flight, at most
    ``MAX_FILE_ROWS``, and a total row), cleared on exit so the report printed
    next stands alone; ``plain`` a line every *interval* seconds at most and a
    final line on exit, no escape codes; ``off`` nothing; ``auto`` rich on a
    terminal, plain otherwise.  *total_files* and *total_bytes* are the run's
    (its plan's) totals; *limit*, the run's bandwidth limit in bytes per second, is
    shown on the total row and the plain lines.

    With the default *clock*, a thread of the display's own draws (every
    ``RICH_REFRESH`` s, or a line every *interval* s), so the display keeps
    moving while no event arrives; an event only updates counters, under a lock
    the thread takes to read them.  An injected *clock* (a test's) means the
    caller drives time: no thread, and a redraw that is due happens in the call
    of an event or of ``tick()``; unless *heartbeat* is true (a run's clock, which
    moves on its own).

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
        clock: Callable[[], float] | None = None,
        heartbeat: bool | None = None,
        limit: int | None = None,
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
        self._clock = clock or time.monotonic
        self._tally = Tally(total_files, total_bytes, self._clock(), limit=limit)
        #: Guards the tally and the drawing between the event loop's thread and the heartbeat.
        self._lock = threading.Lock()
        #: Held for a whole redraw: redraws never overlap, and stop() waits for the one under way.
        self._drawing_lock = threading.Lock()
        self._heartbeat: threading.Thread | None = None
        self._stopping = threading.Event()
        self._threaded = clock is None if heartbeat is None else heartbeat
        #: idle -> running (inside ``with``) -> done.
        self._state: Literal["idle", "running", "done"] = "idle"
        #: Events are recorded and drawn: running, and the stream still takes writes.
        self._drawing = False
        self._next_draw = math.inf
        self._live: LiveView | None = None

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
        if self._threaded and self._drawing:
            period = RICH_REFRESH if self.mode == "rich" else min(max(self.interval, RICH_REFRESH), HEARTBEAT_MAX)
            self._heartbeat = threading.Thread(
                target=self._beat, args=(period,), name="async-ingest progress", daemon=True
            )
            self._heartbeat.start()
        return self

    def _beat(self, period: float) -> None:
        while not self._stopping.wait(period):
            self.tick()

    def __exit__(self, *exc_info: object) -> None:
        if self._state != "running":
            return
        self._state = "done"
        self._stop_heartbeat()
        drawing, self._drawing = self._drawing, False
        if self.mode == "rich":
            self._stop_rich()
        elif self.mode == "plain" and drawing:
            interrupted = bool(exc_info) and exc_info[0] is not None
            self._write(self._tally.final_line(self._clock(), interrupted=interrupted))

    def stop(self) -> None:
        """Draw no more from now on: clear a live display (before the host prints what ends the run, such as
        ``interrupted``); plain output still ends with its final line on exit.  Idempotent."""
        if self._state != "running":
            return
        self._stop_heartbeat()
        with self._drawing_lock:
            self._next_draw = math.inf
            if self.mode == "rich":
                self._drawing = False
                self._stop_rich()

    def _stop_heartbeat(self) -> None:
        self._stopping.set()
        if self._heartbeat is not None and self._heartbeat is not threading.current_thread():
            self._heartbeat.join()

    def __call__(self, event: ProgressEvent) -> None:
        """Record *event*: O(1); with an injected clock, also draw if a redraw is due."""
        if not self._drawing:
            return
        now = self._clock()
        with self._lock:
            self._tally.record(event, now)
        if not self._threaded and now >= self._next_draw:
            self.tick()

    def tick(self) -> None:
        """Redraw if a redraw is due (the heartbeat's call; a caller driving an injected clock may call it too).

        The figures are read under the lock events take; the writing happens outside it, so an event never
        waits for the stream.
        """
        with self._drawing_lock:
            with self._lock:
                now = self._clock()
                if not self._drawing or now < self._next_draw:
                    return
                line = self._prepare(now)
            self._draw(line)

    # -- drawing --------------------------------------------------------------------------------------------------

    def _prepare(self, now: float) -> str | None:
        """Read the tally for a redraw at *now*: the plain line to write, or the live rows brought up to date."""
        if self.mode == "plain":
            self._next_draw = now + self.interval
            return None if self._tally.all_done else self._tally.plain_line(now)  # all done: the final line is next
        self._next_draw = now + RICH_REFRESH
        try:
            if self._live is not None:
                self._live.update(now)
        except (OSError, ValueError):
            self._stop_drawing()
        return None

    def _draw(self, line: str | None) -> None:
        if line is not None:
            self._write(line)
        elif self.mode == "rich" and self._live is not None and self._drawing:
            try:
                self._live.draw()
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
        if self._live is not None:
            self._live.stop()  # transient: clears the display; restores the cursor and the redirected stream

    def _start_rich(self) -> None:
        from ._live import LiveView

        self._live = LiveView(
            self._tally,
            stream=self.stream,
            max_rows=MAX_FILE_ROWS,
            row_min_size=ROW_MIN_SIZE,
            clock=self._clock,
            on_broken_pipe=self._broken,
        )
        self._live.start(self._clock())

    def _broken(self) -> None:
        self._drawing = False


def _dumb_terminal() -> bool:
    return os.environ.get("TERM", "").lower() in ("dumb", "unknown")
