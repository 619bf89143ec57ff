"""The library against a real S3-compatible server over HTTP (moto's server mode)."""

from __future__ import annotations

import datetime
import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from botocore.exceptions import ClientError

import async_ingest
from async_ingest import FileStatus, IngestConfig, Ingestor

from .conftest import DAY, SMALL, MiB, RecordingClient, objects, open_uploads
from .faultproxy import Fault, FaultProxy, hold_until

pytestmark = pytest.mark.anyio


async def test_round_trip_is_byte_exact(s3_endpoint: str, bucket: str, s3: Any, make_file: Callable[..., Path]) -> None:
    """Single-PUT, multipart and empty files land at their keys with exactly their bytes."""
    movies = make_file("movies.csv", 11 * MiB + 12345)
    series = make_file("series.csv", 300_000)
    empty = make_file("empty.csv", 0)
    report = await async_ingest.ingest(
        [movies, series, empty], bucket=bucket, endpoint_url=s3_endpoint, date=DAY, **SMALL
    )
    assert report.ok
    assert [f.status for f in report.files] == [FileStatus.UPLOADED] * 3
    by_name = {Path(f.source).name: f for f in report.files}
    assert by_name["movies.csv"].parts == 3
    assert by_name["series.csv"].parts == 1
    landed = objects(s3, bucket)
    assert landed == {
        "Raw/Local/CSV/Movies/2022/05/02/movies.csv": movies.read_bytes(),
        "Raw/Local/CSV/Series/2022/05/02/series.csv": series.read_bytes(),
        "Raw/Local/CSV/Empty/2022/05/02/empty.csv": b"",
    }
    assert report.summary["uploaded"] == 3
    assert report.summary["bytes"] == movies.stat().st_size + 300_000
    assert open_uploads(s3, bucket) == []


@pytest.mark.parametrize("checksum", ["crc64nvme", "crc32c", "crc32", "sha256", "none"])
async def test_checksums_are_sent_and_verified(
    s3_endpoint: str, bucket: str, s3: Any, make_file: Callable[..., Path], checksum: str
) -> None:
    """Each checksum algorithm travels with the bytes and the server stores it; 'none' sends none."""
    small = make_file("series.csv", 1000)
    large = make_file("movies.csv", 11 * MiB)
    report = await async_ingest.ingest(
        [small, large], bucket=bucket, endpoint_url=s3_endpoint, date=DAY, checksum=checksum, **SMALL
    )
    assert report.ok, report.failed
    for result in report.files:
        head = s3.head_object(Bucket=bucket, Key=result.key, ChecksumMode="ENABLED")
        stored = {k: v for k, v in head.items() if k.startswith("Checksum") and k != "ChecksumType"}
        if checksum == "none":
            assert result.checksum is None
        else:
            assert result.checksum_algorithm == checksum
            assert stored.get(f"Checksum{checksum.upper()}") is not None
    sha = hashlib.sha256(large.read_bytes()).hexdigest()
    body = s3.get_object(Bucket=bucket, Key="Raw/Local/CSV/Movies/2022/05/02/movies.csv")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == sha


async def test_full_object_crc_matches_local_file(
    s3_endpoint: str, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """A multipart upload's CRC64NVME is the whole file's, whatever the part size."""
    from awscrt import checksums

    data = make_file("movies.csv", 12 * MiB).read_bytes()
    report = await async_ingest.ingest(
        [make_file("movies.csv", content=data)], bucket=bucket, endpoint_url=s3_endpoint, date=DAY, **SMALL
    )
    import base64

    expected = base64.b64encode(checksums.crc64nvme(data).to_bytes(8, "big")).decode()
    assert report.files[0].checksum == expected


async def test_files_upload_concurrently(proxy: FaultProxy, bucket: str, make_file: Callable[..., Path]) -> None:
    """Requests of different files are in flight at the same time: each file's first part is held until all are."""
    release = threading.Event()
    held = proxy.add(Fault(hold_until(release, timeout=20), path="partNumber=1", times=None))
    sources = [make_file(f"f{i}.csv", 11 * MiB) for i in range(3)]
    done: list[Any] = []

    async def run(ingestor: Ingestor) -> None:
        done.append(await ingestor.ingest(sources, date=DAY))

    async with (
        Ingestor(bucket=bucket, endpoint_url=proxy.url, concurrency=6, **SMALL) as ingestor,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(run, ingestor)
        with anyio.fail_after(15):
            await held.wait_async(3)
        assert proxy.in_flight >= 3
        release.set()
    (report,) = done
    assert report.ok
    firsts = {r.path.partition("?")[0] for r in proxy.requests if r.fault is held}
    assert len(firsts) == 3, "the first parts of the three files were not in flight together"


async def test_concurrency_limit_is_shared(proxy: FaultProxy, bucket: str, make_file: Callable[..., Path]) -> None:
    """No more than `concurrency` requests of any kind are in flight, across all files (counted by the proxy)."""
    sources = [make_file(f"f{i}.csv", 16 * MiB) for i in range(3)]
    async with Ingestor(bucket=bucket, endpoint_url=proxy.url, concurrency=2, **SMALL) as ingestor:
        assert (await ingestor.ingest(sources, date=DAY)).ok
    assert len(proxy.requests) > 12
    assert proxy.peak_in_flight == 2


async def test_one_failing_file_does_not_stop_the_others(
    s3_endpoint: str, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """A file that vanished after planning fails on its own; the others land."""
    good = make_file("series.csv", 1000)
    gone = make_file("movies.csv", 1000)
    async with Ingestor(bucket=bucket, endpoint_url=s3_endpoint) as ingestor:
        plan = await ingestor.plan([good, gone], date=DAY)
        gone.unlink()
        report = await ingestor.ingest(plan)
    statuses = {Path(f.source).name: f for f in report.files}
    assert statuses["series.csv"].status is FileStatus.UPLOADED
    assert statuses["movies.csv"].status is FileStatus.FAILED
    assert "movies.csv" in (statuses["movies.csv"].error or "")
    assert not report.ok
    with pytest.raises(async_ingest.IngestFailedError, match="1 of 2 files failed"):
        report.raise_for_failures()
    assert list(objects(s3, bucket)) == ["Raw/Local/CSV/Series/2022/05/02/series.csv"]


async def test_failed_part_aborts_the_multipart_upload(
    s3_endpoint: str, bucket: str, s3: Any, client: Any, make_file: Callable[..., Path]
) -> None:
    """When a part fails, the upload is aborted: no object, no open multipart upload."""

    def fail(name: str, kwargs: dict[str, Any]) -> BaseException | None:
        if name == "upload_part" and kwargs["PartNumber"] == 2:
            return ClientError({"Error": {"Code": "InternalError", "Message": "injected"}}, "UploadPart")
        return None

    source = make_file("movies.csv", 16 * MiB)
    async with Ingestor(bucket=bucket, client=RecordingClient(client, fail=fail), **SMALL) as ingestor:
        report = await ingestor.ingest([source], date=DAY)
    (result,) = report.files
    assert result.status is FileStatus.FAILED
    assert result.error_code == "InternalError"
    assert open_uploads(s3, bucket) == []
    assert objects(s3, bucket) == {}


async def test_file_changed_during_upload_is_not_landed(
    s3_endpoint: str, bucket: str, s3: Any, client: Any, make_file: Callable[..., Path]
) -> None:
    """A file that grows while its parts are sent fails, and nothing is completed."""
    source = make_file("movies.csv", 16 * MiB)
    recorder = RecordingClient(client)

    async def grow(kwargs: dict[str, Any]) -> None:
        if kwargs["PartNumber"] == 2:
            with source.open("ab") as handle:
                handle.write(b"late rows\n")

    recorder.before["upload_part"] = grow
    async with Ingestor(bucket=bucket, client=recorder, **SMALL) as ingestor:
        report = await ingestor.ingest([source], date=DAY)
    (result,) = report.files
    assert result.status is FileStatus.FAILED
    assert "changed while being ingested" in (result.error or "")
    assert open_uploads(s3, bucket) == []
    assert objects(s3, bucket) == {}


async def test_cancellation_aborts_open_uploads(
    s3_endpoint: str, bucket: str, s3: Any, client: Any, make_file: Callable[..., Path]
) -> None:
    """Cancelling ingest() mid-upload propagates and leaves no open upload and no object."""
    recorder = RecordingClient(client)
    started = anyio.Event()

    async def signal_second_part(kwargs: dict[str, Any]) -> None:
        if kwargs["PartNumber"] == 2:
            started.set()

    recorder.before["upload_part"] = signal_second_part
    sources = [make_file("movies.csv", 30 * MiB), make_file("series.csv", 20 * MiB)]
    async with Ingestor(bucket=bucket, client=recorder, concurrency=2, **SMALL) as ingestor:
        with anyio.move_on_after(30) as timeout:
            async with anyio.create_task_group() as tg:
                tg.start_soon(ingestor.ingest, sources)
                await started.wait()
                tg.cancel_scope.cancel()
        assert not timeout.cancelled_caught
    assert open_uploads(s3, bucket) == []
    assert objects(s3, bucket) == {}


async def test_missing_bucket_fails_each_file_clearly(s3_endpoint: str, make_file: Callable[..., Path]) -> None:
    """A bucket that does not exist is named in every file's error."""
    report = await async_ingest.ingest(
        [make_file("series.csv", 10)], bucket="no-such-bucket-here", endpoint_url=s3_endpoint, date=DAY
    )
    (result,) = report.files
    assert result.status is FileStatus.FAILED
    assert result.error_code == "NoSuchBucket"
    assert result.error == "bucket 'no-such-bucket-here' does not exist"


async def test_unreachable_endpoint(make_file: Callable[..., Path]) -> None:
    """An endpoint nobody listens on fails the file with a message naming the endpoint."""
    with anyio.fail_after(60):
        report = await async_ingest.ingest(
            [make_file("series.csv", 10)],
            bucket="lake",
            endpoint_url="http://127.0.0.1:9",
            date=DAY,
            max_attempts=2,
        )
    (result,) = report.files
    assert result.status is FileStatus.FAILED
    assert result.error_code == "EndpointConnectionError"
    assert "127.0.0.1:9" in (result.error or "")


async def test_borrowed_client_stays_open(
    s3_endpoint: str, bucket: str, client: Any, make_file: Callable[..., Path]
) -> None:
    """An Ingestor that borrows the host's client leaves it open and usable."""
    async with Ingestor(bucket=bucket, client=client) as ingestor:
        assert ingestor.client is client
        assert (await ingestor.ingest([make_file("series.csv", 10)], date=DAY)).ok
    listed = await client.list_objects_v2(Bucket=bucket, Prefix="Raw/Local/CSV/")
    assert listed["KeyCount"] == 1


async def test_ingestor_opens_once(bucket: str, client: Any) -> None:
    """Reopening a closed Ingestor is an error, as with httpx clients."""
    ingestor = Ingestor(bucket=bucket, client=client)
    async with ingestor:
        pass
    with pytest.raises(RuntimeError, match="only once"):
        async with ingestor:
            pass


async def test_dry_run_writes_nothing(s3_endpoint: str, bucket: str, s3: Any, make_file: Callable[..., Path]) -> None:
    """A dry run plans every key and sends nothing."""
    report = await async_ingest.ingest(
        [make_file("movies.csv", 10)], bucket=bucket, endpoint_url=s3_endpoint, date=DAY, dry_run=True
    )
    assert [(f.key, f.status) for f in report.files] == [
        ("Raw/Local/CSV/Movies/2022/05/02/movies.csv", FileStatus.PLANNED)
    ]
    assert objects(s3, bucket) == {}


async def test_one_date_per_run(s3_endpoint: str, bucket: str, make_file: Callable[..., Path]) -> None:
    """Every file of a run shares the processing date, taken once (today in the configured zone)."""
    config = IngestConfig(bucket=bucket, endpoint_url=s3_endpoint, timezone="UTC")
    async with Ingestor(config) as ingestor:
        plan = await ingestor.plan([make_file("a.csv", 1), make_file("b.csv", 1)])
    assert plan.date == datetime.datetime.now(datetime.UTC).date()
    assert {
        spec.key.split("/")[4:7] == [f"{plan.date:%Y}", f"{plan.date:%m}", f"{plan.date:%d}"] for spec in plan.uploads
    } == {True}


async def test_report_to_dict(s3_endpoint: str, bucket: str, make_file: Callable[..., Path]) -> None:
    """The report serialises to plain JSON types with every per-file field."""
    import json

    report = await async_ingest.ingest([make_file("movies.csv", 10)], bucket=bucket, endpoint_url=s3_endpoint, date=DAY)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["bucket"] == bucket
    assert data["date"] == "2022-05-02"
    assert data["summary"]["uploaded"] == 1
    (item,) = data["files"]
    assert {"source", "key", "category", "size", "status", "error", "etag", "checksum"} <= set(item)
    assert item["status"] == "uploaded"
    assert item["category"] == "Movies"


@pytest.mark.parametrize("size", [1000, 12 * MiB], ids=["single", "multipart"])
async def test_object_settings(
    s3_endpoint: str, bucket: str, s3: Any, make_file: Callable[..., Path], size: int
) -> None:
    """Content-Type is guessed from the extension; SSE, storage class and metadata are applied."""
    report = await async_ingest.ingest(
        [make_file("movies.csv", size)],
        bucket=bucket,
        endpoint_url=s3_endpoint,
        date=DAY,
        sse="AES256",
        storage_class="STANDARD_IA",
        metadata={"source-system": "catalogue"},
        **SMALL,
    )
    head = s3.head_object(Bucket=bucket, Key=report.files[0].key)
    assert head["ContentType"] == "text/csv"
    assert head["ServerSideEncryption"] == "AES256"
    assert head["StorageClass"] == "STANDARD_IA"
    assert head["Metadata"] == {"source-system": "catalogue"}
