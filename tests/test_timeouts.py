"""An endpoint that stops answering fails the file within the configured timeouts, with a clear message."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import async_ingest
from async_ingest import ConfigError, FileStatus, IngestConfig

from .conftest import DAY, SMALL, objects, open_uploads
from .faultproxy import Action, Fault, FaultProxy, never_answer, stall_mid_response

pytestmark = pytest.mark.anyio


async def ingest_one(proxy: FaultProxy, bucket: str, source: Path, **settings: Any) -> async_ingest.FileResult:
    """The result of uploading *source* alone through *proxy*, without a manifest."""
    report = await async_ingest.ingest(
        [source], bucket=bucket, endpoint_url=proxy.url, date=DAY, manifest=False, **settings
    )
    [result] = report.files
    return result


@pytest.mark.parametrize(
    ("action", "landed"),
    [
        pytest.param(never_answer(), 0, id="never-answers"),
        # The server stored the object; only its answer was lost on the way.
        pytest.param(stall_mid_response(), 1, id="stalls-mid-response"),
    ],
)
@pytest.mark.timeout(30)
async def test_silent_endpoint_fails_the_file_after_the_read_timeout(
    proxy: FaultProxy, bucket: str, s3: Any, make_file: Callable[..., Path], action: Action, landed: int
) -> None:
    """A PUT the endpoint reads and never (fully) answers fails its file with a read timeout, not a long wait."""
    silent = proxy.add(Fault(action, method="PUT", path="movies.csv", times=None))
    result = await ingest_one(proxy, bucket, make_file("movies.csv", 1024), read_timeout=1, max_attempts=1)
    assert result.status is FileStatus.FAILED
    assert result.error_code == "ReadTimeoutError"
    assert result.error == f'Read timeout on endpoint URL: "{proxy.url}/{bucket}/{result.key}"'
    assert silent.applied == 1
    assert len(objects(s3, bucket)) == landed


async def test_timeouts_reach_the_client(proxy: FaultProxy, bucket: str, make_file: Callable[..., Path]) -> None:
    """The attempts setting bounds the retries of a silent endpoint: each attempt waits one read timeout."""
    silent = proxy.add(Fault(never_answer(), method="PUT", path="movies.csv", times=None))
    result = await ingest_one(proxy, bucket, make_file("movies.csv", 10), read_timeout=0.5, max_attempts=2)
    assert result.error_code == "ReadTimeoutError"
    assert silent.applied == 2


@pytest.mark.timeout(30)
async def test_silent_endpoint_fails_parts_and_manifest_too(
    proxy: FaultProxy, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """Parts (sent with 'Expect: 100-continue') do not wait forever for a silent endpoint; once one has timed
    out, the manifest fails at once with the same message instead of waiting as long again."""
    silent = proxy.add(Fault(never_answer(), method="PUT", path="partNumber=", times=None))
    report = await async_ingest.ingest(
        [make_file("movies.csv", 11 * 2**20)],
        bucket=bucket,
        endpoint_url=proxy.url,
        date=DAY,
        read_timeout=1,
        max_attempts=1,
        **SMALL,
    )
    assert report.files[0].error_code == "ReadTimeoutError"
    assert report.files[0].error is not None
    assert "partNumber=" in report.files[0].error
    [manifest_error] = report.errors
    key = async_ingest.IngestConfig(bucket=bucket).manifest_key(report.date, report.run_id)
    assert manifest_error == f"could not write s3://{bucket}/{key}: {report.files[0].error}"
    assert report.manifest_key is None  # announced only when written
    assert silent.applied >= 1
    assert open_uploads(s3, bucket) == []


@pytest.mark.timeout(30)
async def test_silent_manifest_write_fails_after_the_read_timeout(
    proxy: FaultProxy, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """A manifest PUT the endpoint never answers fails with a read timeout naming its own URL; the file landed."""
    silent = proxy.add(Fault(never_answer(), method="PUT", path="/_manifests/", times=None))
    report = await async_ingest.ingest(
        [make_file("movies.csv", 1024)], bucket=bucket, endpoint_url=proxy.url, date=DAY, read_timeout=1, max_attempts=1
    )
    assert report.files[0].status is FileStatus.UPLOADED
    [manifest_error] = report.errors
    key = async_ingest.IngestConfig(bucket=bucket).manifest_key(report.date, report.run_id)
    assert (
        manifest_error
        == f'could not write s3://{bucket}/{key}: Read timeout on endpoint URL: "{proxy.url}/{bucket}/{key}"'
    )
    assert report.manifest_key is None
    assert silent.applied == 1
    assert len(objects(s3, bucket)) == 1


def test_default_timeouts() -> None:
    """The defaults bound a silent endpoint to minutes per request: botocore's 60 s read timeout and 3 attempts."""
    config = IngestConfig(bucket="lake")
    assert (config.connect_timeout, config.read_timeout, config.max_attempts) == (10.0, 60.0, 3)


@pytest.mark.parametrize("name", ["connect_timeout", "read_timeout"])
@pytest.mark.parametrize("value", [0, -1.5, float("nan"), float("inf"), "5", True])
def test_invalid_timeouts(name: str, value: object) -> None:
    """A timeout is a positive, finite number of seconds; anything else is named in the error."""
    with pytest.raises(ConfigError, match=f"{name.replace('_', ' ')} must be a positive number of seconds"):
        IngestConfig(bucket="lake", **{name: value})  # type: ignore[arg-type]
