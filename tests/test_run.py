"""A run as an object, the typed public API, and the run's own writes (manifest, markers) against the test server."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from awscrt import checksums

import async_ingest
from async_ingest import FileStatus, Ingestor, ProgressEvent

from .conftest import DAY, SMALL, MiB, objects, open_uploads
from .faultproxy import Fault, FaultProxy, status
from .test_workers import worker_processes

pytestmark = pytest.mark.anyio

SERIES = "Raw/Local/CSV/Series/2022/05/02/series.csv"


async def test_run_reports_what_landed_when_cancelled(
    s3_endpoint: str, bucket: str, s3: Any, client: Any, make_file: Callable[..., Path]
) -> None:
    """A cancelled run's report, from the same Run object, has the landed file uploaded and the rest interrupted."""
    small, large = make_file("series.csv", 1000), make_file("movies.csv", 30 * MiB)
    landed = anyio.Event()
    async with Ingestor(bucket=bucket, client=client, concurrency=1, **SMALL) as ingestor:
        run = ingestor.new_run(await ingestor.plan([small, large], date=DAY))
        assert run.clock() == 0
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: run.execute(on_result=lambda result: landed.set()))
                await landed.wait()  # the small file, planned first, is done; the large one is next
                tg.cancel_scope.cancel()
    report = run.report()
    assert {f.key: f.status for f in report.files} == {
        SERIES: FileStatus.UPLOADED,
        "Raw/Local/CSV/Movies/2022/05/02/movies.csv": FileStatus.INTERRUPTED,
    }
    assert report.duration == pytest.approx(run.clock(), abs=1e-5)
    assert run.bytes_sent >= 1000
    assert report.manifest_key is None
    assert open_uploads(s3, bucket) == []
    assert list(objects(s3, bucket)) == [SERIES]


async def test_run_executes_once(s3_endpoint: str, bucket: str, client: Any, make_file: Callable[..., Path]) -> None:
    """A Run is executed once; its report then stays the final one, and its clock stops with its files."""
    async with Ingestor(bucket=bucket, client=client) as ingestor:
        run = ingestor.new_run(await ingestor.plan([make_file("series.csv", 10)], date=DAY))
        report = await run.execute()
        with pytest.raises(RuntimeError, match="executed once"):
            await run.execute()
    assert run.report() is report
    assert report.duration == pytest.approx(run.clock(), abs=1e-5)
    assert run.results[SERIES].status is FileStatus.UPLOADED


async def test_one_shot_ingest_takes_callbacks(s3_endpoint: str, bucket: str, make_file: Callable[..., Path]) -> None:
    """ingest() passes on_result and on_progress on, as Ingestor.ingest() does."""
    results: list[async_ingest.FileResult] = []
    events: list[ProgressEvent] = []
    report = await async_ingest.ingest(
        [make_file("series.csv", 1000)],
        bucket=bucket,
        endpoint_url=s3_endpoint,
        date=DAY,
        on_result=results.append,
        on_progress=events.append,
    )
    assert results == list(report.files)
    assert [e.kind for e in events] == ["started", "advanced", "finished"]
    assert events[-1].done == 1000


async def test_aclose_closes_what_the_ingestor_owns(
    s3_endpoint: str, bucket: str, make_file: Callable[..., Path]
) -> None:
    """aclose() stops the Ingestor's own worker processes, may be called again, and leaves it unusable."""
    ingestor = Ingestor(bucket=bucket, endpoint_url=s3_endpoint, workers=2)
    await ingestor.__aenter__()
    assert ingestor.client is not None
    assert len(worker_processes()) == 1
    await ingestor.aclose()
    assert worker_processes() == []
    await ingestor.aclose()
    plan = await ingestor.plan([make_file("series.csv", 10)], date=DAY)
    with pytest.raises(RuntimeError, match="async with"):
        ingestor.new_run(plan)


async def test_aclose_leaves_a_borrowed_client_open(bucket: str, client: Any) -> None:
    """aclose() on an Ingestor that borrows the host's client leaves that client usable."""
    async with Ingestor(bucket=bucket, client=client) as ingestor:
        await ingestor.aclose()
    assert (await client.list_objects_v2(Bucket=bucket))["KeyCount"] == 0


async def test_manifest_and_markers_carry_checksum_and_encryption(
    s3_endpoint: str, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """The manifest and _SUCCESS objects are written with the run's checksum and server-side encryption."""
    report = await async_ingest.ingest(
        [make_file("series.csv", 10)],
        bucket=bucket,
        endpoint_url=s3_endpoint,
        date=DAY,
        sse="AES256",
        success_marker=True,
    )
    assert report.ok, report.errors
    assert report.manifest_key is not None
    for key in (report.manifest_key, "Raw/Local/CSV/Series/2022/05/02/_SUCCESS"):
        head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert head["ChecksumCRC64NVME"] == base64.b64encode(checksums.crc64nvme(body).to_bytes(8, "big")).decode()
        assert head["ServerSideEncryption"] == "AES256"


async def test_manifest_not_written_is_not_announced(
    proxy: FaultProxy, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """A manifest PUT that is denied leaves manifest_key unset and says why in the report's errors."""
    proxy.add(Fault(status(403, "AccessDenied", "Access Denied"), method="PUT", path="/_manifests/", times=None))
    report = await async_ingest.ingest(
        [make_file("series.csv", 10)], bucket=bucket, endpoint_url=proxy.url, date=DAY, max_attempts=1
    )
    assert report.files[0].status is FileStatus.UPLOADED
    assert report.manifest_key is None
    assert report.to_dict()["manifest_key"] is None
    (error,) = report.errors
    assert error.startswith(f"could not write s3://{bucket}/Raw/Local/_manifests/2022/05/02/{report.run_id}.json: ")
    assert list(objects(s3, bucket, manifests=True)) == [SERIES]


async def test_manifest_after_run_wide_error_fails_at_once(proxy: FaultProxy, make_file: Callable[..., Path]) -> None:
    """After a run-wide error (no such bucket), the manifest is not tried: it fails with the same message."""
    report = await async_ingest.ingest(
        [make_file("series.csv", 10), make_file("movies.csv", 10)],
        bucket="no-such-bucket-for-manifest",
        endpoint_url=proxy.url,
        date=DAY,
        concurrency=1,
        success_marker=True,
    )
    assert {f.error_code for f in report.files} == {"NoSuchBucket"}
    assert report.manifest_key is None
    manifest = f"s3://no-such-bucket-for-manifest/Raw/Local/_manifests/2022/05/02/{report.run_id}.json"
    assert report.errors == (f"could not write {manifest}: bucket 'no-such-bucket-for-manifest' does not exist",)
    assert not [r for r in proxy.requests if "_manifests" in r.path]
    with pytest.raises(async_ingest.IngestFailedError):
        report.raise_for_failures()


async def test_manifest_document_is_the_report(
    s3_endpoint: str, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """The manifest in the lake holds the same report the caller gets, its own key included."""
    report = await async_ingest.ingest([make_file("series.csv", 10)], bucket=bucket, endpoint_url=s3_endpoint, date=DAY)
    assert report.manifest_key is not None
    stored = json.loads(s3.get_object(Bucket=bucket, Key=report.manifest_key)["Body"].read())
    assert stored == json.loads(json.dumps(report.to_dict()))
