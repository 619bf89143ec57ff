"""What the command prints and exits with: the run's table or JSON, its --report file, its errors."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._dates import format_date
from ._exceptions import ConfigError
from ._logs import CLI_LOG, json_logs, say
from ._results import FileResult, FileStatus, IngestReport
from ._stream import write_report_json
from ._sweep import StaleUpload

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_SIGINT",
    "EXIT_SIGTERM",
    "EXIT_USAGE",
    "bytes_sent",
    "check_report_path",
    "emit",
    "ensure_stdout",
    "exit_code",
    "format_report",
    "log_summary",
    "print_listing",
    "print_swept",
    "signal_exit_code",
    "write_report",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


def check_report_path(path: Path) -> None:
    """Fail before any upload if the report could not be written to *path*."""
    parent = path.parent if str(path.parent) else Path()
    if path.is_dir():
        raise ConfigError(f"--report {path}: is a directory")
    if not parent.is_dir():
        raise ConfigError(f"--report {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ConfigError(f"--report {path}: not writable")


def write_report(report: IngestReport, path: Path) -> None:
    """Write the report as JSON, atomically (a reader never sees half a file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as out:
        write_report_json(report, out)
        out.write("\n")
    tmp.replace(path)


def _human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def bytes_sent(report: IngestReport) -> int:
    """Bytes of file data the run sent: the files uploaded, and what failed or interrupted files had sent."""
    return report.summary["bytes_uploaded"] + sum(r.sent for r in report.files if r.status is not FileStatus.UPLOADED)


def summary_line(report: IngestReport) -> str:
    """``3 files: 2 uploaded, 1 skipped; 12.0 MiB sent in 1.54s (7.8 MiB/s)``: what was sent, not what was planned.

    A dry run's: what a real run would send (the files planned, not those it would skip).
    """
    summary = report.summary
    counted = ", ".join(f"{summary[s.value]} {s.value}" for s in FileStatus if summary[s.value])
    head = f"{_plural(summary['files'], 'file')}: {counted}"
    if report.dry_run:
        planned = sum(r.size for r in report.files if r.status is FileStatus.PLANNED)
        return f"{head}; {_human_size(planned)} to send"
    sent = bytes_sent(report)
    rate = f" ({_human_size(sent / report.duration)}/s)" if sent and report.duration > 0 else ""
    return f"{head}; {_human_size(sent)} sent in {report.duration:.2f}s{rate}"


def _landing_line(report: IngestReport) -> str:
    """``sources: 2 moved, 1 left in place``: what --move-source or --delete-source did; empty if neither ran."""
    counts = {"moved": 0, "deleted": 0, "left in place": 0}
    for result in report.files:
        if result.source_action is not None:
            counts[result.source_action] += 1
        elif result.source_note is not None:
            counts["left in place"] += 1
    done = [f"{count} {what}" for what, count in counts.items() if count]
    return f"sources: {', '.join(done)}" if done else ""


def _size_cell(result: FileResult) -> str:
    """The file's size; of a file cut short, what it sent of it too (``136.0 MiB of 200.0 MiB``)."""
    if result.sent and result.status in (FileStatus.INTERRUPTED, FileStatus.FAILED):
        return f"{_human_size(result.sent)} of {_human_size(result.size)}"
    return _human_size(result.size)


#: Files beyond which the table lists only the files that failed or were interrupted, under the summary.
TABLE_FILES = 1000


def format_report(report: IngestReport) -> str:
    """A readable table of the run; a dry run's shows the planned parts and no time.

    A run of more than TABLE_FILES files lists only its failed and interrupted files (``--json`` and
    ``--report`` still list every file).
    """
    rows = [("STATUS", "SIZE", "PARTS", "TIME", "KEY")]
    large = len(report.files) > TABLE_FILES
    for result in report.failed if large else report.files:
        key = result.key if result.landed_at is None else f"{result.key} (landed at {result.landed_at})"
        time = "-" if report.dry_run else f"{result.duration:.2f}s"
        rows.append((result.status.value, _size_cell(result), str(result.parts), time, key))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        f"run {report.run_id}  s3://{report.bucket}  date {format_date(report.date)}"
        + ("  (dry run)" if report.dry_run else "")
    ]
    for row in rows:
        padded = (cell.rjust(width) for cell, width in zip(row[1:4], widths[1:], strict=True))
        lines.append("  ".join([row[0].ljust(widths[0]), *padded, row[4]]))
    if large:
        listed = len(rows) - 1
        lines.append(f"({listed} of {len(report.files)} files not landed listed; --json and --report list every file)")
    lines.append(summary_line(report))
    landing = _landing_line(report)
    if landing:
        lines.append(landing)
    if report.manifest_key:
        lines.append(f"manifest: s3://{report.bucket}/{report.manifest_key}")
    return "\n".join(lines)


def _print_failures(report: IngestReport) -> None:
    for error in report.errors:
        say(logging.ERROR, error, run_id=report.run_id)
    for result in report.files:
        context = {"run_id": report.run_id, "key": result.key}
        if result.status is FileStatus.FAILED:
            named = (result.error or "").startswith(f"{result.source}: ")  # the message names the file
            say(logging.ERROR, f"{'' if named else f'{result.source}: '}{result.error}", **context)
        elif result.status is not FileStatus.INTERRUPTED and result.source_note is not None:
            say(logging.WARNING, f"{result.source}: {result.source_note}", **context)
    interrupted = report.summary[FileStatus.INTERRUPTED.value]
    if interrupted:  # one line, not one per file: an interrupted run may have 100,000 of them
        verb = "was" if interrupted == 1 else "were"
        say(
            logging.ERROR,
            f"{_plural(interrupted, 'file')} {verb} not landed",
            label="interrupted: ",
            run_id=report.run_id,
        )


def log_summary(report: IngestReport) -> None:
    """The run's end as one record (with JSON logs only: as text, the table's last lines say it)."""
    if not json_logs():
        return
    summary = {name: value for name, value in report.summary.items() if value or name in ("files", "bytes")}
    fields: dict[str, Any] = {
        "event": "summary",
        "run_id": report.run_id,
        "bucket": report.bucket,
        "dry_run": report.dry_run,
        **summary,
    }
    fields.update(bytes_sent=bytes_sent(report), duration=round(report.duration, 6), manifest=report.manifest_key)
    say(logging.INFO if report.ok else logging.ERROR, summary_line(report), **fields)


def ensure_stdout() -> None:
    """Give the command a stdout if it was started without one (``>&-``): /dev/null, so the run still goes on."""
    if sys.stdout is not None:
        return
    null = os.open(os.devnull, os.O_WRONLY)
    if null != 1:
        os.dup2(null, 1)
        os.close(null)
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115 - the process's stdout


def _discard_stdout() -> None:
    """From now on, what goes to stdout goes to /dev/null: its reader has gone (``| head``) or its terminal has.

    The file descriptor itself is redirected, so that what is still buffered goes there too
    when the interpreter flushes it on exit.
    """
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError):  # not a file (a caller's own stream): drop it instead
        sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - stdout from now on
        return
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, fd)
    os.close(null)


def emit(report: IngestReport, *, as_json: bool, report_path: Path | None, quiet: bool = False) -> None:
    """Print the report (a table, none with *quiet*; or JSON with *as_json*), write it to *report_path*,
    and name its failures.

    A stdout that cannot be written (``| head`` that has read enough, a closed terminal) or a
    stderr likewise is no error of the run's: what it landed decides the exit code.
    """
    if report_path is not None:
        try:
            write_report(report, report_path)
        except OSError as exc:
            say(logging.ERROR, f"could not write --report {report_path}: {exc.strerror}")
    try:
        if as_json:
            write_report_json(report, sys.stdout)
            sys.stdout.write("\n")
        elif not quiet:
            print(format_report(report))
        sys.stdout.flush()
    except OSError:
        _discard_stdout()
    with contextlib.suppress(OSError):
        _print_failures(report)
        log_summary(report)


def signal_exit_code(signum: int) -> int:
    """The exit code after signal *signum*, as a shell reports a process it killed: 128 + its number."""
    return 128 + signum


def exit_code(report: IngestReport | None, signum: int | None) -> int:
    """The command's exit code: 130, 143 or 129 after SIGINT, SIGTERM or SIGHUP, else 0 if the run is ok, else 1."""
    if signum is not None:
        return signal_exit_code(signum)
    assert report is not None
    return EXIT_OK if report.ok else EXIT_FAILED


def print_listing(landed: Sequence[tuple[str, int]], *, bucket: str) -> None:
    """What is on the trial endpoint (``--local``), whose data goes with it: after the report, on stderr."""
    if json_logs():
        for key, size in landed:
            say(logging.INFO, f"on the trial endpoint: s3://{bucket}/{key} ({size} bytes)", key=key, size=size)
        return
    if CLI_LOG.isEnabledFor(logging.INFO):  # not with --quiet
        with contextlib.suppress(OSError):
            sys.stdout.flush()  # the table first, where both streams go to one place
        print(f"async-ingest: objects in s3://{bucket} on the trial endpoint:", file=sys.stderr)
        for key, size in landed:
            print(f"  {size:>12}  {key}", file=sys.stderr)


def print_swept(swept: Sequence[StaleUpload], *, bucket: str, prefix: str, older_than: object, dry_run: bool) -> None:
    """The stale uploads found (and, unless *dry_run*, aborted), one per line, and a count."""
    verb = "would abort" if dry_run else "aborted"
    for upload in swept:
        state = "failed: " + upload.error if upload.error else (verb if dry_run or upload.aborted else "")
        print(f"{upload.initiated:%Y-%m-%d %H:%M}  {upload.key}  {upload.upload_id}  {state}")
    print(f"{len(swept)} stale uploads older than {older_than} under s3://{bucket}/{prefix}")
