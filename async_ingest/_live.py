"""The live display on a terminal, drawn with rich: a total row, a row per large file in flight, a last line.

The columns right of the bar have fixed widths, so nothing moves as rows come and go.
Files under a size get no row (many small files would only flicker): the total row and
the last line (elapsed time, files done, files per second) count them.

Imported only when a live display starts, so that importing the CLI does not import rich.
``LiveView`` never draws by itself (rich's refresh thread is off): ``ProgressDisplay``
calls ``update`` (under the lock events take) and then ``draw`` when a redraw is due.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from rich.cells import cell_len, get_character_cell_size
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID, TextColumn
from rich.table import Column
from rich.text import Text

from ._results import FileStatus
from ._tally import MIN_RATE_SPAN, InFlight, Tally, format_bytes, format_duration, printable

__all__ = ["LiveView"]


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


class LiveProgress(Progress):
    """rich's Progress, drawn only when told to, with a line for the files in flight without a row."""

    #: Files in flight that have no row of their own.
    hidden = 0
    #: The last line: elapsed time and files.
    summary = ""

    def refresh(self) -> None:
        """Nothing: rich would redraw on every add_task; LiveView draws with ``live.refresh()``."""

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        if self.hidden > 0:
            yield Text(f"+ {self.hidden} more in flight", style="dim", no_wrap=True, overflow="ellipsis")
        yield Text(self.summary, no_wrap=True, overflow="ellipsis")


class Terminal(Console):
    """A console that, on a broken pipe, goes quiet and tells its owner instead of exiting."""

    def __init__(self, *, on_broken_pipe: Callable[[], None], **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self._on_broken_pipe = on_broken_pipe

    def on_broken_pipe(self) -> None:
        # rich's own points stdout at /dev/null and raises SystemExit: not in the middle of a run.
        self.quiet = True
        self._on_broken_pipe()


#: Widths of the columns right of the bar: fixed (the label and the bar share the rest by ratio), so the
#: layout stays put as rows come and go.
PERCENT_WIDTH = 4
BYTES_WIDTH = 21  # 1023.9 MiB/1023.9 MiB
RATE_WIDTH = 16  # avg 1023.9 MiB/s
TIME_WIDTH = 11  # completing…


def _fixed(width: int) -> Column:
    return Column(width=width, min_width=width, max_width=width, justify="right", no_wrap=True)


def _file_times(file: InFlight, now: float) -> tuple[str, str]:
    """A file row's rate and time columns: ``85.3 MiB/s``, ``ETA 2s`` or ``completing…``."""
    if file.sent_all:
        return "", "completing…"
    span = now - file.started
    rate = file.done / span if span >= MIN_RATE_SPAN and file.done else None
    if rate is None:
        return "", ""
    return f"{format_bytes(rate)}/s", f"ETA {format_duration((file.size - file.done) / rate)}"


class LiveView:
    """The rows on screen for a Tally: a total row, then the oldest *max_rows* files in flight of at least
    *row_min_size* bytes (smaller ones, which come and go too fast to read, are counted on the total row
    and on a line of their own)."""

    def __init__(
        self,
        tally: Tally,
        *,
        stream: TextIO,
        max_rows: int,
        row_min_size: int,
        clock: Callable[[], float],
        on_broken_pipe: Callable[[], None],
    ) -> None:
        self._tally = tally
        self._max_rows = max_rows
        self._row_min_size = row_min_size
        console = Terminal(file=stream, force_terminal=True, on_broken_pipe=on_broken_pipe)
        self._progress = LiveProgress(
            LabelColumn(table_column=Column(ratio=2, no_wrap=True)),
            BarColumn(bar_width=None, table_column=Column(ratio=1, min_width=4)),
            TextColumn("{task.fields[percent]}", markup=False, justify="right", table_column=_fixed(PERCENT_WIDTH)),
            TextColumn("{task.fields[bytes]}", markup=False, justify="right", table_column=_fixed(BYTES_WIDTH)),
            TextColumn("{task.fields[rate]}", markup=False, justify="right", table_column=_fixed(RATE_WIDTH)),
            TextColumn("{task.fields[time]}", markup=False, justify="right", table_column=_fixed(TIME_WIDTH)),
            console=console,
            auto_refresh=False,  # no refresh thread of rich's: drawn when ProgressDisplay says
            transient=True,
            expand=True,
            get_time=clock,
            redirect_stdout=stream is sys.stdout,
            redirect_stderr=stream is sys.stderr,
        )
        self._total_task = self._progress.add_task(
            "total", total=max(tally.total_bytes, 1), is_total=True, percent="", bytes="", rate="", time=""
        )
        #: Key -> rich task of the file rows on screen, in screen order.
        self._rows: dict[str, TaskID] = {}

    def start(self, now: float) -> None:
        self._progress.live.start()  # not progress.start(), which draws a first frame before the rows are in
        self.update(now)
        self.draw()

    def stop(self) -> None:
        """Clear the display; restore the cursor and the redirected stream."""
        with contextlib.suppress(OSError, ValueError):
            self._progress.stop()

    def _total_texts(self, now: float) -> dict[str, Any]:
        tally = self._tally
        failed = tally.statuses[FileStatus.FAILED]
        label = f"total {tally.files_done}/{tally.total_files} files"
        per_second = tally.files_per_second(now)
        if failed:
            label += f", {failed} failed"
        if tally.limit is not None:
            label += f", {tally.limit_text()}"
        average = tally.average(now)
        eta = tally.eta(tally.rate(now))
        times = ""
        if tally.completing and tally.completing == len(tally.in_flight):
            times = "completing…"
        elif eta is not None:
            times = f"ETA {format_duration(eta)}"
        summary = f"elapsed {format_duration(now - tally.start)}, {tally.files_text()}"
        if per_second is not None and tally.files_done and tally.total_files > 1:
            summary += f", {per_second:.1f} files/s"
        self._progress.summary = summary
        return {
            "description": label,
            "percent": f"{tally.percent()}%",
            "bytes": f"{format_bytes(tally.settled)}/{format_bytes(tally.total_bytes)}",
            "rate": f"avg {format_bytes(average)}/s" if average is not None else "",
            "time": times,
        }

    def update(self, now: float) -> None:
        """Bring the rows up to date: O(files in flight) at most, O(max_rows) when the files are large."""
        progress, tally = self._progress, self._tally
        rows: dict[str, TaskID] = {}
        for key, file in tally.in_flight.items():
            if len(rows) == self._max_rows:
                break
            if file.size < self._row_min_size:
                continue
            rate, times = _file_times(file, now)
            fields: dict[str, Any] = {
                "percent": f"{min(100, file.done * 100 // max(file.size, 1))}%",
                "bytes": f"{format_bytes(file.done)}/{format_bytes(file.size)}",
                "rate": rate,
                "time": times,
            }
            task = self._rows.pop(key, None)
            if task is None:
                task = progress.add_task(printable(key), total=file.size, completed=file.done, **fields)
            else:
                progress.update(task, completed=file.done, **fields)
            rows[key] = task
        for gone in self._rows.values():
            progress.remove_task(gone)
        self._rows = rows
        progress.hidden = len(tally.in_flight) - len(rows)
        texts = self._total_texts(now)
        progress.update(
            self._total_task,
            description=texts.pop("description"),
            completed=min(tally.settled, max(tally.total_bytes, 1)) if tally.total_bytes else tally.percent() / 100,
            **texts,
        )

    def draw(self) -> None:
        self._progress.live.refresh()
