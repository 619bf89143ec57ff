"""The same behaviour against each S3 implementation: moto, and LocalStack's S3 when it runs.

Every test here runs once per server (ids ``moto`` / ``localstack``); the LocalStack half
skips unless ``LOCALSTACK_ENDPOINT`` is set (``../shared/localstack/with-localstack.sh``).
The tests believe AWS's documented behaviour.  Where the servers differ:

- checksums: LocalStack, like AWS, checks every checksum it is sent (a single PUT's, a
  part's, the full-object one on CompleteMultipartUpload) and Content-MD5, and refuses a
  mismatch with 400 ``BadDigest``; moto checks none of them and stores what it is told, so
  a body corrupted on the way lands there (the corruption test believes LocalStack and
  skips on moto).
- an object sent without a checksum: LocalStack, like AWS, then stores a CRC64NVME of its
  own; moto stores none.
- multipart: the CRCs are FULL_OBJECT on both, as asked for; SHA-256 is the checksum of the
  parts' checksums, which LocalStack, like AWS, gives as ``<value>-<parts>`` with ChecksumType
  COMPOSITE, and moto as ``<value>`` alone with no ChecksumType (moto names none for a
  single PUT either).  A re-run still proves identity: it computes the composite from the file.
- a conditional write that loses (``If-None-Match: *``): both answer 412
  ``PreconditionFailed``, on PutObject and on CompleteMultipartUpload.
- moto dates every multipart upload 2010-11-10; LocalStack dates it when it is created.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import logging
import re
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from awscrt import checksums

from async_ingest import FileStatus, Ingestor

from .conftest import DAY, SMALL, MiB, RecordingClient, S3Server, objects, open_uploads
from .faultproxy import Fault, FaultProxy, flip_request_bytes, hold_until, status

pytestmark = [pytest.mark.compat, pytest.mark.anyio]

MOVIES = "Raw/Local/CSV/Movies/2022/05/02/movies.csv"
SERIES = "Raw/Local/CSV/Series/2022/05/02/series.csv"
#: The part size of SMALL, and a file size that makes it three parts (5 + 5 + 1 MiB).
PART = 5 * MiB
SIZES = [pytest.param(1000, id="single"), pytest.param(11 * MiB, id="multipart")]


@pytest.fixture
def s3_endpoint(s3_server: S3Server) -> str:
    """Every fixture here (s3, client, bucket, proxy) talks to the server under test."""
    return s3_server.url


def crc(name: str, data: bytes) -> str:
    """S3's wire form of a checksum of *data*, computed here independently of async_ingest."""
    if name == "sha256":
        return base64.b64encode(hashlib.sha256(data).digest()).decode()
    compute, width = {
        "crc64nvme": (checksums.crc64nvme, 8),
        "crc32c": (checksums.crc32c, 4),
        "crc32": (zlib.crc32, 4),
    }[name]
    return base64.b64encode(compute(data).to_bytes(width, "big")).decode()


def expected_checksum(name: str, data: bytes) -> tuple[str, str]:
    """The checksum S3 should store for *data* sent by async_ingest in SMALL's layout, and its type."""
    if len(data) <= PART or name != "sha256":
        return crc(name, data), "FULL_OBJECT"
    parts = [data[i : i + PART] for i in range(0, len(data), PART)]
    joined = b"".join(base64.b64decode(crc(name, part)) for part in parts)
    return f"{crc(name, joined)}-{len(parts)}", "COMPOSITE"


@pytest.mark.parametrize("checksum", ["crc64nvme", "crc32c", "crc32", "sha256", "none"])
@pytest.mark.parametrize("size", SIZES)
async def test_checksum_is_stored_as_sent(
    s3_server: S3Server, bucket: str, s3: Any, make_file: Callable[..., Path], checksum: str, size: int
) -> None:
    """Each checksum kind lands the exact bytes, and the server stores (and reads back) that checksum."""
    source = make_file("movies.csv", size)
    settings: dict[str, Any] = {"checksum": checksum, "max_attempts": 1, "manifest": False, **SMALL}
    async with Ingestor(bucket=bucket, endpoint_url=s3_server.url, **settings) as ingestor:
        report = await ingestor.ingest([source], date=DAY)
    (result,) = report.files
    assert result.status is FileStatus.UPLOADED, result.error
    data = source.read_bytes()
    assert objects(s3, bucket) == {MOVIES: data}
    head = s3.head_object(Bucket=bucket, Key=MOVIES, ChecksumMode="ENABLED")
    if checksum == "none":
        assert result.checksum is None
        # AWS stores a CRC64NVME of its own for an object sent without a checksum; LocalStack does, moto not.
        stored = {name: value for name, value in head.items() if name.startswith("Checksum") and name != "ChecksumType"}
        assert stored == ({"ChecksumCRC64NVME": crc("crc64nvme", data)} if s3_server.name == "localstack" else {})
        return
    value, kind = expected_checksum(checksum, data)
    assert result.checksum == value
    answered = head[f"Checksum{checksum.upper()}"]
    if s3_server.name == "moto" and kind == "COMPOSITE":
        # moto leaves out the -<parts> suffix and the ChecksumType that AWS and LocalStack give.
        assert (answered, head.get("ChecksumType")) == (value.rpartition("-")[0], None)
    else:
        assert answered == value
        assert head.get("ChecksumType", "FULL_OBJECT") == kind  # (moto names no type for a single PUT)


@pytest.mark.parametrize("size", SIZES)
async def test_corrupted_body_is_refused(
    s3_server: S3Server, bucket: str, s3: Any, proxy: FaultProxy, make_file: Callable[..., Path], size: int
) -> None:
    """A byte flipped on the way is refused by the server's checksum check: the file fails, nothing stays."""
    if s3_server.name == "moto":
        pytest.skip("moto does not check the checksums it is sent")
    flipped = proxy.add(Fault(flip_request_bytes(), method="PUT", times=1))
    async with Ingestor(bucket=bucket, endpoint_url=proxy.url, max_attempts=1, manifest=False, **SMALL) as ingestor:
        report = await ingestor.ingest([make_file("movies.csv", size)], date=DAY)
    (result,) = report.files
    assert flipped.applied == 1
    assert result.status is FileStatus.FAILED
    assert result.error_code == "BadDigest"
    assert "do not match their checksum; nothing was stored" in (result.error or "")
    assert objects(s3, bucket) == {}
    assert open_uploads(s3, bucket) == []


@pytest.mark.parametrize("size", SIZES)
async def test_conditional_write_keeps_the_other_object(
    bucket: str, s3: Any, client: Any, make_file: Callable[..., Path], size: int
) -> None:
    """--if-exists fail sends If-None-Match: *: a new key lands, one that appears meanwhile is kept and fails."""
    recorder = RecordingClient(client)

    async def other_writer(kwargs: dict[str, Any]) -> None:
        assert kwargs["IfNoneMatch"] == "*"
        if kwargs["Key"] == MOVIES:
            s3.put_object(Bucket=bucket, Key=MOVIES, Body=b"the other run's")

    recorder.before["put_object" if size <= PART else "complete_multipart_upload"] = other_writer
    series = make_file("series.csv", size)
    async with Ingestor(bucket=bucket, client=recorder, if_exists="fail", manifest=False, **SMALL) as ingestor:
        report = await ingestor.ingest([make_file("movies.csv", size), series], date=DAY)
    lost, won = report.files
    assert lost.status is FileStatus.FAILED
    assert lost.error_code == "PreconditionFailed"
    assert won.status is FileStatus.UPLOADED, won.error
    assert objects(s3, bucket) == {MOVIES: b"the other run's", SERIES: series.read_bytes()}
    assert open_uploads(s3, bucket) == []


@pytest.mark.parametrize("checksum", ["crc64nvme", "crc32c", "crc32", "sha256"])
@pytest.mark.parametrize("size", SIZES)
async def test_rerun_skips_identical_content(
    bucket: str, client: Any, make_file: Callable[..., Path], checksum: str, size: int
) -> None:
    """A re-run proves identity from the stored checksum, composite ones included, and sends no bytes."""
    source = make_file("movies.csv", size)
    settings: dict[str, Any] = {"checksum": checksum, "manifest": False, **SMALL}
    async with Ingestor(bucket=bucket, client=client, **settings) as ingestor:
        first = await ingestor.ingest([source], date=DAY)
    recorder = RecordingClient(client)
    async with Ingestor(bucket=bucket, client=recorder, **settings) as ingestor:
        second = await ingestor.ingest([source], date=DAY)
    assert first.files[0].status is FileStatus.UPLOADED
    sent = [name for name, *_ in recorder.calls if name in {"put_object", "upload_part"}]
    assert second.files[0].status is FileStatus.SKIPPED
    assert second.files[0].checksum == first.files[0].checksum
    assert sent == []


async def test_manifest_and_success_markers(bucket: str, s3: Any, client: Any, make_file: Callable[..., Path]) -> None:
    """The run manifest and each complete partition's _SUCCESS land; a re-run with the markers there still passes."""
    movies = make_file("movies.csv", 11 * MiB)
    series = make_file("series.csv", 3000)
    for expected in ("uploaded", "skipped"):
        async with Ingestor(bucket=bucket, client=client, success_marker=True, **SMALL) as ingestor:
            report = await ingestor.ingest([movies, series], date=DAY)
        assert report.ok, [f.error for f in report.files]
        assert report.manifest_key is not None
        manifest = json.loads(s3.get_object(Bucket=bucket, Key=report.manifest_key)["Body"].read())
        assert [(f["key"], f["size"], f["status"]) for f in manifest["files"]] == [
            (MOVIES, 11 * MiB, expected),
            (SERIES, 3000, expected),
        ]
    landed = objects(s3, bucket)
    assert landed == {
        MOVIES: movies.read_bytes(),
        "Raw/Local/CSV/Movies/2022/05/02/_SUCCESS": b"",
        SERIES: series.read_bytes(),
        "Raw/Local/CSV/Series/2022/05/02/_SUCCESS": b"",
    }
    assert len(objects(s3, bucket, manifests=True)) == len(landed) + 2


async def test_shards_racing_for_the_markers_leave_one_writer_each(
    bucket: str, s3: Any, proxy: FaultProxy, make_file: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    """Two shards that both see the set complete both try each marker; If-None-Match: * lets one create it."""
    sources = [f"Movies={make_file('movies.csv', 1000)}", f"Series={make_file('series.csv', 2000)}"]
    sources += [f"Movies={make_file(f'movies-{n}.csv', 10 + n)}" for n in range(6)]
    release = threading.Event()
    # Each shard's LIST of the run's manifests waits until both have written theirs: both then see the set.
    listing = proxy.add(
        Fault(hold_until(release, timeout=30), method="GET", path=re.compile(r"list-type=2.*shard-"), times=2)
    )

    async def shard(index: int) -> None:
        async with Ingestor(
            bucket=bucket, endpoint_url=proxy.url, shard=(index, 2), run_id="race", success_marker=True, **SMALL
        ) as ingestor:
            report = await ingestor.ingest(sources, date=DAY)
        assert report.ok, [f.error for f in report.files]
        assert report.errors == ()

    caplog.set_level(logging.INFO, logger="async_ingest")
    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(shard, 0)
            tg.start_soon(shard, 1)
            await listing.wait_async(2)
            release.set()
    markers = sorted(key for key in objects(s3, bucket) if key.endswith("/_SUCCESS"))
    assert markers == ["Raw/Local/CSV/Movies/2022/05/02/_SUCCESS", "Raw/Local/CSV/Series/2022/05/02/_SUCCESS"]
    puts = [r for r in proxy.requests if r.method == "PUT" and r.path.split("?")[0].endswith("/_SUCCESS")]
    assert len(puts) == 4  # both shards tried both markers
    assert len([r for r in caplog.records if r.getMessage().startswith("run race: wrote marker")]) == 2


@pytest.mark.parametrize("size", SIZES)
async def test_sse_aes256(bucket: str, s3: Any, client: Any, make_file: Callable[..., Path], size: int) -> None:
    """sse='AES256' asks for server-side encryption, and the server reports the object encrypted."""
    source = make_file("movies.csv", size)
    async with Ingestor(bucket=bucket, client=client, sse="AES256", manifest=False, **SMALL) as ingestor:
        report = await ingestor.ingest([source], date=DAY)
    assert report.ok, report.files[0].error
    assert s3.head_object(Bucket=bucket, Key=MOVIES)["ServerSideEncryption"] == "AES256"
    assert objects(s3, bucket) == {MOVIES: source.read_bytes()}


async def test_failed_multipart_upload_is_aborted(
    bucket: str, s3: Any, proxy: FaultProxy, make_file: Callable[..., Path]
) -> None:
    """A part the server refuses fails the file, and its multipart upload is aborted, not left billed."""
    refused = proxy.add(Fault(status(500, "InternalError", "We encountered an internal error."), path="partNumber=2"))
    async with Ingestor(bucket=bucket, endpoint_url=proxy.url, max_attempts=1, manifest=False, **SMALL) as ingestor:
        report = await ingestor.ingest([make_file("movies.csv", 11 * MiB)], date=DAY)
    (result,) = report.files
    assert refused.applied == 1
    assert result.status is FileStatus.FAILED
    assert result.error_code == "InternalError"
    assert [r.method for r in proxy.requests].count("DELETE") == 1
    assert open_uploads(s3, bucket) == []
    assert objects(s3, bucket) == {}


async def test_sweep_stale_uploads(bucket: str, s3: Any, client: Any) -> None:
    """Stale uploads under a prefix are listed in a dry run, then aborted; others are left alone."""
    for key in ("Raw/Local/a.csv", "Raw/Local/b.csv", "Other/c.csv"):
        s3.create_multipart_upload(Bucket=bucket, Key=key)
    async with Ingestor(bucket=bucket, client=client) as ingestor:
        listed = await ingestor.abort_stale_uploads(prefix="Raw/", older_than=datetime.timedelta(0), dry_run=True)
        assert sorted(u.key for u in listed) == ["Raw/Local/a.csv", "Raw/Local/b.csv"]
        assert not any(u.aborted for u in listed)
        assert len(open_uploads(s3, bucket)) == 3
        # (moto dates every upload 2010-11-10, so "younger" needs a cut-off further back than that)
        assert await ingestor.abort_stale_uploads(prefix="Raw/", older_than=datetime.timedelta(days=365 * 100)) == ()
        swept = await ingestor.abort_stale_uploads(prefix="Raw/", older_than=datetime.timedelta(0))
    assert sorted((u.key, u.aborted, u.error) for u in swept) == [
        ("Raw/Local/a.csv", True, None),
        ("Raw/Local/b.csv", True, None),
    ]
    assert [u["Key"] for u in open_uploads(s3, bucket)] == ["Other/c.csv"]
