"""Reliability over HTTP: fail-fast errors, stale-upload sweeps, symlinks, and the bad-input matrix."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import async_ingest
from async_ingest import FileStatus

from .conftest import DAY, objects, open_uploads, run_cli


@pytest.mark.anyio
async def test_run_wide_error_fails_fast(s3_endpoint: str, make_file: Callable[..., Path]) -> None:
    """Once the bucket is known missing, files not yet started fail without a request each."""
    sources = [make_file(f"f{i:02}.csv", 10) for i in range(20)]
    report = await async_ingest.ingest(
        sources, bucket="no-such-bucket-at-all", endpoint_url=s3_endpoint, date=DAY, concurrency=2
    )
    assert {f.status for f in report.files} == {FileStatus.FAILED}
    assert {f.error_code for f in report.files} == {"NoSuchBucket"}
    not_attempted = [f for f in report.files if (f.error or "").startswith("not attempted")]
    assert len(not_attempted) >= 15
    assert all("bucket 'no-such-bucket-at-all' does not exist" in (f.error or "") for f in report.files)


def test_cli_sweep(endpoint_env: dict[str, str], bucket: str, s3: Any) -> None:
    """The sweep is reachable from the command line without breaking the plain form."""
    s3.create_multipart_upload(Bucket=bucket, Key="Raw/Local/a.csv")
    dry = run_cli(
        "--bucket", bucket, "--abort-stale-uploads", "--older-than", "0s", "--dry-run", "--json", env=endpoint_env
    )
    assert dry.returncode == 0, dry.stderr
    assert [u["key"] for u in json.loads(dry.stdout)["uploads"]] == ["Raw/Local/a.csv"]
    assert len(open_uploads(s3, bucket)) == 1
    done = run_cli(
        "--bucket", bucket, "--abort-stale-uploads", "--older-than", "0s", "--prefix", "Raw/", env=endpoint_env
    )
    assert done.returncode == 0, done.stderr
    assert "1 stale uploads" in done.stdout
    assert open_uploads(s3, bucket) == []
    both = run_cli("--bucket", bucket, "--abort-stale-uploads", "some.csv", env=endpoint_env)
    assert both.returncode == 2
    assert "takes no SOURCE" in both.stderr


def test_symlinks_followed_or_refused(
    endpoint_env: dict[str, str], bucket: str, s3: Any, make_file: Callable[..., Path], tmp_path: Path
) -> None:
    """A symlink uploads its target's bytes by default; --no-follow-symlinks refuses it by name."""
    target = make_file("real/data.csv", 100)
    link = tmp_path / "movies.csv"
    link.symlink_to(target)
    refused = run_cli("--bucket", bucket, "--no-follow-symlinks", link, env=endpoint_env)
    assert refused.returncode == 2
    assert "movies.csv: is a symbolic link" in refused.stderr
    assert objects(s3, bucket) == {}
    followed = run_cli("--bucket", bucket, "--date", "2022-05-02", link, env=endpoint_env)
    assert followed.returncode == 0, followed.stderr
    assert objects(s3, bucket) == {"Raw/Local/CSV/Movies/2022/05/02/movies.csv": target.read_bytes()}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["../escape={file}"], "key piece 'category'", id="dotdot-category"),
        pytest.param(["--zone", "..", "{file}"], "key piece 'zone'", id="dotdot-zone"),
        pytest.param(["--origin", "/etc", "{file}"], "key piece 'origin'", id="absolute-origin"),
        pytest.param(["--zone", "Raw\r\nX-Injected: 1", "{file}"], "control character", id="header-injection"),
        pytest.param(["--zone", "Z" * 1000, "{file}"], "S3 allows 1024", id="key-too-long"),
    ],
)
def test_keys_cannot_escape_the_prefix(
    args: list[str], message: str, endpoint_env: dict[str, str], bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """Pieces that would escape or break the key layout are refused before any upload."""
    source = str(make_file("movies.csv", 10))
    done = run_cli("--bucket", bucket, *[a.replace("{file}", source) for a in args], env=endpoint_env)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert objects(s3, bucket, manifests=True) == {}


def test_very_long_file_name(
    endpoint_env: dict[str, str], bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """A file name at the file system's 255-byte limit still lands under its key."""
    name = "m" * 251 + ".csv"
    done = run_cli("--bucket", bucket, "--date", "2022-05-02", "Long=" + str(make_file(name, 10)), env=endpoint_env)
    assert done.returncode == 0, done.stderr
    assert list(objects(s3, bucket)) == [f"Raw/Local/CSV/Long/2022/05/02/{name}"]


def test_directory_of_10000_files(endpoint_env: dict[str, str], bucket: str, s3: Any, tmp_path: Path) -> None:
    """A directory of 10,000 files is planned whole; the first 300 of them are really uploaded.

    (Uploading all 10,000 through moto's server would take minutes; planning every key is what
    scales with the count, and the upload path is the same for each file.)
    """
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(10_000):
        (folder / f"part-{i:05}.csv").write_bytes(b"%d\n" % i)
    planned = run_cli("--bucket", bucket, "--dry-run", "--json", f"Parts={folder}", env=endpoint_env)
    assert planned.returncode == 0, planned.stderr[-2000:]
    assert json.loads(planned.stdout)["summary"]["planned"] == 10_000
    for path in sorted(folder.iterdir())[300:]:
        path.unlink()
    done = run_cli(
        "--bucket", bucket, "--date", "2022-05-02", "--concurrency", "32", "--json", f"Parts={folder}",
        env=endpoint_env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["summary"]["uploaded"] == 300
    keys = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="Raw/Local/CSV/Parts/"):
        keys.update(item["Key"] for item in page.get("Contents", []))
    assert len(keys) == 300
    assert s3.get_object(Bucket=bucket, Key="Raw/Local/CSV/Parts/2022/05/02/part-00299.csv")["Body"].read() == b"299\n"
