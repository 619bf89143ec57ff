"""Faults injected by an HTTP proxy between the client and the test server: retries, aborts, cancellation."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

import async_ingest
from async_ingest import FileStatus, Ingestor

from . import conftest
from .conftest import DAY, MiB, objects, open_uploads
from .faultproxy import Fault, FaultProxy, hold_until, reset_mid_body, status

pytestmark = pytest.mark.anyio

SMALL = {**conftest.SMALL, "manifest": False}
MOVIES = "Raw/Local/CSV/Movies/2022/05/02/movies.csv"


async def test_slowdown_is_retried(proxy: FaultProxy, bucket: str, s3: Any, make_file: Callable[..., Path]) -> None:
    """503 SlowDown on a part and on a PUT is retried with backoff, and the files land byte-exact."""
    slow_part = proxy.add(
        Fault(status(503, "SlowDown", "Please reduce your request rate."), path="partNumber=2", times=2)
    )
    slow_put = proxy.add(
        Fault(
            status(500, "InternalError", "We encountered an internal error."), method="PUT", path="series.csv", times=1
        )
    )
    movies, series = make_file("movies.csv", 12 * MiB), make_file("series.csv", 1000)
    report = await async_ingest.ingest([movies, series], bucket=bucket, endpoint_url=proxy.url, date=DAY, **SMALL)
    assert report.ok, report.failed
    assert (slow_part.applied, slow_put.applied) == (2, 1)
    landed = objects(s3, bucket)
    assert landed[MOVIES] == movies.read_bytes()
    assert landed["Raw/Local/CSV/Series/2022/05/02/series.csv"] == series.read_bytes()


async def test_connection_reset_is_retried(
    proxy: FaultProxy, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """A connection reset mid-body is retried and the part is sent again whole."""
    reset = proxy.add(Fault(reset_mid_body(), path="partNumber=1", times=3))
    movies = make_file("movies.csv", 12 * MiB)
    report = await async_ingest.ingest([movies], bucket=bucket, endpoint_url=proxy.url, date=DAY, **SMALL)
    assert report.ok, report.failed
    assert reset.applied == 3
    assert objects(s3, bucket)[MOVIES] == movies.read_bytes()


async def test_small_file_is_sent_at_once_and_resent_whole(
    proxy: FaultProxy, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """A small file's PUT carries its body without waiting for 100 Continue; reset mid-body, it is sent again whole."""
    reset = proxy.add(Fault(reset_mid_body(), method="PUT", path="events.json", times=1))
    events = make_file("events.json", 64 * 1024)
    report = await async_ingest.ingest([events], bucket=bucket, endpoint_url=proxy.url, date=DAY, **SMALL)
    assert report.ok, report.failed
    assert reset.applied == 1
    puts = [r for r in proxy.requests if r.method == "PUT"]
    assert len(puts) == 2  # the first was cut mid-body
    assert puts[-1].body_length == 64 * 1024
    assert [r.headers.get("expect") for r in puts] == [None, None]
    assert objects(s3, bucket)["Raw/Local/JSON/Events/2022/05/02/events.json"] == events.read_bytes()


async def test_persistent_reset_fails_one_file_and_aborts(
    proxy: FaultProxy, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """A part that never gets through fails its file after bounded attempts; the upload is aborted, others land."""
    proxy.add(Fault(reset_mid_body(), path=r"movies.csv?uploadId", times=None, method="PUT"))
    movies, series = make_file("movies.csv", 12 * MiB), make_file("series.csv", 1000)
    report = await async_ingest.ingest(
        [movies, series], bucket=bucket, endpoint_url=proxy.url, date=DAY, max_attempts=2, **SMALL
    )
    by_name = {Path(f.source).name: f for f in report.files}
    assert by_name["movies.csv"].status is FileStatus.FAILED
    assert by_name["series.csv"].status is FileStatus.UPLOADED
    assert open_uploads(s3, bucket) == []
    assert list(objects(s3, bucket)) == ["Raw/Local/CSV/Series/2022/05/02/series.csv"]


@pytest.mark.parametrize(
    ("code", "s3_code", "message"),
    [
        pytest.param(403, "AccessDenied", "access denied to s3://", id="no-permission"),
        pytest.param(301, "PermanentRedirect", "is in another region", id="other-region"),
        pytest.param(403, "InvalidAccessKeyId", "access key id is not known", id="bad-key"),
        pytest.param(403, "SignatureDoesNotMatch", "check the secret access key", id="bad-secret"),
    ],
)
async def test_permanent_errors_fail_fast(
    proxy: FaultProxy, bucket: str, make_file: Callable[..., Path], code: int, s3_code: str, message: str
) -> None:
    """Permanent errors are not retried and say what to check."""
    # Like S3, a redirect names the bucket's region.
    fault = proxy.add(Fault(status(code, s3_code, "refused", headers={"x-amz-bucket-region": "eu-west-1"}), times=None))
    report = await async_ingest.ingest(
        [make_file("movies.csv", 10)], bucket=bucket, endpoint_url=proxy.url, date=DAY, if_exists="overwrite", **SMALL
    )
    (result,) = report.files
    assert result.status is FileStatus.FAILED
    assert result.error_code == s3_code
    assert message in (result.error or "")
    assert fault.applied == (2 if code == 301 else 1)  # not retried (a redirect is followed once, to the region)


async def test_tampered_part_is_caught(proxy: FaultProxy, bucket: str, s3: Any, make_file: Callable[..., Path]) -> None:
    """Bytes flipped in transit make the assembled object's checksum differ: the file fails and nothing stays."""
    from .faultproxy import flip_request_bytes

    proxy.add(Fault(flip_request_bytes(), path="partNumber=2", times=None))
    report = await async_ingest.ingest(
        [make_file("movies.csv", 12 * MiB)], bucket=bucket, endpoint_url=proxy.url, date=DAY, **SMALL
    )
    (result,) = report.files
    assert result.status is FileStatus.FAILED
    assert result.error_code == "ChecksumMismatchError"
    assert objects(s3, bucket) == {}


async def test_cancel_while_a_part_is_in_flight(
    proxy: FaultProxy, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """Cancelled during a held part, the run returns without waiting for it, and aborts the upload."""
    release = threading.Event()
    held = proxy.add(Fault(hold_until(release, timeout=60), path="partNumber=2", times=None))
    sources = [make_file("movies.csv", 16 * MiB), make_file("series.csv", 12 * MiB)]
    async with Ingestor(bucket=bucket, endpoint_url=proxy.url, **SMALL) as ingestor:
        async with anyio.create_task_group() as tg:
            tg.start_soon(ingestor.ingest, sources)
            with anyio.fail_after(30):
                await proxy.wait_received_async(held)
            tg.cancel_scope.cancel()
        assert proxy.in_flight >= 1, "the run waited for the held part to be answered"
    release.set()
    assert open_uploads(s3, bucket) == []
    assert objects(s3, bucket) == {}


async def test_cancel_while_creating_the_upload(
    proxy: FaultProxy, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """An upload whose creation was in flight when cancelled is still learnt and aborted."""
    release = threading.Event()
    held = proxy.add(Fault(hold_until(release, timeout=20), method="POST", path="?uploads", times=None))
    source = make_file("movies.csv", 12 * MiB)
    async with Ingestor(bucket=bucket, endpoint_url=proxy.url, **SMALL) as ingestor, anyio.create_task_group() as tg:
        tg.start_soon(ingestor.ingest, [source])
        with anyio.fail_after(30):
            await held.wait_async()
        tg.cancel_scope.cancel()
        release.set()
    assert open_uploads(s3, bucket) == []
    assert objects(s3, bucket) == {}


@pytest.mark.parametrize(
    ("method", "path", "size", "lands"),
    [
        pytest.param("PUT", "series.csv", 1000, True, id="single-put"),
        pytest.param("POST", "uploadId=", 12 * MiB, False, id="complete"),
    ],
)
async def test_cancel_at_other_points(
    proxy: FaultProxy,
    bucket: str,
    s3: Any,
    make_file: Callable[..., Path],
    method: str,
    path: str,
    size: int,
    lands: bool,
) -> None:
    """Cancelled while a single PUT or the completion is held: the run returns without it, no open upload.

    A request whose body had fully left the client is still carried out once released (this proxy,
    like a load balancer, forwards it anyway): a single PUT then lands whole and byte-exact; a
    completion finds the upload already aborted, so nothing lands.
    """
    release = threading.Event()
    held = proxy.add(Fault(hold_until(release, timeout=60), method=method, path=path, times=None))
    source = make_file("series.csv", size)
    async with Ingestor(bucket=bucket, endpoint_url=proxy.url, **SMALL) as ingestor, anyio.create_task_group() as tg:
        tg.start_soon(functools.partial(ingestor.ingest, [source], date=DAY))
        with anyio.fail_after(30):
            await proxy.wait_received_async(held)
        tg.cancel_scope.cancel()
    assert proxy.in_flight >= 1, "the run waited for the held request to be answered"
    release.set()
    with anyio.fail_after(30):
        await proxy.wait_idle_async()  # the released request has been answered by the server
    assert open_uploads(s3, bucket) == []
    expected = {"Raw/Local/CSV/Series/2022/05/02/series.csv": source.read_bytes()} if lands else {}
    assert objects(s3, bucket) == expected
