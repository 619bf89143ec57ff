"""Large runs: the manifest and the report stream every file; the table of a large run stays short."""

from __future__ import annotations

import datetime
import io
import json
from pathlib import Path
from typing import Any

import pytest

from async_ingest import FileResult, FileStatus, IngestReport
from async_ingest._output import TABLE_FILES
from async_ingest._stream import write_report_json

from .conftest import run_cli

NOW = datetime.datetime(2022, 5, 2, 10, 15, tzinfo=datetime.UTC)


def _report(count: int) -> IngestReport:
    files = tuple(
        FileResult(
            source=f'data/{i}\n"é.csv',
            key=f"Raw/{i}.csv",
            category="Local",
            size=i,
            status=FileStatus.UPLOADED if i % 2 else FileStatus.FAILED,
            error=None if i % 2 else "boom",
            date=datetime.date(2022, 5, 2) if i % 3 else None,
        )
        for i in range(count)
    )
    return IngestReport(run_id="r", bucket="lake", date=NOW.date(), started_at=NOW, finished_at=NOW, files=files)


@pytest.mark.parametrize("count", [0, 1, 5], ids=["no-files", "one-file", "five-files"])
@pytest.mark.parametrize("extra", [None, {"shard": {"index": 1, "count": 2}}], ids=["whole", "shard"])
def test_streamed_report_is_the_documents_json(count: int, extra: dict[str, Any] | None) -> None:
    """The report written file by file is byte for byte json.dumps(to_dict(), indent=2), extra keys last."""
    report = _report(count)
    out = io.StringIO()
    write_report_json(report, out, extra)
    document = report.to_dict() | (extra or {})
    assert out.getvalue() == json.dumps(document, indent=2)


def test_large_run_lists_every_file_in_manifest_and_report(
    endpoint_env: dict[str, str], bucket: str, s3: Any, tmp_path: Path
) -> None:
    """A run of more files than the table shows: the manifest and --report list every file; the table does not."""
    count = TABLE_FILES + 50
    folder = tmp_path / "data"
    folder.mkdir()
    for i in range(count):
        (folder / f"f{i:05d}.csv").write_bytes(b"%d\n" % i)
    report_path = tmp_path / "report.json"
    done = run_cli(
        "--bucket", bucket, "--date", "2022-05-02", "--concurrency", "32", "--report", report_path, folder,
        env=endpoint_env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    written = json.loads(report_path.read_text(encoding="utf-8"))
    assert len(written["files"]) == count
    assert {f["status"] for f in written["files"]} == {"uploaded"}
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=written["manifest_key"])["Body"].read())
    assert sorted(f["key"] for f in manifest["files"]) == sorted(f["key"] for f in written["files"])
    assert manifest["summary"]["files"] == count
    assert f"{count} files: {count} uploaded" in done.stdout
    assert "f00001.csv" not in done.stdout, done.stdout  # the table lists the files not landed: none
