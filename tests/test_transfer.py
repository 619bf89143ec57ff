"""One file's transfer over HTTP: what S3 or the file does in the middle of it, and what the run reports."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import async_ingest
from async_ingest import FileStatus, Ingestor, SourceChangedError
from async_ingest._plan import UploadSpec
from async_ingest._source import read_part

from .conftest import DAY, SMALL, MiB, RecordingClient, objects, open_uploads, run_cli
from .faultproxy import Fault, FaultProxy, answer_after_forwarding, hold_until, status

#: An abort that S3 carried out but whose answer was lost: the client's retry gets NoSuchUpload.
LOST_ANSWER = status(500, "InternalError", "We encountered an internal error.")


def test_changed_file_error_names_its_path_once(
    proxy: FaultProxy, bucket: str, s3: Any, tmp_path: Path, make_file: Callable[..., Path]
) -> None:
    """A file that grows while its parts are in flight fails with one error line naming its path once."""
    source = make_file("d/f.csv", 11 * MiB)
    release = threading.Event()
    held = proxy.add(Fault(hold_until(release, timeout=60), path="partNumber=1"))
    process = subprocess.Popen(
        [sys.executable, "-m", "async_ingest", "--bucket", bucket, "--part-size", "5MiB", "d/f.csv"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "AWS_ENDPOINT_URL": proxy.url},
    )
    try:
        assert held.wait(timeout=60), "no part was sent"
        with source.open("ab") as stream:
            stream.write(b"late rows\n")
    finally:
        release.set()
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("async-ingest: error:")]
    assert len(errors) == 1, stderr
    assert errors[0].startswith("async-ingest: error: d/f.csv: changed while being ingested"), errors
    assert errors[0].count("d/f.csv") == 1, errors
    assert open_uploads(s3, bucket) == []


@pytest.mark.anyio
async def test_abort_retried_into_no_such_upload_is_done(
    proxy: FaultProxy, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """A part fails and the abort's retry hears NoSuchUpload: the upload is gone, so no abort failure is reported."""
    proxy.add(Fault(status(400, "InvalidArgument", "refused"), method="PUT", path="partNumber=2", times=None))
    lost = proxy.add(Fault(answer_after_forwarding(LOST_ANSWER), method="DELETE", path="uploadId="))
    report = await async_ingest.ingest(
        [make_file("movies.csv", 12 * MiB)], bucket=bucket, endpoint_url=proxy.url, date=DAY, manifest=False, **SMALL
    )
    (result,) = report.files
    assert result.status is FileStatus.FAILED
    assert result.error_code == "InvalidArgument"
    assert "abort" not in (result.error or "")
    assert lost.applied == 1
    assert [r.method for r in proxy.requests].count("DELETE") == 2
    assert open_uploads(s3, bucket) == []


def test_sweep_retried_into_no_such_upload_is_done(proxy: FaultProxy, bucket: str, s3: Any) -> None:
    """--abort-stale-uploads whose abort is retried into NoSuchUpload reports it aborted and exits 0."""
    upload = s3.create_multipart_upload(Bucket=bucket, Key="Raw/Local/a.csv")["UploadId"]
    lost = proxy.add(Fault(answer_after_forwarding(LOST_ANSWER), method="DELETE", path="uploadId="))
    done = run_cli(
        "--bucket", bucket, "--abort-stale-uploads", "--older-than", "0s", env={"AWS_ENDPOINT_URL": proxy.url}
    )
    assert done.returncode == 0, done.stderr
    assert f"Raw/Local/a.csv  {upload}  aborted" in done.stdout
    assert "failed" not in done.stdout + done.stderr
    assert lost.applied == 1
    assert open_uploads(s3, bucket) == []


@pytest.mark.anyio
async def test_writer_that_may_not_read_lands_a_multipart_file(
    proxy: FaultProxy, bucket: str, s3: Any, make_file: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    """Where HEAD is forbidden, a completed multipart upload is uploaded, checked by the completion's checksum."""
    forbidden = proxy.add(Fault(status(403, "AccessDenied", "Access Denied"), method="HEAD", times=None))
    source = make_file("movies.csv", 12 * MiB)
    with caplog.at_level(logging.DEBUG, logger="async_ingest"):
        report = await async_ingest.ingest(
            [source], bucket=bucket, endpoint_url=proxy.url, date=DAY, manifest=False, **SMALL
        )
    (result,) = report.files
    assert result.status is FileStatus.UPLOADED, result.error
    assert forbidden.applied == 2  # the existence check, then the read-back
    stored = s3.head_object(Bucket=bucket, Key=result.key, ChecksumMode="ENABLED")
    assert stored["ChecksumCRC64NVME"] == result.checksum
    assert s3.get_object(Bucket=bucket, Key=result.key)["Body"].read() == source.read_bytes()
    assert any("may not read" in r.getMessage() and "back" in r.getMessage() for r in caplog.records)


def test_file_longer_than_its_size_is_not_truncated(endpoint_env: dict[str, str], bucket: str, s3: Any) -> None:
    """A file whose stat says 0 bytes but that reads content (/proc) fails as changed; no empty object lands."""
    done = run_cli("--bucket", bucket, "--format", "TXT", "/proc/self/status", env=endpoint_env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "async-ingest: error: /proc/self/status: changed while being ingested: it holds more" in done.stderr
    assert done.stderr.count("/proc/self/status") == 1, done.stderr
    assert objects(s3, bucket) == {}


@pytest.mark.parametrize("multipart", [False, True], ids=["single", "multipart"])
def test_reading_past_the_planned_size_finds_the_end(tmp_path: Path, multipart: bool) -> None:
    """Bytes after the planned size (appended once the file was planned) fail the read of the last part."""
    path = tmp_path / "f.csv"
    path.write_bytes(b"x" * 100)
    st = path.stat()
    spec = UploadSpec(
        source=path,
        key="k",
        category="c",
        size=st.st_size,
        mtime_ns=st.st_mtime_ns,
        inode=st.st_ino,
        part_size=40 if multipart else 100,
        part_count=3 if multipart else 1,
        multipart=multipart,
    )
    fd = os.open(path, os.O_RDONLY)
    try:
        assert read_part(fd, spec, 1, bytearray(100), None, False)[0].tobytes() == b"x" * spec.part_range(1)[1]
        with path.open("ab") as stream:
            stream.write(b"more")
        if multipart:
            assert read_part(fd, spec, 2, bytearray(40), None, False)[0].tobytes() == b"x" * 40
        with pytest.raises(SourceChangedError, match="holds more than the 100 bytes planned"):
            read_part(fd, spec, spec.part_count, bytearray(100), None, False)
    finally:
        os.close(fd)


@pytest.mark.anyio
@pytest.mark.parametrize("checksum", ["sha256", "crc64nvme"])
async def test_rerun_compares_a_multipart_checksum_for_what_it_is(
    bucket: str, s3: Any, client: Any, make_file: Callable[..., Path], checksum: str
) -> None:
    """A multipart file under a composite (SHA-256) or full-object checksum is skipped on a re-run, whatever
    part size the re-run would use; a same-size edit is uploaded again."""
    source = make_file("movies.csv", 12 * MiB)
    settings = {"bucket": bucket, "checksum": checksum, "manifest": False, **SMALL}
    async with Ingestor(client=client, **settings) as ingestor:
        first = await ingestor.ingest([source], date=DAY)
    recorder = RecordingClient(client)
    # (the stored object's part layout counts, not the part size this run would use)
    async with Ingestor(client=recorder, **{**settings, "part_size": 6 * MiB}) as ingestor:
        again = await ingestor.ingest([source], date=DAY)
    assert again.files[0].status is FileStatus.SKIPPED, again.files[0]
    assert again.files[0].checksum == first.files[0].checksum
    assert [name for name, *_ in recorder.calls if name in {"put_object", "upload_part"}] == []
    edited = bytearray(source.read_bytes())
    edited[7 * MiB] ^= 0xFF
    stat = source.stat()
    source.write_bytes(bytes(edited))
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    async with Ingestor(client=client, **settings) as ingestor:
        changed = await ingestor.ingest([source], date=DAY)
    assert changed.files[0].status is FileStatus.UPLOADED
    assert objects(s3, bucket)[changed.files[0].key] == bytes(edited)
