"""Landing each file once across days (``once``): earlier runs' manifests decide, against the test server."""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import async_ingest
from async_ingest import ConfigError, FileStatus
from async_ingest._landed import LandedIndex
from async_ingest._once import window_days

from . import conftest
from .conftest import MiB, objects, run_cli
from .faultproxy import Fault, FaultProxy, status

pytestmark = pytest.mark.anyio

MONTH = datetime.timedelta(days=30)
DAY1, DAY2 = datetime.date(2022, 5, 1), datetime.date(2022, 5, 2)
MOVIES_DAY1 = "Raw/Local/CSV/Movies/2022/05/01/movies.csv"
MOVIES_DAY2 = "Raw/Local/CSV/Movies/2022/05/02/movies.csv"


async def land(
    files: list[Path], bucket: str, endpoint: str, date: datetime.date, **settings: Any
) -> async_ingest.IngestReport:
    report = await async_ingest.ingest(files, bucket=bucket, endpoint_url=endpoint, date=date, **settings)
    assert report.ok, report.failed
    return report


async def test_landed_yesterday_is_skipped_today(
    s3_endpoint: str, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """Day 2 skips what day 1 landed, naming where it is; the skip is recorded, so day 3 points at day 1 too."""
    movies = make_file("movies.csv", 1000)
    await land([movies], bucket, s3_endpoint, DAY1, once=MONTH)
    report = await land([movies], bucket, s3_endpoint, DAY2, once=MONTH)
    (result,) = report.files
    assert (result.status, result.key, result.landed_at) == (FileStatus.SKIPPED, MOVIES_DAY2, MOVIES_DAY1)
    assert result.to_dict()["landed_at"] == MOVIES_DAY1
    assert list(objects(s3, bucket)) == [MOVIES_DAY1]
    manifest = json.loads(objects(s3, bucket, manifests=True)[report.manifest_key or ""])
    assert manifest["files"][0]["landed_at"] == MOVIES_DAY1
    third = await land([movies], bucket, s3_endpoint, datetime.date(2022, 5, 3), once=MONTH)
    assert third.files[0].landed_at == MOVIES_DAY1


async def test_changed_content_and_other_name_land(
    s3_endpoint: str, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """Changed content lands again; the same content under another name lands; both by checksum AND name."""
    content = b"id,title\n1,Alien\n"
    movies = make_file("movies.csv", content=content)
    series = make_file("series.csv", content=b"id,title\n1,Lost\n")
    await land([movies, series], bucket, s3_endpoint, DAY1, once=MONTH)
    movies.write_bytes(b"id,title\n1,Aliens\n")  # same size class, other bytes
    films = make_file("films.csv", content=content)  # what movies.csv held, under another name
    report = await land([movies, series, films], bucket, s3_endpoint, DAY2, once=MONTH)
    assert [(r.source.rpartition("/")[2], r.status) for r in report.files] == [
        ("movies.csv", FileStatus.UPLOADED),
        ("series.csv", FileStatus.SKIPPED),
        ("films.csv", FileStatus.UPLOADED),
    ]
    assert objects(s3, bucket)[MOVIES_DAY2] == movies.read_bytes()


async def test_another_algorithm_does_not_count(s3_endpoint: str, bucket: str, make_file: Callable[..., Path]) -> None:
    """A checksum of another algorithm proves nothing: the file lands again."""
    movies = make_file("movies.csv", 1000)
    await land([movies], bucket, s3_endpoint, DAY1, once=MONTH, checksum="crc32")
    report = await land([movies], bucket, s3_endpoint, DAY2, once=MONTH, checksum="crc32c")
    assert report.files[0].status is FileStatus.UPLOADED


async def test_window_is_counted_back_from_the_processing_date(
    s3_endpoint: str, bucket: str, make_file: Callable[..., Path]
) -> None:
    """A landing 31 days before the processing date is outside a 30-day window; 30 days before is inside."""
    movies = make_file("movies.csv", 1000)
    await land([movies], bucket, s3_endpoint, DAY1, once=MONTH)
    outside = await land([movies], bucket, s3_endpoint, DAY1 + MONTH + datetime.timedelta(days=1), once=MONTH)
    assert (outside.files[0].status, outside.files[0].landed_at) == (FileStatus.UPLOADED, None)
    # Later processing dates do not count either (a backfill of an earlier date).
    inside = await land([movies], bucket, s3_endpoint, DAY1 + MONTH, once=MONTH)
    assert inside.files[0].landed_at == MOVIES_DAY1
    # With manifests in one folder for every date, their processing dates still decide.
    monthly = {"once": MONTH, "manifest_layout": "{zone}/{origin}/_runs/{filename}"}
    await land([movies], bucket, s3_endpoint, DAY1, **monthly)
    late = await land([movies], bucket, s3_endpoint, DAY1 + datetime.timedelta(days=40), **monthly)
    assert late.files[0].status is FileStatus.UPLOADED
    # A window shorter than a day counts the processing date's own runs only.
    same_day = await land([movies], bucket, s3_endpoint, DAY1, once=datetime.timedelta(hours=12))
    assert same_day.files[0].landed_at == MOVIES_DAY1


async def test_only_the_same_zone_and_origin_count(
    s3_endpoint: str, bucket: str, make_file: Callable[..., Path]
) -> None:
    """Another origin's manifests do not count, nor another zone's; an empty manifest prefix is fine."""
    movies = make_file("movies.csv", 1000)
    await land([movies], bucket, s3_endpoint, DAY1, once=MONTH, origin="Crm")
    report = await land([movies], bucket, s3_endpoint, DAY2, once=MONTH)
    assert report.files[0].status is FileStatus.UPLOADED
    other_zone = await land([movies], bucket, s3_endpoint, DAY2, once=MONTH, zone="Trusted")
    assert other_zone.files[0].status is FileStatus.UPLOADED


def test_partial_run_counts_only_files_that_landed() -> None:
    """A manifest's failed and interrupted files do not count; uploaded and skipped ones do."""
    index = LandedIndex()
    files = [
        {"source": f"/in/{name}.csv", "key": f"k/{name}.csv", "size": 3, "status": state,
         "checksum_algorithm": "crc64nvme", "checksum": "c"}
        for name, state in [("a", "uploaded"), ("b", "skipped"), ("c", "failed"), ("d", "interrupted")]
    ]  # fmt: skip
    index.add_manifest({"files": files})
    assert sorted(index.entries.values()) == ["k/a.csv", "k/b.csv"]


async def test_multipart_sha256_composite_is_compared(
    s3_endpoint: str, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """A multipart SHA-256 object's composite checksum is compared with the file's for the same parts."""
    movies = make_file("movies.csv", 11 * MiB)
    settings = {**conftest.SMALL, "checksum": "sha256", "once": MONTH}
    first = await land([movies], bucket, s3_endpoint, DAY1, **settings)
    assert (first.files[0].checksum or "").endswith("-3")
    again = await land([movies], bucket, s3_endpoint, DAY2, **settings)
    assert (again.files[0].status, again.files[0].landed_at) == (FileStatus.SKIPPED, MOVIES_DAY1)
    # Other part sizes give another composite: not provably the same, so it lands again.
    other = await land(
        [movies], bucket, s3_endpoint, DAY2, **{**settings, "part_size": 6 * MiB, "if_exists": "overwrite"}
    )
    assert other.files[0].status is FileStatus.UPLOADED


@pytest.mark.parametrize("count", [1, 12])
async def test_request_count_is_independent_of_the_number_of_files(
    proxy: FaultProxy, bucket: str, make_file: Callable[..., Path], count: int
) -> None:
    """Reading the window costs one LIST per day and one GET per manifest, however many files the run has."""
    files = [make_file(f"in/file{n}.csv", 100) for n in range(count)]
    for day in (DAY1, DAY2):  # two manifests (N = 2) on two days, one file each
        await land(files[:1], bucket, proxy.url, day, if_exists="overwrite")
    proxy.clear_requests()
    today = datetime.date(2022, 5, 4)
    report = await land(files, bucket, proxy.url, today, once=datetime.timedelta(days=7), if_exists="overwrite")
    assert [r.status for r in report.files].count(FileStatus.SKIPPED) == 1
    manifests = [r for r in proxy.requests if "_manifests" in r.path]
    lists = [r for r in manifests if r.method == "GET" and "list-type=2" in r.path]
    gets = [r for r in manifests if r.method == "GET" and "list-type=2" not in r.path]
    assert (len(lists), len(gets)) == (8, 2)  # days 2022-04-27 .. 2022-05-04, for 1 file as for 12


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("_manifests", id="list"),
        pytest.param("_manifests/2022/05/01/", id="get"),  # a LIST's prefix is percent-encoded: GETs only
    ],
)
async def test_unreadable_manifests_fail_every_file(
    proxy: FaultProxy, bucket: str, s3: Any, make_file: Callable[..., Path], s3_endpoint: str, path: str
) -> None:
    """Manifests that may not be listed, or read, fail the run's files, with nothing uploaded."""
    movies = make_file("movies.csv", 1000)
    await land([make_file("series.csv", 10)], bucket, s3_endpoint, DAY1)
    denied = proxy.add(Fault(status(403, "AccessDenied", "Access Denied"), method="GET", path=path, times=None))
    report = await async_ingest.ingest([movies], bucket=bucket, endpoint_url=proxy.url, date=DAY2, once=MONTH)
    (result,) = report.files
    assert result.status is FileStatus.FAILED
    assert "could not read the run manifests that --once needs" in (result.error or "")
    assert denied.applied >= 1
    assert "Raw/Local/CSV/Movies/2022/05/02/movies.csv" not in objects(s3, bucket)


def test_window_days() -> None:
    """The window runs from the processing date back WINDOW whole days, both ends included."""
    assert window_days(DAY2, datetime.timedelta(days=1)) == [DAY2, DAY1]
    assert window_days(DAY2, datetime.timedelta(hours=12)) == [DAY2]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        pytest.param({"checksum": "none"}, "--checksum none", id="no-checksum"),
        pytest.param({"manifest": False}, "--no-manifest", id="no-manifest"),
        pytest.param({"once": datetime.timedelta(0)}, "positive age", id="zero"),
        pytest.param({"manifest_layout": "_manifests/{yyyy}/{filename}"}, "needs {zone} and {origin}", id="no-origin"),
        pytest.param({"manifest_layout": "{zone}/{origin}/{filename}.m"}, "end with /{filename}", id="not-last"),
    ],
)
def test_bad_once_settings(settings: dict[str, Any], message: str) -> None:
    """Settings that cannot work with once are refused, naming the culprit."""
    with pytest.raises(ConfigError, match=re.escape(message)):
        async_ingest.IngestConfig(bucket="lake", **{"once": MONTH, **settings})


def test_cli_once(endpoint_env: dict[str, str], bucket: str, make_file: Callable[..., Path]) -> None:
    """--once alone is a 30-day window; the skip is reported with landed_at; --checksum none is exit 2."""
    movies = make_file("movies.csv", 1000)
    for day in ("2022-05-01", "2022-05-31"):
        done = run_cli("--bucket", bucket, "--date", day, "--json", movies, "--once", env=endpoint_env)
        assert done.returncode == 0, done.stderr
    (result,) = json.loads(done.stdout)["files"]
    assert (result["status"], result["landed_at"]) == ("skipped", MOVIES_DAY1)
    table = run_cli("--bucket", bucket, "--date", "2022-05-02", movies, "--once", "2d", env=endpoint_env)
    assert table.returncode == 0, table.stderr
    assert f"{MOVIES_DAY2} (landed at {MOVIES_DAY1})" in table.stdout
    done = run_cli("--bucket", bucket, "--once=7d", "--checksum", "none", movies, env=endpoint_env)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "async-ingest: error: --once compares checksums: it cannot be used with --checksum none"
    ]


async def test_worker_processes_share_the_decision(
    s3_endpoint: str, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """With worker processes, the files already landed are skipped and the rest are shared out and land."""
    files = [make_file(f"in/file{n}.csv", 100) for n in range(8)]
    await land(files[:4], bucket, s3_endpoint, DAY1, once=MONTH)
    report = await land(files, bucket, s3_endpoint, DAY2, once=MONTH, workers=2)
    assert [r.status for r in report.files] == [FileStatus.SKIPPED] * 4 + [FileStatus.UPLOADED] * 4
    assert len(objects(s3, bucket)) == 8


@pytest.mark.parametrize(
    ("argv", "window", "sources"),
    [
        (["--once", "data/"], MONTH, ["data/"]),
        (["--once", "movies.csv", "series.csv"], MONTH, ["movies.csv", "series.csv"]),
        (["--once", "Movies=movies.csv"], MONTH, ["Movies=movies.csv"]),
        (["--once", "7d", "data/"], datetime.timedelta(days=7), ["data/"]),
        (["data/", "--once"], MONTH, ["data/"]),
    ],
)
def test_once_before_a_source(argv: list[str], window: datetime.timedelta, sources: list[str], tmp_path: Path) -> None:
    """A path after --once is a source and --once alone its 30-day window; a window is still read as one."""
    done = run_cli("--bucket", "lake", "--print-config", "--json", *argv, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["settings"]["once"] == {"value": f"{window.total_seconds():.0f}s", "from": "flag"}
    assert [source["source"] for source in shown["sources"]] == sources


def test_once_with_a_bad_window(tmp_path: Path) -> None:
    """A word after --once that is neither a window nor a path is a bad window, named."""
    done = run_cli("--bucket", "lake", "--once", "7x", "data/", cwd=tmp_path)
    assert done.returncode == 2
    assert "invalid age '7x'" in done.stderr
