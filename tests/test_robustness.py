"""The command when its surroundings misbehave: its output gone, a signal while planning, a silent endpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import async_ingest

from .conftest import DAY, objects, run_cli, start_cli
from .faultproxy import Fault, FaultProxy, hold_until, never_answer

#: The files of the output tests, and what lands of them.
NAMES = ("movies.csv", "series.csv")
LANDED = {f"Raw/Local/CSV/{name.split('.')[0].title()}/2022/05/02/{name}" for name in NAMES}


def _sources(make_file: Callable[..., Path]) -> list[str]:
    return [str(make_file(name, 1000)) for name in NAMES]


@pytest.mark.parametrize("output", [["--json"], []], ids=["json", "table"])
def test_stdout_whose_reader_is_gone(
    endpoint_env: dict[str, str], bucket: str, s3: Any, make_file: Callable[..., Path], output: list[str]
) -> None:
    """Piped into a reader that has gone (`| head -c 10` after its 10 bytes): the files land, no traceback, exit 0."""
    process = start_cli(["--bucket", bucket, "--date", "2022-05-02", *output, *_sources(make_file)], endpoint_env)
    assert process.stdout is not None
    process.stdout.close()  # before the report is written: every write to stdout meets a broken pipe
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "BrokenPipeError" not in stderr
    assert set(objects(s3, bucket)) == LANDED


@pytest.mark.parametrize("output", [["--json"], []], ids=["json", "table"])
def test_stdout_closed_at_start(
    endpoint_env: dict[str, str], bucket: str, s3: Any, make_file: Callable[..., Path], output: list[str]
) -> None:
    """Started with stdout closed (`>&-`): the run still lands the files and exits by them."""
    command = [sys.executable, "-m", "async_ingest", "--bucket", bucket, "--date", "2022-05-02", *output]
    done = subprocess.run(
        ["bash", "-c", 'exec "$@" >&-', "bash", *command, *_sources(make_file)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **endpoint_env},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert set(objects(s3, bucket)) == LANDED


def test_ctrl_c_while_planning_a_dry_run(endpoint_env: dict[str, str], bucket: str, tmp_path: Path) -> None:
    """Ctrl-C while a dry run of 100,000 files is planned stops the planning: one line, no report, exit 130."""
    folder = tmp_path / "many"
    folder.mkdir()
    for number in range(100_000):
        (folder / f"f{number:06d}.csv").write_bytes(b"x")
    process = start_cli(["--bucket", bucket, "--dry-run", "--json", "--log-level", "info", str(folder)], endpoint_env)
    assert process.stderr is not None
    for line in process.stderr:  # the signals are the run's once it plans
        if "planning the run" in line:
            break
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "async-ingest: interrupted while planning" in stderr
    assert "was not landed" not in stderr
    assert "Traceback" not in stderr
    assert stdout == ""  # nothing was planned, so nothing to report


def test_interrupted_files_are_one_line(proxy: FaultProxy, bucket: str, make_file: Callable[..., Path]) -> None:
    """The files an interrupted run did not land are counted in one line, not named one line each."""
    release = threading.Event()
    held = proxy.add(Fault(hold_until(release, timeout=60), method="PUT", times=None))
    sources = [str(make_file(f"in/file{number}.csv", 1000)) for number in range(3)]
    process = start_cli(["--bucket", bucket, *sources], {"AWS_ENDPOINT_URL": proxy.url})
    try:
        assert held.wait(timeout=30), "no file was sent"
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        release.set()
        process.kill()
    assert process.returncode == 143, stderr
    assert stderr.count("async-ingest: interrupted: 3 files were not landed") == 1, stderr
    assert "was not landed" not in stderr


@pytest.mark.anyio
@pytest.mark.parametrize("category", [None, "Movies"], ids=["one-partition-each", "listed-partition"])
async def test_unreachable_endpoint_fails_the_rest_fast(make_file: Callable[..., Path], category: str | None) -> None:
    """Once the endpoint is known not to answer, the other files and the manifest are not tried: the same message."""
    names = ("movies.csv", "series.csv", "people.csv")
    sources = [f"{category}={make_file(name, 10)}" if category else make_file(name, 10) for name in names]
    report = await async_ingest.ingest(
        sources, bucket="lake", endpoint_url="http://127.0.0.1:9", date=DAY, max_attempts=1, concurrency=1
    )
    message = "cannot connect to the S3 endpoint http://127.0.0.1:9"
    assert {f.error_code for f in report.files} == {"EndpointConnectionError"}
    assert all((f.error or "").startswith((message, "not attempted: " + message)) for f in report.files)
    # Without a listing the first file meets the error itself; with one, the listing did.
    tried = [f for f in report.files if not (f.error or "").startswith("not attempted: ")]
    assert len(tried) == (0 if category else 1)
    (error,) = report.errors
    assert error.startswith("could not write s3://lake/")
    assert message in error


def test_rerun_with_other_object_settings_skips_and_keeps_them(
    endpoint_env: dict[str, str], bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """Same content, other --storage-class or --metadata: skipped, settings kept; --if-exists overwrite applies."""
    source = make_file("movies.csv", 1000)
    key = "Raw/Local/CSV/Movies/2022/05/02/movies.csv"
    first = ["--bucket", bucket, "--date", "2022-05-02", "--json", "--metadata", "team=data"]
    assert run_cli(*first, source, env=endpoint_env).returncode == 0
    other = [*first[:-1], "team=ops", "--storage-class", "STANDARD_IA"]
    again = run_cli(*other, source, env=endpoint_env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["files"][0]["status"] == "skipped"
    kept = s3.head_object(Bucket=bucket, Key=key)
    assert (kept["Metadata"], kept.get("StorageClass", "STANDARD")) == ({"team": "data"}, "STANDARD")
    overwritten = run_cli(*other, "--if-exists", "overwrite", source, env=endpoint_env)
    assert json.loads(overwritten.stdout)["files"][0]["status"] == "uploaded", overwritten.stderr
    changed = s3.head_object(Bucket=bucket, Key=key)
    assert (changed["Metadata"], changed.get("StorageClass")) == ({"team": "ops"}, "STANDARD_IA")


def test_timeout_flags_bound_a_silent_endpoint(proxy: FaultProxy, bucket: str, make_file: Callable[..., Path]) -> None:
    """--read-timeout 1 --max-attempts 1 against an endpoint that never answers: the file fails with a read timeout,
    and the manifest, which would wait as long, is not tried."""
    silent = proxy.add(Fault(never_answer(), times=None))
    done = run_cli(
        "--bucket", bucket, "--read-timeout", "1", "--max-attempts", "1", "--json", make_file("series.csv", 1000),
        env={"AWS_ENDPOINT_URL": proxy.url}, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    (result,) = report["files"]
    assert result["status"] == "failed"
    assert result["error"].startswith("Read timeout on endpoint URL"), result
    assert report["manifest_key"] is None
    (error,) = report["errors"]
    assert error.endswith(result["error"])
    assert silent.applied == 1  # the file's one request; none for the manifest


def test_sighup_ignored_at_start_is_left_ignored(
    proxy: FaultProxy, bucket: str, make_file: Callable[..., Path]
) -> None:
    """Started with SIGHUP ignored (nohup), the run outlives its terminal: a SIGHUP changes nothing."""
    release = threading.Event()
    held = proxy.add(Fault(hold_until(release, timeout=60), method="PUT", times=None))
    process = start_cli(
        ["--bucket", bucket, "--json", str(make_file("series.csv", 1000))],
        {"AWS_ENDPOINT_URL": proxy.url},
        wrapper=("bash", "-c", 'trap "" HUP; exec "$@"', "bash"),
    )
    try:
        assert held.wait(timeout=30), "no file was sent"
        process.send_signal(signal.SIGHUP)
    finally:
        release.set()
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert json.loads(stdout)["files"][0]["status"] == "uploaded"
