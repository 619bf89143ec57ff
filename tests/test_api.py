"""The public API's values: read-only where callers share them, hashable where frozen, showing what callers need."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import async_ingest
from async_ingest import LAYOUTS, Ingestor

from .conftest import DAY

pytestmark = pytest.mark.anyio


async def test_report_is_hashable_and_its_summary_read_only(
    s3_endpoint: str, bucket: str, make_file: Callable[..., Path]
) -> None:
    """A report, frozen, can be hashed; its summary cannot be changed, yet reads and serialises as before."""
    report = await async_ingest.ingest([make_file("series.csv", 10)], bucket=bucket, endpoint_url=s3_endpoint, date=DAY)
    assert hash(report) == hash(report)
    assert report.summary["uploaded"] == 1
    with pytest.raises(TypeError):
        report.summary["uploaded"] = 2  # type: ignore[index]
    assert report.to_dict()["summary"] == dict(report.summary)


def test_layouts_are_read_only() -> None:
    """The named layouts cannot be changed by a caller (every Ingestor of the process reads them)."""
    with pytest.raises(TypeError):
        LAYOUTS["default"] = "{filename}"  # type: ignore[index]
    assert LAYOUTS["hive"].endswith("year={yyyy}/month={mm}/day={dd}/{filename}")


async def test_upload_spec_repr_shows_what_callers_need(bucket: str, make_file: Callable[..., Path]) -> None:
    """A planned upload's repr names its file, key and cut, not the inode and mtime kept for the change check."""
    plan = await Ingestor(bucket=bucket).plan([make_file("series.csv", 10)], date=DAY)
    shown = repr(plan.uploads[0])
    assert "key='Raw/Local/CSV/Series/2022/05/02/series.csv'" in shown
    assert "inode" not in shown
    assert "mtime" not in shown
