"""The live display on a terminal, drawn with rich: a row per file in flight and a total row.

Imported only when a live display starts, so that importing the CLI does not import rich.
``LiveView`` never draws by itself (rich's refresh thread is off): ``ProgressDisplay``
calls ``refresh`` when a redraw is due.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
from collections.abc import Callable, Iterable
from typing import TextIO

from rich.cells import cell_len, get_character_cell_size
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.progress import BarColumn, DownloadColumn, Progress, ProgressColumn, Task, TaskID, TextColumn
from rich.table import Column
from rich.text import Text

from ._results import FileStatus
from ._tally import MIN_RATE_SPAN, Tally, format_bytes, format_duration, printable

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

    def refresh(self) -> None:
        """Nothing: rich would redraw on every add_task; LiveView draws with ``live.refresh()``."""

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        if self.hidden > 0:
            yield Text(f"+ {self.hidden} more in flight", style="dim")


class Terminal(Console):
    """A console that, on a broken pipe, goes quiet and tells its owner instead of exiting."""

    def __init__(self, *, on_broken_pipe: Callable[[], None], **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self._on_broken_pipe = on_broken_pipe

    def on_broken_pipe(self) -> None:
        # rich's own points stdout at /dev/null and raises SystemExit: not in the middle of a run.
        self.quiet = True
        self._on_broken_pipe()


def _rate_texts(rate: float | None, remaining: int) -> tuple[str, str]:
    """The rate and ETA columns: ``85.3 MiB/s``, ``2s``; empty when unknown."""
    return (
        f"{format_bytes(rate)}/s" if rate is not None else "",
        format_duration(remaining / rate) if rate and remaining > 0 else "",
    )


class LiveView:
    """The rows on screen for a Tally: the oldest *max_rows* files in flight and a total row."""

    def __init__(
        self,
        tally: Tally,
        *,
        stream: TextIO,
        max_rows: int,
        clock: Callable[[], float],
        on_broken_pipe: Callable[[], None],
    ) -> None:
        self._tally = tally
        self._max_rows = max_rows
        console = Terminal(file=stream, force_terminal=True, on_broken_pipe=on_broken_pipe)
        self._progress = LiveProgress(
            LabelColumn(table_column=Column(ratio=2, no_wrap=True)),
            BarColumn(bar_width=None, table_column=Column(ratio=1)),
            DownloadColumn(binary_units=True, table_column=Column(justify="right", no_wrap=True)),
            TextColumn("{task.fields[rate]}", justify="right", markup=False),
            TextColumn("{task.fields[eta]}", justify="right", markup=False),
            console=console,
            auto_refresh=False,  # no refresh thread of rich's: drawn when ProgressDisplay says
            transient=True,
            expand=True,
            get_time=clock,
            redirect_stdout=stream is sys.stdout,
            redirect_stderr=stream is sys.stderr,
        )
        self._total_task = self._progress.add_task(
            self._total_description(), total=max(tally.total_bytes, 0), completed=0, is_total=True, rate="", eta=""
        )
        #: Key -> rich task of the file rows on screen, in screen order.
        self._rows: dict[str, TaskID] = {}

    def start(self, now: float) -> None:
        self._progress.live.start()  # not progress.start(), which draws a first frame before the rows are in
        self.refresh(now)

    def stop(self) -> None:
        """Clear the display; restore the cursor and the redirected stream."""
        with contextlib.suppress(OSError, ValueError):
            self._progress.stop()

    def _total_description(self) -> str:
        tally = self._tally
        failed = tally.statuses[FileStatus.FAILED]
        return f"total {tally.files_done}/{tally.total_files} files" + (f", {failed} failed" if failed else "")

    def refresh(self, now: float) -> None:
        """Bring the rows up to date and redraw: O(max_rows)."""
        progress, tally = self._progress, self._tally
        rows: dict[str, TaskID] = {}
        for key, file in itertools.islice(tally.in_flight.items(), self._max_rows):
            span = now - file.started
            rate = file.done / span if span >= MIN_RATE_SPAN and file.done else None
            rate_text, eta_text = _rate_texts(rate, file.size - file.done)
            task = self._rows.pop(key, None)
            if task is None:
                task = progress.add_task(
                    printable(key), total=file.size, completed=file.done, rate=rate_text, eta=eta_text
                )
            else:
                progress.update(task, completed=file.done, rate=rate_text, eta=eta_text)
            rows[key] = task
        for gone in self._rows.values():
            progress.remove_task(gone)
        self._rows = rows
        progress.hidden = len(tally.in_flight) - len(rows)
        rate_text, eta_text = _rate_texts(tally.rate(now), tally.total_bytes - tally.settled)
        progress.update(
            self._total_task,
            description=self._total_description(),
            completed=min(tally.settled, max(tally.total_bytes, 0)),
            rate=rate_text,
            eta=eta_text,
        )
        progress.live.refresh()
