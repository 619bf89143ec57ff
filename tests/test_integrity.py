"""Integrity and idempotency over HTTP: re-runs, same-size edits, conditional writes, manifests."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

import async_ingest
from async_ingest import FileStatus, Ingestor

from .conftest import DAY, SMALL, MiB, RecordingClient, objects, open_uploads, run_cli

pytestmark = pytest.mark.anyio

MOVIES = "Raw/Local/CSV/Movies/2022/05/02/movies.csv"


def sent_bytes(recorder: RecordingClient) -> list[str]:
    """The calls that carried file bytes."""
    return [name for name, *_ in recorder.calls if name in {"put_object", "upload_part"}]


@pytest.mark.parametrize("size", [1000, 12 * MiB], ids=["single", "multipart"])
async def test_rerun_skips_identical_content(
    bucket: str, client: Any, make_file: Callable[..., Path], size: int
) -> None:
    """A second run over unchanged files skips them without sending their bytes."""
    source = make_file("movies.csv", size)
    async with Ingestor(bucket=bucket, client=client, manifest=False, **SMALL) as ingestor:
        first = await ingestor.ingest([source], date=DAY)
    recorder = RecordingClient(client)
    async with Ingestor(bucket=bucket, client=recorder, manifest=False, **SMALL) as ingestor:
        second = await ingestor.ingest([source], date=DAY)
    assert first.files[0].status is FileStatus.UPLOADED
    assert second.files[0].status is FileStatus.SKIPPED
    assert second.files[0].checksum == first.files[0].checksum
    assert sent_bytes(recorder) == []
    assert second.ok


@pytest.mark.parametrize("size", [1000, 12 * MiB], ids=["single", "multipart"])
async def test_same_size_edit_is_uploaded(
    bucket: str, s3: Any, client: Any, make_file: Callable[..., Path], size: int
) -> None:
    """Identity is the content checksum, not size or mtime: a same-size edit uploads again."""
    source = make_file("movies.csv", size)
    async with Ingestor(bucket=bucket, client=client, **SMALL) as ingestor:
        await ingestor.ingest([source], date=DAY)
    edited = bytearray(source.read_bytes())
    edited[size // 2] ^= 0xFF
    stat = source.stat()
    source.write_bytes(bytes(edited))
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same mtime
    async with Ingestor(bucket=bucket, client=client, **SMALL) as ingestor:
        report = await ingestor.ingest([source], date=DAY)
    assert report.files[0].status is FileStatus.UPLOADED
    assert objects(s3, bucket)[MOVIES] == bytes(edited)


async def test_one_listing_spares_a_head_per_new_file(bucket: str, client: Any, make_file: Callable[..., Path]) -> None:
    """Existence is checked with one listing per partition; only keys already there get a HEAD."""
    old = [make_file(f"old{i}.csv", 100) for i in range(3)]
    new = [make_file(f"new{i}.csv", 100) for i in range(4)]
    async with Ingestor(bucket=bucket, client=client, manifest=False, category_from_parent=True) as ingestor:
        await ingestor.ingest(old, date=DAY)
    recorder = RecordingClient(client)
    async with Ingestor(bucket=bucket, client=recorder, manifest=False, category_from_parent=True) as ingestor:
        report = await ingestor.ingest(old + new, date=DAY)
    heads = sorted(key.rpartition("/")[2] for name, key, *_ in recorder.calls if name == "head_object")
    assert heads == ["old0.csv", "old1.csv", "old2.csv"]
    assert [f.status.value for f in report.files] == ["skipped"] * 3 + ["uploaded"] * 4


async def test_object_without_checksum_is_replaced(
    bucket: str, s3: Any, make_file: Callable[..., Path], client: Any
) -> None:
    """An object written by another tool without a checksum cannot be proven identical, so it is uploaded."""
    source = make_file("movies.csv", 1000)
    s3.put_object(Bucket=bucket, Key=MOVIES, Body=source.read_bytes())
    async with Ingestor(bucket=bucket, client=client) as ingestor:
        report = await ingestor.ingest([source], date=DAY)
    assert report.files[0].status is FileStatus.UPLOADED


async def test_overwrite_always_uploads(bucket: str, client: Any, make_file: Callable[..., Path]) -> None:
    """--if-exists overwrite sends the bytes even when they are already there."""
    source = make_file("movies.csv", 1000)
    for _ in range(2):
        recorder = RecordingClient(client)
        async with Ingestor(bucket=bucket, client=recorder, if_exists="overwrite", manifest=False) as ingestor:
            report = await ingestor.ingest([source], date=DAY)
        assert report.files[0].status is FileStatus.UPLOADED
        assert sent_bytes(recorder) == ["put_object"]


@pytest.mark.parametrize("size", [1000, 12 * MiB], ids=["single", "multipart"])
async def test_fail_keeps_existing_object(
    bucket: str, s3: Any, client: Any, make_file: Callable[..., Path], size: int
) -> None:
    """--if-exists fail never replaces an object: the file fails and the old bytes stay."""
    s3.put_object(Bucket=bucket, Key=MOVIES, Body=b"old")
    async with Ingestor(bucket=bucket, client=client, if_exists="fail", **SMALL) as ingestor:
        report = await ingestor.ingest([make_file("movies.csv", size)], date=DAY)
    (result,) = report.files
    assert result.status is FileStatus.FAILED
    assert "already exists" in (result.error or "")
    assert objects(s3, bucket)[MOVIES] == b"old"


@pytest.mark.parametrize("size", [1000, 12 * MiB], ids=["single", "multipart"])
async def test_fail_uses_a_conditional_write(
    bucket: str, s3: Any, client: Any, make_file: Callable[..., Path], size: int
) -> None:
    """An object that appears after the existence check is still not clobbered (If-None-Match: *)."""
    recorder = RecordingClient(client)

    async def other_writer(kwargs: dict[str, Any]) -> None:
        s3.put_object(Bucket=bucket, Key=MOVIES, Body=b"the other run's")

    recorder.before["put_object" if size < 5 * MiB else "complete_multipart_upload"] = other_writer
    async with Ingestor(bucket=bucket, client=recorder, if_exists="fail", **SMALL) as ingestor:
        report = await ingestor.ingest([make_file("movies.csv", size)], date=DAY)
    (result,) = report.files
    assert result.status is FileStatus.FAILED
    assert result.error_code == "PreconditionFailed"
    assert objects(s3, bucket)[MOVIES] == b"the other run's"
    assert open_uploads(s3, bucket) == []


async def test_two_runs_at_once_end_correct(
    s3_endpoint: str, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """Two identical runs started together both succeed honestly and leave byte-exact objects."""
    sources = [make_file("movies.csv", 12 * MiB), make_file("series.csv", 3000)]
    reports: list[async_ingest.IngestReport] = []

    async def run() -> None:
        reports.append(await async_ingest.ingest(sources, bucket=bucket, endpoint_url=s3_endpoint, date=DAY, **SMALL))

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        tg.start_soon(run)
    assert all(report.ok for report in reports)
    for report in reports:
        assert {f.status for f in report.files} <= {FileStatus.UPLOADED, FileStatus.SKIPPED}
    landed = objects(s3, bucket)
    assert landed[MOVIES] == sources[0].read_bytes()
    assert landed["Raw/Local/CSV/Series/2022/05/02/series.csv"] == sources[1].read_bytes()
    assert len(objects(s3, bucket, manifests=True)) == 4  # two files, two manifests
    assert open_uploads(s3, bucket) == []


@pytest.mark.parametrize("size", [1000, 12 * MiB], ids=["single", "multipart"])
async def test_wrong_checksum_answer_fails_and_removes(
    bucket: str, s3: Any, client: Any, make_file: Callable[..., Path], size: int
) -> None:
    """An endpoint reporting a checksum other than the file's makes the file failed, never uploaded."""

    class Lying(RecordingClient):
        def __getattr__(self, name: str) -> Any:
            method = getattr(self._client, name)
            if name not in {"put_object", "head_object"}:
                return method

            async def call(**kwargs: Any) -> Any:
                response = await method(**kwargs)
                if "ChecksumCRC64NVME" in response:
                    response["ChecksumCRC64NVME"] = "AAAAAAAAAAA="
                return response

            return call

    async with Ingestor(bucket=bucket, client=Lying(client), **SMALL) as ingestor:
        report = await ingestor.ingest([make_file("movies.csv", size)], date=DAY)
    (result,) = report.files
    assert result.status is FileStatus.FAILED
    assert result.error_code == "ChecksumMismatchError"
    assert "the object was removed" in (result.error or "")
    assert objects(s3, bucket) == {}


async def test_manifest_lists_every_file(
    s3_endpoint: str, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """The run manifest in the lake lists each file's key, size, checksum, etag and status."""
    movies = make_file("movies.csv", 12 * MiB)
    series = make_file("series.csv", 3000)
    report = await async_ingest.ingest([movies, series], bucket=bucket, endpoint_url=s3_endpoint, date=DAY, **SMALL)
    assert report.manifest_key == f"Raw/Local/_manifests/2022/05/02/{report.run_id}.json"
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=report.manifest_key)["Body"].read())
    assert manifest["run_id"] == report.run_id
    assert manifest["date"] == "2022-05-02"
    assert [(f["key"], f["size"], f["status"]) for f in manifest["files"]] == [
        (MOVIES, 12 * MiB, "uploaded"),
        ("Raw/Local/CSV/Series/2022/05/02/series.csv", 3000, "uploaded"),
    ]
    for item, result in zip(manifest["files"], report.files, strict=True):
        assert item["checksum"] == result.checksum is not None
        assert item["checksum_algorithm"] == "crc64nvme"
        assert item["etag"] == result.etag is not None


async def test_success_markers_only_for_complete_partitions(
    s3_endpoint: str, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """_SUCCESS lands in each partition whose files all landed, and not where one failed."""
    good = make_file("series.csv", 10)
    bad = make_file("movies.csv", 10)
    async with Ingestor(bucket=bucket, endpoint_url=s3_endpoint, success_marker=True, manifest=False) as ingestor:
        plan = await ingestor.plan([good, bad], date=DAY)
        bad.unlink()
        report = await ingestor.ingest(plan)
    assert not report.ok
    assert sorted(objects(s3, bucket)) == [
        "Raw/Local/CSV/Series/2022/05/02/_SUCCESS",
        "Raw/Local/CSV/Series/2022/05/02/series.csv",
    ]


async def test_no_manifest(s3_endpoint: str, bucket: str, s3: Any, make_file: Callable[..., Path]) -> None:
    """manifest=False writes only the files."""
    report = await async_ingest.ingest(
        [make_file("movies.csv", 10)], bucket=bucket, endpoint_url=s3_endpoint, date=DAY, manifest=False
    )
    assert report.manifest_key is None
    assert list(objects(s3, bucket, manifests=True)) == [MOVIES]


@pytest.mark.anyio(False)  # type: ignore[misc]
def test_cli_report_file_and_rerun(
    s3_endpoint: str, bucket: str, make_file: Callable[..., Path], tmp_path: Path
) -> None:
    """--report writes the JSON report locally; a re-run reports skipped and exits 0."""
    source = make_file("movies.csv", 2000)
    env = {"AWS_ENDPOINT_URL": s3_endpoint}
    for expected in ("uploaded", "skipped"):
        done = run_cli("--bucket", bucket, "--report", tmp_path / "report.json", source, env=env)
        assert done.returncode == 0, done.stderr
        report = json.loads((tmp_path / "report.json").read_text())
        assert report["files"][0]["status"] == expected


@pytest.mark.anyio(False)  # type: ignore[misc]
def test_cli_unwritable_report_is_a_usage_error(
    s3_endpoint: str, bucket: str, s3: Any, make_file: Callable[..., Path], tmp_path: Path
) -> None:
    """A --report path that cannot be written is refused before anything is uploaded."""
    done = run_cli(
        "--bucket", bucket, "--report", tmp_path / "missing-dir" / "r.json", make_file("movies.csv", 10),
        env={"AWS_ENDPOINT_URL": s3_endpoint},
    )  # fmt: skip
    assert done.returncode == 2
    assert "missing-dir" in done.stderr
    assert objects(s3, bucket, manifests=True) == {}


@pytest.mark.anyio(False)  # type: ignore[misc]
def test_cli_checksum_compatibility_switches(
    s3_endpoint: str, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """--checksum none and --request-checksum-calculation are reachable and still land the bytes."""
    source = make_file("movies.csv", 100)
    done = run_cli(
        "--bucket", bucket, "--checksum", "none", "--request-checksum-calculation", "when_supported",
        "--if-exists", "overwrite", source, env={"AWS_ENDPOINT_URL": s3_endpoint},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert source.read_bytes() in objects(s3, bucket).values()
