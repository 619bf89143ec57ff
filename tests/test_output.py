"""What the command prints and how it exits, as a real process against the test server."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from .conftest import run_cli
from .faultproxy import Fault, FaultProxy, status


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
    done = run_cli("--bucket", "lake", "--dry-run", make_file("movies.csv", 10), make_file("series.csv", 20))
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
        "sys.argv = ['async-ingest', '--bucket', 'lake', '--dry-run', sys.argv[1]]\n"
        "run()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(make_file("movies.csv", 10))], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("atexit handler ran")
