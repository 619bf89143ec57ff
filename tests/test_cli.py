"""The async-ingest command, run as a real process against the test server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import SECRET_KEY, MiB, objects, open_uploads, run_cli, start_cli
from .faultproxy import Fault, FaultProxy, hold_until, stall


def test_help_and_version_do_not_import_botocore() -> None:
    """--help and --version answer without loading the S3 stack."""
    code = (
        "import sys\n"
        "from async_ingest import cli\n"
        "for flags in (['--help'], ['--version']):\n"
        "    try:\n"
        "        cli.main(flags)\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0, exc.code\n"
        "heavy = {'botocore', 'aiobotocore', 'aioboto3', 'aiohttp'}\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in heavy)\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "{zone}/{origin}/{format}/{category}/{yyyy}/{mm}/{dd}/{filename}" in done.stdout
    assert "async-ingest 0." in done.stdout


def test_upload_with_json_report(
    endpoint_env: dict[str, str], bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """The plain form uploads every file and --json prints one JSON document on stdout."""
    movies = make_file("movies.csv", 11 * MiB)
    series = make_file("series.csv", 4000)
    done = run_cli(
        "--bucket", bucket, "--date", "2022-05-02", "--part-size", "5MiB", "--multipart-threshold", "5MiB",
        "--json", movies, series, env=endpoint_env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["bucket"] == bucket
    assert report["summary"]["uploaded"] == 2
    assert [(f["key"], f["status"], f["category"], f["size"], f["error"]) for f in report["files"]] == [
        ("Raw/Local/CSV/Movies/2022/05/02/movies.csv", "uploaded", "Movies", 11 * MiB, None),
        ("Raw/Local/CSV/Series/2022/05/02/series.csv", "uploaded", "Series", 4000, None),
    ]
    assert objects(s3, bucket) == {
        "Raw/Local/CSV/Movies/2022/05/02/movies.csv": movies.read_bytes(),
        "Raw/Local/CSV/Series/2022/05/02/series.csv": series.read_bytes(),
    }


def test_table_output_and_bucket_from_env(
    endpoint_env: dict[str, str], bucket: str, s3: Any, make_file: Callable[..., Path], tmp_path: Path
) -> None:
    """Without --json a table is printed; the bucket may come from ASYNC_INGEST_BUCKET; directories expand."""
    make_file("in/movies.csv", 10)
    make_file("in/series.csv", 10)
    done = run_cli(
        "--date", "2022-05-02", "--layout", "hive",
        f"Films={tmp_path / 'in' / 'movies.csv'}", tmp_path / "in" / "series.csv",
        env={**endpoint_env, "ASYNC_INGEST_BUCKET": bucket},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "uploaded" in done.stdout
    assert "Raw/Local/CSV/Films/year=2022/month=05/day=02/movies.csv" in done.stdout
    assert "2 files: 2 uploaded" in done.stdout
    assert f"manifest: s3://{bucket}/Raw/Local/_manifests/2022/05/02/" in done.stdout
    assert sorted(objects(s3, bucket)) == [
        "Raw/Local/CSV/Films/year=2022/month=05/day=02/movies.csv",
        "Raw/Local/CSV/Series/year=2022/month=05/day=02/series.csv",
    ]


def test_dry_run_writes_nothing(
    endpoint_env: dict[str, str], bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """--dry-run prints the planned keys and uploads nothing."""
    done = run_cli(
        "--bucket", bucket, "--date", "2022-05-02", "--dry-run", make_file("movies.csv", 10), env=endpoint_env
    )
    assert done.returncode == 0, done.stderr
    assert "planned" in done.stdout
    assert "Raw/Local/CSV/Movies/2022/05/02/movies.csv" in done.stdout
    assert objects(s3, bucket) == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--bucket", "Bad_Bucket", "{file}"], "invalid bucket name 'Bad_Bucket'", id="bucket-name"),
        pytest.param(["--bucket", "lake", "--date", "2022-13-01", "{file}"], "invalid date '2022-13-01'", id="date"),
        pytest.param(["--bucket", "lake", "--date", "02/05/2022", "{file}"], "invalid date", id="date-format"),
        pytest.param(["--bucket", "lake", "--frobnicate", "{file}"], "unrecognized arguments", id="unknown-option"),
        pytest.param(["{file}"], "no bucket given", id="no-bucket"),
        pytest.param(["--bucket", "lake", "{missing}"], "nope.csv: no such file", id="missing-file"),
        pytest.param(["--bucket", "lake", "{directory}/"], "no regular files", id="empty-dir"),
        pytest.param(["--bucket", "lake", "--zone", "a/b", "{file}"], "key piece 'zone'", id="zone"),
        pytest.param(["--bucket", "lake", "--layout", "{zone}/{oops}", "{file}"], "unknown field {oops}", id="layout"),
        pytest.param(["--bucket", "lake", "--tz", "Nowhere/Land", "{file}"], "unknown time zone", id="tz"),
        pytest.param(["--bucket", "lake", "--part-size", "1MiB", "{file}"], "part size", id="part-size"),
        pytest.param(["--bucket", "lake", "--part-size", "lots", "{file}"], "invalid size 'lots'", id="size"),
        pytest.param(
            ["--bucket", "lake", "--buffer-memory", "1", "{file}"],
            "buffer memory 1 bytes is smaller than one part (part size 8MiB)",
            id="buffer-memory",
        ),
        pytest.param(["--bucket", "lake", "--concurrency", "0", "{file}"], "invalid number", id="concurrency"),
        pytest.param(["--bucket", "lake"], "required: SOURCE", id="no-source"),
    ],
)
def test_usage_errors_exit_2(
    args: list[str], message: str, endpoint_env: dict[str, str], make_file: Callable[..., Path], tmp_path: Path
) -> None:
    """Usage and configuration errors exit 2 with one clear line, no traceback, nothing uploaded."""
    (tmp_path / "empty").mkdir()
    values = {
        "file": str(make_file("movies.csv", 10)),
        "missing": str(tmp_path / "nope.csv"),
        "directory": str(tmp_path / "empty"),
    }
    done = run_cli(
        *[a.format(**values) if a.startswith("{") and a.rstrip("/").strip("{}") in values else a for a in args],
        env=endpoint_env,
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_non_utf8_file_name_exits_2(endpoint_env: dict[str, str], bucket: str, s3: Any, tmp_path: Path) -> None:
    """A file name that cannot be a UTF-8 key is named in the error, and nothing of the run is uploaded."""
    (tmp_path / "good.csv").write_bytes(b"x")
    with open(os.fsencode(tmp_path) + b"/caf\xe9.csv", "wb") as handle:
        handle.write(b"y")
    done = run_cli("--bucket", bucket, tmp_path, env=endpoint_env)
    assert done.returncode == 2, done.stderr
    assert "caf" in done.stderr
    assert "UTF-8" in done.stderr
    assert objects(s3, bucket) == {}


def test_missing_bucket_exits_1(endpoint_env: dict[str, str], make_file: Callable[..., Path]) -> None:
    """A bucket that does not exist fails the files: exit 1, the bucket named, no traceback."""
    done = run_cli("--bucket", "no-such-bucket-anywhere", make_file("movies.csv", 10), env=endpoint_env)
    assert done.returncode == 1
    assert "bucket 'no-such-bucket-anywhere' does not exist" in done.stderr
    assert "Traceback" not in done.stderr
    assert "failed" in done.stdout


def test_zero_byte_file_is_uploaded(
    endpoint_env: dict[str, str], bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """A 0-byte file is valid input and lands as an empty object."""
    done = run_cli("--bucket", bucket, "--date", "2022-05-02", make_file("empty.csv", 0), env=endpoint_env)
    assert done.returncode == 0, done.stderr
    assert objects(s3, bucket) == {"Raw/Local/CSV/Empty/2022/05/02/empty.csv": b""}


def test_secret_never_printed(
    endpoint_env: dict[str, str], bucket: str, s3: Any, make_file: Callable[..., Path], tmp_path: Path
) -> None:
    """The secret access key appears in no output, log, report or manifest, even at debug level."""
    report = tmp_path / "report.json"
    done = run_cli(
        "--bucket", bucket, "--log-level", "debug", "--json", "--report", report, make_file("movies.csv", 10),
        env=endpoint_env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "DEBUG" in done.stderr  # botocore's debug logging really was on
    manifests = objects(s3, bucket, manifests=True)
    assert len(manifests) == 2
    for text in (
        done.stdout,
        done.stderr,
        report.read_text(),
        *(b.decode(errors="replace") for b in manifests.values()),
    ):
        assert SECRET_KEY not in text


def test_local_trial_endpoint(make_file: Callable[..., Path]) -> None:
    """--local starts a trial endpoint in-process, uploads over HTTP and lists what landed."""
    done = run_cli(
        "--local", "--date", "2022-05-02", "--json", make_file("movies.csv", 1000), make_file("series.csv", 10)
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["summary"]["uploaded"] == 2
    assert report["endpoint_url"].startswith("http://127.0.0.1:")
    assert "data is gone when this run ends" in done.stderr
    assert "1000  Raw/Local/CSV/Movies/2022/05/02/movies.csv" in done.stderr


@pytest.mark.parametrize(
    ("signum", "code"),
    [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)],
    ids=["SIGINT", "SIGTERM", "SIGHUP"],
)
def test_signal_aborts_and_exits(
    endpoint_env: dict[str, str], bucket: str, s3: Any, make_file: Callable[..., Path], signum: int, code: int
) -> None:
    """Ctrl-C or SIGTERM mid-upload stops the run, aborts its multipart upload and exits 130 or 143."""
    source = make_file("movies.csv", 200 * MiB)
    process = start_cli(
        ["--bucket", bucket, "--part-size", "5MiB", "--concurrency", "2", "--json", str(source)], endpoint_env
    )
    deadline = time.monotonic() + 60
    while not open_uploads(s3, bucket) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert open_uploads(s3, bucket), "the upload never started"
    process.send_signal(signum)
    stopped = time.monotonic()
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == code, stderr
    assert time.monotonic() - stopped < 10
    assert open_uploads(s3, bucket) == []
    assert objects(s3, bucket) == {}
    report = json.loads(stdout)
    assert report["files"][0]["status"] == "interrupted"
    assert "Traceback" not in stderr


def test_second_ctrl_c_exits_at_once(proxy: FaultProxy, bucket: str, make_file: Callable[..., Path]) -> None:
    """While the first Ctrl-C's cleanup waits on a slow abort, a second Ctrl-C exits at once with 130."""
    release = threading.Event()
    try:
        aborts = proxy.add(Fault(hold_until(release, timeout=60), method="DELETE", path="uploadId=", times=None))
        parts = proxy.add(Fault(stall(60), path="partNumber=", times=None))
        source = make_file("movies.csv", 12 * MiB)
        process = start_cli(["--bucket", bucket, "--part-size", "5MiB", str(source)], {"AWS_ENDPOINT_URL": proxy.url})
        assert parts.wait(timeout=30), "no part was sent"
        process.send_signal(signal.SIGINT)
        assert aborts.wait(timeout=30), "the abort was never sent"
        process.send_signal(signal.SIGINT)
        started = time.monotonic()
        _, stderr = process.communicate(timeout=10)
        assert process.returncode == 130, stderr
        assert time.monotonic() - started < 2
        assert "interrupted again, exiting now" in stderr
    finally:
        release.set()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param({"AWS_PROFILE": "no-such-profile"}, "could not be found", id="unknown-profile"),
        pytest.param({"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, "no AWS credentials found", id="none"),
    ],
)
def test_credential_problems_exit_2(
    endpoint_env: dict[str, str],
    bucket: str,
    s3: Any,
    make_file: Callable[..., Path],
    env: dict[str, str],
    message: str,
) -> None:
    """An unknown profile or no credentials at all is a configuration error before any upload."""
    done = run_cli("--bucket", bucket, make_file("movies.csv", 10), env={**endpoint_env, **env})
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert objects(s3, bucket, manifests=True) == {}


def test_report_names_the_endpoint_from_the_environment(
    endpoint_env: dict[str, str], bucket: str, make_file: Callable[..., Path]
) -> None:
    """The report records the endpoint actually used, even when it came from AWS_ENDPOINT_URL."""
    done = run_cli("--bucket", bucket, "--json", make_file("movies.csv", 10), env=endpoint_env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["endpoint_url"] == endpoint_env["AWS_ENDPOINT_URL"]


def test_config_file_sources_and_precedence(
    s3_endpoint: str, bucket: str, s3: Any, make_file: Callable[..., Path], tmp_path: Path
) -> None:
    """async-ingest.toml in the working directory supplies bucket, layout and sources; flags still win."""
    make_file("data/Movies/2022.csv", 10)
    make_file("data/Series/2022.csv", 20)
    make_file("data/Series/skip.tmp", 5)
    (tmp_path / "async-ingest.toml").write_text(
        f'bucket = "{bucket}"\nlayout = "hive"\nzone = "Bronze"\nexclude = ["*.tmp"]\n\n'
        '[[sources]]\npath = "data/*/*"\ncategory-from-parent = true\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "async_ingest", "--date", "2022-05-02", "--zone", "Raw", "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "AWS_ENDPOINT_URL": s3_endpoint},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(objects(s3, bucket)) == [
        "Raw/Local/CSV/Movies/year=2022/month=05/day=02/2022.csv",
        "Raw/Local/CSV/Series/year=2022/month=05/day=02/2022.csv",
    ]


def test_invalid_config_file_names_file_line_and_key(tmp_path: Path) -> None:
    """A typo in the config file is a usage error naming the file, the line and the key."""
    config = tmp_path / "lake.toml"
    config.write_text('bucket = "lake"\nconcurency = 4\n')
    done = run_cli("--config", config, "data.csv")
    assert done.returncode == 2
    assert "lake.toml:2: unknown setting 'concurency' (did you mean 'concurrency'?)" in done.stderr


def test_print_config_shows_origins_without_secrets(tmp_path: Path) -> None:
    """--print-config shows each effective setting and where it came from; no credential appears."""
    config = tmp_path / "lake.toml"
    config.write_text('bucket = "from-file"\nconcurrency = 4\n')
    done = run_cli(
        "--config", config, "--print-config", "--json", "--part-size", "16MiB",
        env={"ASYNC_INGEST_CONCURRENCY": "6", "AWS_ENDPOINT_URL": "http://user:pw@127.0.0.1:9000"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)["settings"]
    assert shown["bucket"] == {"value": "from-file", "from": f"{config}:1"}
    assert shown["concurrency"] == {"value": 6, "from": "env ASYNC_INGEST_CONCURRENCY"}
    assert shown["part_size"] == {"value": 16 * MiB, "from": "flag"}
    assert shown["endpoint_url"]["value"] == "http://***@127.0.0.1:9000"
    assert SECRET_KEY not in done.stdout
    assert "pw@" not in done.stdout


@pytest.mark.parametrize("preset", ["minio", "ceph", "r2", "gcs"])
def test_presets_upload(
    endpoint_env: dict[str, str], bucket: str, s3: Any, make_file: Callable[..., Path], preset: str
) -> None:
    """Each S3-compatible preset's settings really upload (single and multipart) to an S3 endpoint."""
    small, large = make_file("series.csv", 100), make_file("movies.csv", 11 * MiB)
    done = run_cli(
        "--bucket", bucket, "--preset", preset, "--endpoint-url", endpoint_env["AWS_ENDPOINT_URL"],
        "--part-size", "5MiB", "--multipart-threshold", "5MiB", "--date", "2022-05-02", small, large,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    landed = objects(s3, bucket)
    assert landed["Raw/Local/CSV/Movies/2022/05/02/movies.csv"] == large.read_bytes()
    assert landed["Raw/Local/CSV/Series/2022/05/02/series.csv"] == small.read_bytes()


def test_json_logs_carry_run_id_and_key(
    endpoint_env: dict[str, str], bucket: str, make_file: Callable[..., Path]
) -> None:
    """--log-format json writes one JSON object per line; upload lines carry the run id and the key."""
    done = run_cli(
        "--bucket", bucket, "--log-level", "info", "--log-format", "json", "--json", make_file("movies.csv", 10),
        env=endpoint_env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    uploads = [line for line in lines if "key" in line]
    assert any(line["key"].endswith("/movies.csv") and "uploaded" in line["message"] for line in uploads), done.stderr
    assert all(line["run_id"] == run_id for line in uploads)


def test_print_config_is_a_readable_listing(tmp_path: Path) -> None:
    """--print-config lists one setting a line, as people write values, with origins and the file's sources."""
    config = tmp_path / "lake.toml"
    config.write_text('bucket = "lake"\nconcurrency = 4\n\n[[sources]]\npath = "data/*.csv"\ncategory = "Movies"\n')
    done = run_cli(
        "--config", config, "--print-config", "--part-size", "16MiB", "--preset", "minio",
        env={"ASYNC_INGEST_OLDER_THAN": "7d", "AWS_ENDPOINT_URL": "http://user:pw@127.0.0.1:9000"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines() if not line.startswith(" ")}
    assert rows["bucket"] == ["lake", f"{config}:1"]
    assert rows["concurrency"] == ["4", f"{config}:2"]
    assert rows["part_size"] == ["16MiB", "flag"]
    assert rows["buffer_memory"] == ["40MiB", "default"]
    assert rows["older_than"] == ["7d", "env", "ASYNC_INGEST_OLDER_THAN"]
    assert rows["checksum"] == ["crc32c", "preset", "minio"]
    assert rows["endpoint_url"] == ["http://***@127.0.0.1:9000", "env", "AWS_ENDPOINT_URL"]
    assert f"  {tmp_path / 'data/*.csv'} category=Movies  ({config}:4)" in done.stdout.splitlines()
    assert "pw@" not in done.stdout


def test_metadata_from_the_environment(tmp_path: Path) -> None:
    """ASYNC_INGEST_METADATA is read as KEY=VALUE,KEY2=VALUE2; a malformed one is a one-line error, exit 2."""
    done = run_cli("--print-config", "--json", env={"ASYNC_INGEST_METADATA": "team=data,source=crm"})
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)["settings"]["metadata"]
    assert shown == {"value": {"team": "data", "source": "crm"}, "from": "env ASYNC_INGEST_METADATA"}
    done = run_cli("--bucket", "lake", "data.csv", env={"ASYNC_INGEST_METADATA": "team"})
    assert done.returncode == 2
    assert (
        done.stderr
        == "async-ingest: error: environment variable ASYNC_INGEST_METADATA: invalid metadata 'team': use KEY=VALUE\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--date", "2022-13-01"], "argument --date: invalid date '2022-13-01'", id="date"),
        pytest.param(["--concurrency", "0"], "argument --concurrency: invalid number '0'", id="concurrency"),
        pytest.param(["--checksum", "md5"], "argument --checksum: invalid choice: 'md5'", id="choice"),
    ],
)
def test_bad_flag_value_is_one_line_and_a_pointer(args: list[str], message: str) -> None:
    """A bad flag value prints the error and where to look, not the whole usage block."""
    done = run_cli("--bucket", "lake", *args, "data.csv")
    assert done.returncode == 2
    first, second = done.stderr.splitlines()
    assert first.startswith(f"async-ingest: error: {message}")
    assert second == "see 'async-ingest --help'"


def test_verify_subcommand_and_a_source_named_verify(
    endpoint_env: dict[str, str], bucket: str, s3: Any, tmp_path: Path
) -> None:
    """`verify` as the first word runs the check; `./verify` is still a file to ingest."""
    (tmp_path / "verify").write_text("a|b\n")
    landed = run_cli(
        "--bucket", bucket, "--date", "2022-05-02", "--format", "CSV", "./verify", cwd=tmp_path, env=endpoint_env
    )
    assert landed.returncode == 0, landed.stderr
    assert "Raw/Local/CSV/Verify/2022/05/02/verify" in objects(s3, bucket)
    (manifest,) = [
        item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix="Raw/Local/_manifests/")["Contents"]
    ]
    checked = run_cli("verify", f"s3://{bucket}/{manifest}", env=endpoint_env)
    assert checked.returncode == 0, checked.stderr
    assert "ok" in checked.stdout
    bad = run_cli("verify", "s3:/nothing", env=endpoint_env)
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1, bad.stderr
