"""What the command prints and how it exits, as a real process against the test server."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import MiB, open_uploads, run_cli
from .faultproxy import Fault, FaultProxy, stall, status


def test_all_skipped_rerun_says_nothing_was_sent(
    endpoint_env: dict[str, str], bucket: str, make_file: Callable[..., Path]
) -> None:
    """A re-run that skips everything says 0 B were sent, and counts one file as one file."""
    source = make_file("movies.csv", 2000)
    first = run_cli("--bucket", bucket, source, env=endpoint_env)
    assert "1 file: 1 uploaded; 2.0 KiB sent in " in first.stdout, first.stdout
    again = run_cli("--bucket", bucket, source, env=endpoint_env)
    assert again.returncode == 0, again.stderr
    assert re.search(r"^1 file: 1 skipped; 0 B sent in \d+\.\d\ds$", again.stdout, re.MULTILINE), again.stdout


def test_dry_run_summary_says_what_would_be_sent(make_file: Callable[..., Path]) -> None:
    """A dry run's summary counts what it would send, not a transfer that did not happen."""
    done = run_cli(
        "--bucket", "lake", "--dry-run", "--offline", make_file("movies.csv", 10), make_file("series.csv", 20)
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "2 files: 2 planned; 30 B to send" in done.stdout


def test_display_and_report_share_the_runs_clock(
    endpoint_env: dict[str, str], bucket: str, make_file: Callable[..., Path]
) -> None:
    """The progress display's final duration is the report's: one clock for the run."""
    done = run_cli("--bucket", bucket, "--json", make_file("movies.csv", 1000), env=endpoint_env)
    assert done.returncode == 0, done.stderr
    shown = re.search(r"files done in (\d+\.\d)s", done.stderr)
    assert shown is not None, done.stderr
    assert shown.group(1) == f"{json.loads(done.stdout)['duration']:.1f}"


def test_manifest_that_was_not_written_is_not_announced(
    proxy: FaultProxy, bucket: str, make_file: Callable[..., Path], tmp_path: Path
) -> None:
    """A denied manifest PUT: no 'manifest:' line, manifest_key null in --report, the reason on stderr, exit 1."""
    proxy.add(Fault(status(403, "AccessDenied", "Access Denied"), method="PUT", path="/_manifests/", times=None))
    report = tmp_path / "report.json"
    done = run_cli(
        "--bucket", bucket, "--date", "2022-05-02", "--report", report, make_file("movies.csv", 10),
        env={"AWS_ENDPOINT_URL": proxy.url},
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "1 file: 1 uploaded" in done.stdout
    assert "manifest:" not in done.stdout
    assert json.loads(report.read_text())["manifest_key"] is None
    assert f"error: could not write s3://{bucket}/Raw/Local/_manifests/2022/05/02/" in done.stderr


def test_exit_runs_atexit_handlers(make_file: Callable[..., Path]) -> None:
    """The command exits through the interpreter's normal exit: atexit handlers (coverage, telemetry) run."""
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('atexit handler ran'))\n"
        "from async_ingest.cli import run\n"
        "sys.argv = ['async-ingest', '--bucket', 'lake', '--dry-run', '--offline', sys.argv[1]]\n"
        "run()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(make_file("movies.csv", 10))], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("atexit handler ran")


def test_interrupted_row_shows_what_was_sent(
    proxy: FaultProxy, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """After Ctrl-C, the interrupted file's row (and its result) says how much was sent and for how long."""
    held = proxy.add(Fault(stall(60), path="partNumber=3", times=None))
    source = make_file("movies.csv", 20 * MiB)
    process = subprocess.Popen(
        [sys.executable, "-m", "async_ingest", "--bucket", bucket, "--part-size", "5MiB", "--concurrency", "1",
         "--report", str(source.with_name("report.json")), str(source)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "AWS_ENDPOINT_URL": proxy.url},
    )  # fmt: skip
    assert held.wait(timeout=60), "part 3 was never sent"
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert re.search(r"^interrupted +10\.0 MiB of 20\.0 MiB +2 +\d+\.\d\ds +Raw/", stdout, re.MULTILINE), stdout
    assert "0.00s" not in stdout.splitlines()[2]
    assert re.search(r"^1 file: 1 interrupted; 10\.0 MiB sent in ", stdout, re.MULTILINE), stdout
    [result] = json.loads(source.with_name("report.json").read_text())["files"]
    assert (result["status"], result["sent"], result["parts"]) == ("interrupted", 10 * MiB, 2)
    assert result["duration"] > 0
    assert open_uploads(s3, bucket) == []


def test_quiet_prints_nothing_on_success(
    endpoint_env: dict[str, str], bucket: str, make_file: Callable[..., Path]
) -> None:
    """-q: empty stdout and stderr on success, --json still prints its report, errors still go to stderr."""
    source = make_file("movies.csv", 1000)
    done = run_cli("--bucket", bucket, "-q", source, env=endpoint_env)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    again = run_cli("--bucket", bucket, "-q", "--json", source, env=endpoint_env)
    assert (again.returncode, again.stderr) == (0, "")
    assert json.loads(again.stdout)["summary"]["skipped"] == 1
    failed = run_cli("--bucket", "no-such-bucket", "-q", source, env=endpoint_env)
    assert failed.returncode == 1
    assert failed.stdout == ""
    assert "movies.csv: bucket 'no-such-bucket' does not exist" in failed.stderr
    assert all(line.startswith("async-ingest: error: ") for line in failed.stderr.splitlines()), failed.stderr


def test_quiet_local_prints_nothing(make_file: Callable[..., Path]) -> None:
    """-q with --local: no notice about the trial endpoint, no table, no listing."""
    done = run_cli("--local", "-q", make_file("movies.csv", 10))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_local_listing_comes_after_the_table(make_file: Callable[..., Path]) -> None:
    """With --local, what is on the trial endpoint is listed after the run's table, not before it."""
    done = subprocess.run(
        [sys.executable, "-m", "async_ingest", "--local", "--date", "2022-05-02", str(make_file("movies.csv", 10))],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False, timeout=120,
        env={name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"},  # stdout buffered
    )  # fmt: skip
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    table = next(n for n, line in enumerate(lines) if line.startswith("STATUS "))
    listing = next(n for n, line in enumerate(lines) if "on the trial endpoint:" in line)
    assert table < listing, done.stdout
    assert lines[listing + 1].endswith("10  Raw/Local/CSV/Movies/2022/05/02/movies.csv")


def _json_lines(stderr: str) -> list[dict[str, Any]]:
    records = []
    for line in stderr.splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON line on stderr: {line!r}")
    return records


def test_json_logs_every_stderr_line_is_json(proxy: FaultProxy, bucket: str, make_file: Callable[..., Path]) -> None:
    """--log-format json: a failed file's error and the progress are records too; a summary record ends the run."""
    proxy.add(Fault(status(403, "AccessDenied", "Access Denied"), method="PUT", path="/series.csv", times=None))
    done = run_cli(
        "--bucket", bucket, "--log-format", "json", "--json", make_file("movies.csv", 10), make_file("series.csv", 20),
        env={"AWS_ENDPOINT_URL": proxy.url},
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    records = _json_lines(done.stderr)
    report = json.loads(done.stdout)
    errors = [r for r in records if r["level"] == "error" and r.get("key", "").endswith("/series.csv")]
    assert errors, records
    assert "series.csv" in errors[0]["message"]
    assert any(r.get("event") == "progress" for r in records), records
    summary = records[-1]
    assert summary["event"] == "summary", records
    assert (summary["run_id"], summary["files"], summary["uploaded"], summary["failed"]) == (report["run_id"], 2, 1, 1)
    assert (summary["bytes_sent"], summary["manifest"]) == (10, report["manifest_key"])


def test_json_logs_with_local(make_file: Callable[..., Path]) -> None:
    """--log-format json with --local: the trial endpoint's notice and listing are records as well."""
    done = run_cli("--local", "--date", "2022-05-02", "--log-format", "json", make_file("movies.csv", 10))
    assert done.returncode == 0, done.stderr
    records = _json_lines(done.stderr)
    assert "trial endpoint" in records[0]["message"]
    assert records[0]["endpoint"].startswith("http://127.0.0.1:")
    [summary] = [r for r in records if r.get("event") == "summary"]
    assert (summary["files"], summary["uploaded"]) == (1, 1)
    listed = [r["key"] for r in records if "size" in r]
    assert listed == [
        "Raw/Local/CSV/Movies/2022/05/02/movies.csv",
        f"Raw/Local/{summary['manifest'].partition('Raw/Local/')[2]}",
    ]


@pytest.mark.parametrize(
    ("files", "source", "flags", "warned"),
    [
        pytest.param(3, "{dir}", [], True, id="numbered"),
        pytest.param(2, "{dir}", [], False, id="two-files"),
        pytest.param(3, "Parts={dir}", [], False, id="category-given"),
        pytest.param(3, "{dir}", ["--category-from-parent"], False, id="from-parent"),
    ],
)
def test_numbered_files_of_a_directory_are_flagged(
    tmp_path: Path, files: int, source: str, flags: list[str], warned: bool
) -> None:
    """A directory whose files would each be a numbered category gets one warning line; the run goes on."""
    folder = tmp_path / "export"
    folder.mkdir()
    for n in range(files):
        (folder / f"part-{n:04}.csv").write_bytes(b"x")
    done = run_cli("--bucket", "lake", "--dry-run", "--offline", *flags, source.format(dir=folder))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("planned ") == files
    if warned:
        [line] = done.stderr.splitlines()
        assert line.startswith(f"async-ingest: warning: {folder}: 3 of its files are each a category of their own")
        assert f"(Part={folder}) or use --category-from-parent" in line
    else:
        assert done.stderr == ""
