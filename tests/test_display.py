"""The progress display: plain lines on a fake clock, rich rendering into a string, nothing when off."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from async_ingest import Ingestor
from async_ingest._display import MAX_FILE_ROWS, ProgressDisplay, format_bytes, format_duration
from async_ingest._results import FileStatus, ProgressEvent

from .conftest import DAY, SMALL
from .faultproxy import Fault, FaultProxy, stall

MiB = 2**20
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
#: What rich writes before each redraw of a live display: back to the start and up over the previous frame.
REDRAW = re.compile(r"\r\x1b\[2K(?:\x1b\[1A\x1b\[2K)*")


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def started(key: str, size: int) -> ProgressEvent:
    return ProgressEvent(kind="started", key=key, source=f"/data/{key}", size=size, done=0)


def advanced(key: str, size: int, done: int, advance: int) -> ProgressEvent:
    return ProgressEvent(kind="advanced", key=key, source=f"/data/{key}", size=size, done=done, advance=advance)


def finished(key: str, size: int, done: int, status: FileStatus) -> ProgressEvent:
    return ProgressEvent(kind="finished", key=key, source=f"/data/{key}", size=size, done=done, status=status)


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


FIRST = (
    "async-ingest: 200.0 MiB of 400.0 MiB (50%), 1 of 3 files done (1 skipped), 5s elapsed, "
    "20.0 MiB/s average (20.0 MiB/s now), ETA 10s"
)


def test_plain_lines_at_the_interval_and_a_final_line() -> None:
    """A (200 MiB) is uploaded, B (100 MiB) skipped, C (100 MiB) fails after 20 MiB: C counts only what was sent."""
    clock, out = FakeClock(), io.StringIO()
    a, b, c = ("Raw/a.csv", 200 * MiB), ("Raw/b.csv", 100 * MiB), ("Raw/c.csv", 100 * MiB)
    with ProgressDisplay(stream=out, mode="plain", total_files=3, total_bytes=400 * MiB, clock=clock) as display:
        assert display.mode == "plain"
        display(started(*a))
        display(started(*b))
        clock.now = 1
        display(advanced(*a, done=50 * MiB, advance=50 * MiB))
        clock.now = 2
        display(finished(*b, done=0, status=FileStatus.SKIPPED))
        clock.now = 3
        display(advanced(*a, done=100 * MiB, advance=50 * MiB))
        assert out.getvalue() == "", "nothing before the first interval"
        clock.now = 5
        display(started(*c))
        assert lines(out) == [FIRST]
        clock.now = 6
        display(advanced(*c, done=20 * MiB, advance=20 * MiB))
        clock.now = 7
        display(finished(*c, done=20 * MiB, status=FileStatus.FAILED))
        clock.now = 9.9
        display(advanced(*a, done=200 * MiB, advance=100 * MiB))
        assert len(lines(out)) == 1, "at most one line per interval"
        clock.now = 10
        display(finished(*a, done=200 * MiB, status=FileStatus.UPLOADED))
        clock.now = 12
    assert lines(out) == [
        FIRST,
        "async-ingest: 320.0 MiB of 400.0 MiB (80%), 3 of 3 files done (1 skipped, 1 failed) in 12.0s, "
        "18.3 MiB/s average",
    ], "no periodic line once every file is done: the final line alone"
    assert "\x1b" not in out.getvalue()


def test_plain_rate_is_over_the_recent_past() -> None:
    """10 MiB/s for 20 s, then 1 MiB/s for 20 s: the average is the final line's, the ETA follows the rate now."""
    clock, out = FakeClock(), io.StringIO()
    key, size = "Raw/big.bin", 1000 * MiB
    with ProgressDisplay(
        stream=out, mode="plain", total_files=1, total_bytes=size, interval=40, clock=clock
    ) as display:
        display(started(key, size))
        done = 0
        for second in range(1, 41):
            clock.now = second
            step = 10 * MiB if second <= 20 else 1 * MiB
            done += step
            display(advanced(key, size, done=done, advance=step))
    assert lines(out)[0] == (
        "async-ingest: 220.0 MiB of 1000.0 MiB (22%), 0 of 1 files done, 40s elapsed, "
        "5.5 MiB/s average (1.0 MiB/s now), ETA 13m00s"
    )
    assert lines(out)[1] == (
        "async-ingest: 220.0 MiB of 1000.0 MiB (22%), 0 of 1 files done in 40.0s, 5.5 MiB/s average"
    )


def test_plain_says_when_files_are_completing() -> None:
    """A file whose bytes are all sent but which has no result yet is completing, not silent at 100%."""
    clock, out = FakeClock(), io.StringIO()
    with ProgressDisplay(stream=out, mode="plain", total_files=2, total_bytes=2 * MiB, clock=clock) as display:
        display(started("Raw/a", MiB))
        display(started("Raw/b", MiB))
        clock.now = 1
        display(advanced("Raw/a", MiB, done=MiB, advance=MiB))
        clock.now = 5
        display.tick()
        display(finished("Raw/a", MiB, done=MiB, status=FileStatus.UPLOADED))
        clock.now = 10
        display.tick()
    assert lines(out)[0].endswith(", 1 completing")
    assert "completing" not in lines(out)[1]


def test_plain_counts_files_when_there_are_no_bytes() -> None:
    clock, out = FakeClock(), io.StringIO()
    with ProgressDisplay(stream=out, mode="plain", total_files=2, total_bytes=0, interval=0, clock=clock) as display:
        display(started("Raw/empty1", 0))
        display(finished("Raw/empty1", 0, done=0, status=FileStatus.UPLOADED))
    assert lines(out)[-2] == "async-ingest: 0 B of 0 B (50%), 1 of 2 files done, 0s elapsed"
    assert lines(out)[-1] == "async-ingest: 0 B of 0 B (50%), 1 of 2 files done in 0.0s"


def test_plain_exit_does_not_swallow_and_says_interrupted() -> None:
    clock, out = FakeClock(), io.StringIO()

    def interrupted_run() -> None:
        with ProgressDisplay(stream=out, mode="plain", total_files=1, total_bytes=MiB, clock=clock) as display:
            display(started("Raw/a", MiB))
            clock.now = 1.5
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted_run()
    assert lines(out) == ["async-ingest: 0 B of 1.0 MiB (0%), 0 of 1 files done in 1.5s, interrupted"]


def test_events_outside_the_with_block_are_ignored() -> None:
    out = io.StringIO()
    display = ProgressDisplay(stream=out, mode="plain", total_files=1, total_bytes=MiB, interval=0)
    display(started("Raw/a", MiB))
    display.tick()
    assert out.getvalue() == ""
    with display:
        pass
    display(finished("Raw/a", MiB, done=MiB, status=FileStatus.UPLOADED))
    assert len(lines(out)) == 1
    assert "0 of 1 files done" in out.getvalue()


def test_a_display_is_entered_once() -> None:
    display = ProgressDisplay(stream=io.StringIO(), mode="plain", total_files=0, total_bytes=0)
    with display:
        pass
    with pytest.raises(RuntimeError, match="once"), display:
        pass


def test_tick_draws_only_when_due() -> None:
    clock, out = FakeClock(), io.StringIO()
    with ProgressDisplay(stream=out, mode="plain", total_files=1, total_bytes=MiB, clock=clock) as display:
        display.tick()
        clock.now = 4.9
        display.tick()
        assert out.getvalue() == ""
        clock.now = 5
        display.tick()
        display.tick()
        assert len(lines(out)) == 1


class Watched(io.StringIO):
    """A stream that can be waited on for lines, written from any thread."""

    def __init__(self) -> None:
        super().__init__()
        self._written = threading.Condition()

    def write(self, s: str) -> int:
        with self._written:
            written = super().write(s)
            self._written.notify_all()
        return written

    def wait_for_lines(self, count: int, timeout: float) -> bool:
        with self._written:
            return self._written.wait_for(lambda: len(self.getvalue().splitlines()) >= count, timeout)


@pytest.mark.anyio
async def test_a_stall_still_shows_lines(proxy: FaultProxy, bucket: str, make_file: Callable[..., Path]) -> None:
    """While a part hangs and no event arrives, plain lines keep coming: the display ticks on its own."""
    stalled = proxy.add(Fault(stall(60), path="partNumber=2", times=None))
    source = make_file("movies.csv", 12 * MiB)
    out = Watched()
    display = ProgressDisplay(stream=out, mode="plain", total_files=1, total_bytes=12 * MiB, interval=0.05)
    async with Ingestor(bucket=bucket, endpoint_url=proxy.url, concurrency=1, manifest=False, **SMALL) as ingestor:
        with display:
            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: ingestor.ingest([source], date=DAY, on_progress=display))
                with anyio.fail_after(30):
                    await stalled.wait_async()
                seen = len(lines(out))
                assert await anyio.to_thread.run_sync(out.wait_for_lines, seen + 2, 10.0), "no line during the stall"
                tg.cancel_scope.cancel()
    assert all(line.startswith("async-ingest: 5.0 MiB of 12.0 MiB (41%)") for line in lines(out)[seen:-1])


class BrokenPipe(io.StringIO):
    def write(self, s: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize("mode", ["plain", "rich"])
def test_a_broken_stream_never_raises_into_the_run(mode: str) -> None:
    clock = FakeClock()
    with ProgressDisplay(
        stream=BrokenPipe(),
        mode=mode,  # type: ignore[arg-type]
        total_files=1,
        total_bytes=MiB,
        interval=0,
        clock=clock,
    ) as display:
        clock.now = 1
        display(started("Raw/a", MiB))
        clock.now = 2
        display(advanced("Raw/a", MiB, done=MiB, advance=MiB))


def test_off_prints_nothing() -> None:
    clock, out = FakeClock(), TTY()
    with ProgressDisplay(stream=out, mode="off", total_files=1, total_bytes=MiB, interval=0, clock=clock) as display:
        for now in range(5):
            clock.now = now
            display(started("Raw/a", MiB))
            display(advanced("Raw/a", MiB, done=MiB, advance=MiB))
            display(finished("Raw/a", MiB, done=MiB, status=FileStatus.UPLOADED))
    assert out.getvalue() == ""


def test_auto_picks_plain_off_a_terminal_and_rich_on_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    assert ProgressDisplay(stream=io.StringIO(), mode="auto", total_files=0, total_bytes=0).mode == "plain"
    assert ProgressDisplay(stream=TTY(), mode="auto", total_files=0, total_bytes=0).mode == "rich"
    monkeypatch.setenv("TERM", "dumb")
    assert ProgressDisplay(stream=TTY(), mode="auto", total_files=0, total_bytes=0).mode == "plain"


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="mode"):
        ProgressDisplay(stream=io.StringIO(), mode="fancy", total_files=0, total_bytes=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="interval"):
        ProgressDisplay(stream=io.StringIO(), mode="plain", total_files=0, total_bytes=0, interval=-1)


def frames(output: str) -> list[list[str]]:
    """The frames of a live display, each as its lines without escape codes."""
    return [ANSI.sub("", frame).splitlines() for frame in REDRAW.split(output) if ANSI.sub("", frame).strip()]


def test_rich_shows_the_files_in_flight_up_to_the_cap_and_the_total(monkeypatch: pytest.MonkeyPatch) -> None:
    """50 files, 16 at a time, each in 4 parts: every frame has the total and at most MAX_FILE_ROWS file rows."""
    monkeypatch.setenv("COLUMNS", "150")
    clock, out = FakeClock(), io.StringIO()
    size, part = 40 * MiB, 10 * MiB
    keys = [f"Raw/Local/CSV/Category{i:02d}/2022/05/02/a-rather-long-file-name-number-{i:02d}.csv" for i in range(50)]
    pending, in_flight = list(keys), dict[str, int]()
    with ProgressDisplay(stream=out, mode="rich", total_files=50, total_bytes=50 * size, clock=clock) as display:
        assert display.mode == "rich"
        while pending or in_flight:
            while pending and len(in_flight) < 16:
                key = pending.pop(0)
                in_flight[key] = 0
                display(started(key, size))
            for key in list(in_flight)[:4]:
                clock.now += 0.01
                in_flight[key] += part
                display(advanced(key, size, done=in_flight[key], advance=part))
                if in_flight[key] == size:
                    status = FileStatus.SKIPPED if key.endswith("7.csv") else FileStatus.UPLOADED
                    display(finished(key, size, done=size, status=status))
                    del in_flight[key]
    output = out.getvalue()
    shown = frames(output)
    assert len(shown) > 10
    for frame in shown:
        assert frame[0].startswith("total "), frame
        assert sum("…" in line and ".csv" in line for line in frame) <= MAX_FILE_ROWS, frame
        assert len(frame) <= 1 + MAX_FILE_ROWS + 2, frame
    assert any(sum(".csv" in line for line in frame) == MAX_FILE_ROWS for frame in shown)
    assert any(line == "+ 6 more in flight" for frame in shown for line in frame)
    # Keys are cut from the left, so the file name stays readable.
    assert any(
        line.startswith("…") and "/2022/05/02/a-rather-long-file-name-number-00.csv ━" in line
        for frame in shown
        for line in frame
    )
    assert any("total 50/50 files" in line or "MiB/s" in line for frame in shown for line in frame)
    # The live display is transient: it ends by showing the cursor again and erasing itself.
    assert output.endswith("\x1b[1A\x1b[2K")
    assert "\x1b[?25h" in output


def live(total_files: int, total_bytes: int, *steps: ProgressEvent, limit: int | None = None) -> list[list[str]]:
    """Feed *steps* to a live display, one a second, and return the frames drawn (without blank lines)."""
    clock, out = FakeClock(), io.StringIO()
    with ProgressDisplay(
        stream=out, mode="rich", total_files=total_files, total_bytes=total_bytes, clock=clock, limit=limit
    ) as display:
        for step in steps:
            clock.now += 1
            display(step)
    return [[line for line in frame if line.strip()] for frame in frames(out.getvalue())]


def bar_column(line: str) -> int:
    return min(line.index(c) for c in "━╺╸" if c in line)


def test_rich_columns_stay_put_as_files_finish(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bars start at one column whether two files are in flight or one, and whatever the key lengths."""
    monkeypatch.setenv("COLUMNS", "120")
    a, b = ("Raw/a-long-name-for-a-file.csv", 64 * MiB), ("Raw/b.csv", 32 * MiB)
    steps = [started(*a), started(*b), advanced(*a, done=16 * MiB, advance=16 * MiB)]
    steps += [advanced(*b, done=32 * MiB, advance=32 * MiB), finished(*b, done=32 * MiB, status=FileStatus.UPLOADED)]
    shown = live(2, 96 * MiB, *steps, advanced(*a, done=32 * MiB, advance=16 * MiB))
    rows = [line for frame in shown for line in frame if line.startswith(("total", "Raw/"))]
    assert any(line.startswith("Raw/b.csv") for line in rows)
    assert len({bar_column(line) for line in rows}) == 1
    assert len({line.index("%") for line in rows}) == 1, rows


def test_rich_shows_percent_elapsed_average_and_eta(monkeypatch: pytest.MonkeyPatch) -> None:
    """The total row: percentage, the final line's average rate, a labelled ETA; the last line the elapsed time."""
    monkeypatch.setenv("COLUMNS", "120")
    a = ("Raw/a.csv", 100 * MiB)
    shown = live(1, 100 * MiB, started(*a), advanced(*a, done=20 * MiB, advance=20 * MiB))
    total, row, last = shown[-1]
    assert total.startswith("total 0/1 files")
    assert "20%" in total
    assert "20.0 MiB/100.0 MiB" in total
    assert "avg 10.0 MiB/s" in total
    assert total.endswith("ETA 8s")
    assert row.startswith("Raw/a.csv")
    assert "20%" in row
    assert row.endswith("20.0 MiB/s      ETA 4s")
    assert last == "elapsed 2s, 0 of 1 files done"


def test_rich_says_completing_and_a_failure_does_not_fill_the_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    """All bytes sent, no result yet: completing…; then the file fails: the total counts what was sent."""
    monkeypatch.setenv("COLUMNS", "120")
    a, b = ("Raw/a.csv", 40 * MiB), ("Raw/b.csv", 40 * MiB)
    sent = [advanced(*a, done=40 * MiB, advance=40 * MiB), advanced(*b, done=10 * MiB, advance=10 * MiB)]
    shown = live(2, 80 * MiB, started(*a), started(*b), *sent, finished(*b, done=10 * MiB, status=FileStatus.FAILED))
    before_failure = [frame for frame in shown if frame[0].startswith("total 0/2")][-1]
    assert before_failure[1].startswith("Raw/a.csv")
    assert before_failure[1].endswith("completing…")
    assert "ETA" in before_failure[0]
    total, _row, last = shown[-1]
    assert "62%" in total
    assert "50.0 MiB/80.0 MiB" in total
    assert "1 failed" in total
    assert total.endswith("completing…")
    assert last.startswith("elapsed 5s, 1 of 2 files done (1 failed)")


def test_rich_many_small_files_get_no_rows_of_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small files come and go too fast to read: the total row and a count instead of flickering rows."""
    monkeypatch.setenv("COLUMNS", "120")
    size = 100 * 1024
    steps: list[ProgressEvent] = []
    for n in range(20):
        key = f"Raw/small-{n:02d}.json"
        steps += [started(key, size), advanced(key, size, done=size, advance=size)]
        steps.append(finished(key, size, done=size, status=FileStatus.FAILED if n == 3 else FileStatus.UPLOADED))
    steps.append(started("Raw/small-20.json", size))
    shown = live(21, 21 * size, *steps)
    assert all(not line.startswith("Raw/") for frame in shown for line in frame)
    total, more, last = shown[-1]
    assert total.startswith("total 20/21 files, 1 failed")
    assert more == "+ 1 more in flight"
    assert last == "elapsed 1m01s, 20 of 21 files done (1 failed), 0.3 files/s"


def test_rich_stop_clears_the_display_before_the_host_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    """stop() erases the live area at once; events after it draw nothing, so a message printed next stands alone."""
    monkeypatch.setenv("COLUMNS", "100")
    clock, out = FakeClock(), io.StringIO()
    a = ("Raw/a.csv", 40 * MiB)
    with ProgressDisplay(stream=out, mode="rich", total_files=1, total_bytes=40 * MiB, clock=clock) as display:
        display(started(*a))
        clock.now = 1
        display(advanced(*a, done=10 * MiB, advance=10 * MiB))
        display.stop()
        assert out.getvalue().endswith("\x1b[1A\x1b[2K")
        stopped = len(out.getvalue())
        out.write("async-ingest: interrupted, aborting uploads in flight…\n")
        clock.now = 2
        display(advanced(*a, done=20 * MiB, advance=10 * MiB))
        display.tick()
    assert out.getvalue()[stopped:] == "async-ingest: interrupted, aborting uploads in flight…\n"


def test_rich_keys_are_not_markup_and_stay_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    clock, out = FakeClock(), io.StringIO()
    size = 10 * MiB
    with ProgressDisplay(stream=out, mode="rich", total_files=2, total_bytes=2 * size, clock=clock) as display:
        display(started("Raw/[bold]x[/bold].csv", size))
        display(started("Raw/new\nline.csv", size))
        clock.now = 1
        display(advanced("Raw/[bold]x[/bold].csv", size, done=MiB, advance=MiB))
    text = ANSI.sub("", out.getvalue())
    assert "Raw/[bold]x[/bold].csv" in text
    assert "Raw/new?line.csv" in text


def test_rich_puts_the_standard_stream_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drawing on stderr, rich routes prints to stderr above the display, and restores sys.stderr on exit."""
    monkeypatch.setenv("COLUMNS", "100")
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)

    def failing_run() -> None:
        with ProgressDisplay(stream=out, mode="rich", total_files=1, total_bytes=1):
            assert sys.stderr is not out
            print("async-ingest: interrupted, aborting uploads in flight…", file=sys.stderr)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        failing_run()
    assert sys.stderr is out
    assert "async-ingest: interrupted, aborting uploads in flight…" in ANSI.sub("", out.getvalue())


def test_importing_the_cli_does_not_import_rich() -> None:
    code = "import sys, async_ingest.cli, async_ingest._display; sys.exit('rich' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (123.4 * MiB, "123.4 MiB"), (3 * 2**40, "3.0 TiB")],
)
def test_format_bytes(size: float, text: str) -> None:
    assert format_bytes(size) == text


@pytest.mark.parametrize(
    ("seconds", "precise", "text"),
    [(1.2, False, "2s"), (65, False, "1m05s"), (7380, False, "2h03m"), (3.44, True, "3.4s"), (125, True, "2m05s")],
)
def test_format_duration(seconds: float, precise: bool, text: str) -> None:
    assert format_duration(seconds, precise=precise) == text
