"""What a run keeps of each file's result, kept small, and reports that make each result when it is read."""

from __future__ import annotations

import gc
import pickle
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import Any

import anyio
import pytest

from async_ingest import FileResult, FileStatus, Ingestor
from async_ingest._records import ResultStore, ResultsView
from async_ingest._results import FileList

from .conftest import DAY
from .test_spec import SPEC


def _results() -> list[FileResult]:
    common: dict[str, Any] = {"source": SPEC.path, "key": SPEC.key, "category": SPEC.category, "size": SPEC.size}
    return [
        FileResult(
            **common, status=FileStatus.UPLOADED, parts=1, etag="0123456789abcdef0123456789abcdef",
            checksum_algorithm="CRC64NVME", checksum="AAAAAAAAAAA=", version_id="v1", duration=0.123456789,
            date=SPEC.date,
        ),
        FileResult(**common, status=FileStatus.SKIPPED, landed_at="Raw/A/old.csv", date=SPEC.date),
        FileResult(
            **common, status=FileStatus.FAILED, error="boom", error_code="AccessDenied", sent=5, date=SPEC.date
        ),
        FileResult(
            **common, status=FileStatus.UPLOADED, source_action="moved", moved_to="/done/a.csv", date=SPEC.date
        ),
        FileResult(**common, status=FileStatus.INTERRUPTED, source_note="left in place", date=SPEC.date),
        FileResult(**common, status=FileStatus.PLANNED),  # no date where the spec has one: kept whole
        FileResult(**{**common, "size": 11}, status=FileStatus.UPLOADED, date=SPEC.date),  # kept whole
    ]  # fmt: skip


@pytest.mark.parametrize("index", range(7), ids=lambda i: f"result-{i}")
def test_store_gives_back_an_equal_result(index: int) -> None:
    """Each field of a result stored survives, exactly, whether it is kept as bytes or whole."""
    result = _results()[index]
    store = ResultStore()
    store.add(SPEC, result)
    assert store.get(SPEC) == result
    assert SPEC.key in store
    assert len(store) == 1
    view = ResultsView(store, (SPEC,))
    assert dict(view) == {SPEC.key: result}
    assert "missing" not in view
    with pytest.raises(KeyError):
        view["missing"]


def test_file_list_reads_like_the_tuple_it_replaces() -> None:
    """A FileList has its results' length, items, slices, equality and hash; each result is made when read."""
    made: list[int] = []

    def result(number: int) -> FileResult:
        made.append(number)
        return FileResult(source=f"f{number}", key=f"k{number}", category="C", size=number, status=FileStatus.PLANNED)

    files = FileList(range(3), result)
    assert made == []
    expected = tuple(result(n) for n in range(3))
    assert len(files) == 3
    assert files[1] == expected[1]
    assert files[-1] == expected[2]
    assert files[1:] == expected[1:]
    assert files == expected
    assert expected == files
    assert files == FileList(range(3), result)
    assert files != expected[:2]
    assert files != list(expected)
    assert hash(files) == hash(expected)
    assert bool(FileList((), result)) is False
    assert pickle.loads(pickle.dumps(files)) == expected


def _alive(kind: type) -> int:
    gc.collect()
    return sum(isinstance(thing, kind) for thing in gc.get_objects())


@pytest.mark.anyio
async def test_run_keeps_no_object_per_file(
    s3_endpoint: str, bucket: str, client: Any, make_file: Callable[..., Path]
) -> None:
    """After a run, neither its results nor its paths are objects of their own per file; its report still has each."""
    count = 120
    files = [make_file(f"part{i:03d}.csv", 10) for i in range(count)]
    seen: list[FileResult] = []
    async with Ingestor(bucket=bucket, client=client, concurrency=8, manifest=False) as ingestor:
        plan = await ingestor.plan(files, date=DAY)
        run = ingestor.new_run(plan)
        results_before, paths_before = _alive(FileResult), _alive(PurePath)
        with anyio.fail_after(60):
            report = await run.execute(on_result=lambda result: seen.append(result) if len(seen) < 2 else None)
        assert _alive(FileResult) - results_before < 10
        assert _alive(PurePath) - paths_before < 10
    assert report.summary["uploaded"] == count
    assert [f.source for f in report.files] == [str(path) for path in files]
    assert {f.key: f for f in report.files}[seen[0].key] == seen[0] == run.results[seen[0].key]
    assert set(run.results) == {spec.key for spec in plan.uploads}


@pytest.mark.anyio
async def test_report_of_a_run_under_way_stays_as_it_was(
    s3_endpoint: str, bucket: str, client: Any, make_file: Callable[..., Path]
) -> None:
    """A report taken while files are still being sent keeps the results known then, as a tuple."""
    files = [make_file(f"f{i}.csv", 10) for i in range(3)]
    async with Ingestor(bucket=bucket, client=client, concurrency=1, manifest=False) as ingestor:
        run = ingestor.new_run(await ingestor.plan(files, date=DAY))
        assert run.report().summary["interrupted"] == 3  # before it starts: nothing landed
        early: list[Any] = []

        def on_result(result: FileResult) -> None:
            if not early:
                early.append(run.report())

        with anyio.fail_after(60):
            final = await run.execute(on_result=on_result)
    (snapshot,) = early
    assert isinstance(snapshot.files, tuple)
    assert [f.status for f in snapshot.files] == [FileStatus.UPLOADED, FileStatus.INTERRUPTED, FileStatus.INTERRUPTED]
    assert [f.status for f in final.files] == [FileStatus.UPLOADED] * 3
    assert isinstance(final.files, FileList)
