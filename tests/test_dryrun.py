"""Dry runs: the part plan, what a real run would skip learnt by reading the bucket only, and --offline."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from async_ingest import FileStatus, Ingestor

from .conftest import DAY, MiB, objects, run_cli
from .faultproxy import FaultProxy

ARGS = ("--date", "2022-05-02", "--part-size", "5MiB", "--multipart-threshold", "5MiB")


def test_dry_run_reads_the_bucket_and_never_writes(
    proxy: FaultProxy, s3_endpoint: str, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """A dry run says skipped for what is already there, shows the planned parts and no time; only GET/HEAD sent."""
    landed, new, large = make_file("movies.csv", 2000), make_file("series.csv", 10), make_file("ratings.csv", 12 * MiB)
    first = run_cli("--bucket", bucket, *ARGS, landed, env={"AWS_ENDPOINT_URL": s3_endpoint})
    assert first.returncode == 0, first.stderr
    before = objects(s3, bucket, manifests=True)
    done = run_cli("--bucket", bucket, *ARGS, "--dry-run", landed, new, large, env={"AWS_ENDPOINT_URL": proxy.url})
    assert done.returncode == 0, done.stderr
    rows = {
        line.split()[-1].split("/")[3]: line.split() for line in done.stdout.splitlines() if "Raw/Local/CSV/" in line
    }
    shown = {category: (row[0], row[-3], row[-2]) for category, row in rows.items()}  # status, parts, time
    assert shown == {"Movies": ("skipped", "0", "-"), "Series": ("planned", "1", "-"), "Ratings": ("planned", "3", "-")}
    assert re.search(r"^3 files: 1 skipped, 2 planned; 12\.0 MiB to send$", done.stdout, re.MULTILINE), done.stdout
    methods = {request.method for request in proxy.requests}
    assert methods, "the bucket was not looked at"
    assert methods <= {"GET", "HEAD"}, methods
    assert objects(s3, bucket, manifests=True) == before


def test_dry_run_offline_contacts_nothing(proxy: FaultProxy, bucket: str, make_file: Callable[..., Path]) -> None:
    """--dry-run --offline sends no request at all: every file planned, with its part count."""
    done = run_cli(
        "--bucket", bucket, *ARGS, "--dry-run", "--offline", "--json", make_file("ratings.csv", 12 * MiB),
        env={"AWS_ENDPOINT_URL": proxy.url},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [result] = json.loads(done.stdout)["files"]
    assert (result["status"], result["parts"]) == ("planned", 3)
    assert proxy.requests == []


def test_dry_run_says_what_if_exists_fail_would_refuse(
    endpoint_env: dict[str, str], bucket: str, make_file: Callable[..., Path]
) -> None:
    """With --if-exists fail, a dry run reports the file already there as failed, and exits 1."""
    source = make_file("movies.csv", 10)
    assert run_cli("--bucket", bucket, *ARGS, source, env=endpoint_env).returncode == 0
    done = run_cli("--bucket", bucket, *ARGS, "--dry-run", "--if-exists", "fail", "--json", source, env=endpoint_env)
    assert done.returncode == 1, done.stderr
    [result] = json.loads(done.stdout)["files"]
    assert result["status"] == "failed"
    assert "already exists" in result["error"]


def test_dry_run_without_credentials_points_to_offline(make_file: Callable[..., Path]) -> None:
    """A dry run that cannot read the bucket for want of credentials says that --offline needs none."""
    source = make_file("movies.csv", 10)
    done = run_cli("--bucket", "lake", "--dry-run", source, env={"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""})
    assert done.returncode == 2
    assert done.stderr.startswith("async-ingest: error: no AWS credentials found")
    assert "--offline makes a dry run that contacts nothing" in done.stderr
    offline = run_cli("--bucket", "lake", "--dry-run", "--offline", source, env={"AWS_ACCESS_KEY_ID": ""})
    assert offline.returncode == 0, offline.stderr


def test_offline_goes_with_dry_run(make_file: Callable[..., Path]) -> None:
    """--offline alone, or with the stale-upload sweep, is a usage error: those cannot avoid the bucket."""
    done = run_cli("--bucket", "lake", "--offline", make_file("movies.csv", 10))
    assert done.returncode == 2
    assert "--offline goes with --dry-run" in done.stderr
    sweep = run_cli("--bucket", "lake", "--abort-stale-uploads", "--dry-run", "--offline")
    assert sweep.returncode == 2
    assert "--offline goes with --dry-run of an ingest" in sweep.stderr


@pytest.mark.anyio
async def test_library_dry_run_checks_the_bucket_only_when_asked(
    s3_endpoint: str, bucket: str, make_file: Callable[..., Path]
) -> None:
    """Ingestor.ingest(dry_run=True) stays offline; check_bucket=True reads the bucket and says skipped."""
    source = make_file("movies.csv", 10)
    async with Ingestor(bucket=bucket, endpoint_url=s3_endpoint) as ingestor:
        await ingestor.ingest([source], date=DAY)
    async with Ingestor(bucket=bucket, endpoint_url=s3_endpoint) as ingestor:
        offline = await ingestor.ingest([source], date=DAY, dry_run=True)
        checked = await ingestor.ingest([source], date=DAY, dry_run=True, check_bucket=True)
    assert [f.status for f in offline.files] == [FileStatus.PLANNED]
    assert [f.status for f in checked.files] == [FileStatus.SKIPPED]
    with pytest.raises(RuntimeError, match="needs an open Ingestor"):
        await Ingestor(bucket=bucket).ingest([source], date=DAY, dry_run=True, check_bucket=True)
