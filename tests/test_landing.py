"""Landing zones: --move-source and --delete-source, against the test server."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

import async_ingest
from async_ingest import ConfigError, FileStatus, IngestConfig, Ingestor, ProgressEvent
from async_ingest._plan import plan_uploads
from async_ingest._settle import settle_source

from .conftest import DAY, SMALL, MiB, objects, open_uploads, run_cli
from .faultproxy import Fault, FaultProxy, hold_until, status
from .test_workers import many_files

pytestmark = pytest.mark.anyio

MOVIES = "Raw/Local/CSV/Movies/2022/05/02/movies.csv"


def landing_tree(make_file: Callable[..., Path]) -> Path:
    """``data/movies.csv`` and ``data/2022/series.csv``: a source folder with a subfolder."""
    make_file("data/2022/series.csv", 200)
    return make_file("data/movies.csv", 100).parent


async def test_landed_files_move_under_their_relative_paths(
    s3_endpoint: str, bucket: str, s3: Any, tmp_path: Path, make_file: Callable[..., Path]
) -> None:
    """Uploaded files are moved into the landing folder, created, under their paths relative to the source."""
    movies, series = make_file("data/movies.csv", 100), make_file("data/2022/series.csv", 7 * MiB)
    before = {"movies.csv": movies.read_bytes(), "2022/series.csv": series.read_bytes()}
    done = tmp_path / "done"
    settings = {"recursive": True, "move_source": done, **SMALL}
    data = tmp_path / "data"
    report = await async_ingest.ingest([data], bucket=bucket, endpoint_url=s3_endpoint, date=DAY, **settings)
    assert report.ok, report.failed
    assert {f.status for f in report.files} == {FileStatus.UPLOADED}
    assert {(f.source_action, f.moved_to, f.source_note) for f in report.files} == {
        ("moved", str(done / name), None) for name in before
    }
    assert {name: (done / name).read_bytes() for name in before} == before
    assert not movies.exists()
    assert not series.exists()
    assert sorted(objects(s3, bucket).values()) == sorted(before.values())
    [manifest] = [body for key, body in objects(s3, bucket, manifests=True).items() if "/_manifests/" in key]
    moved = {f["moved_to"] for f in json.loads(manifest)["files"] if f["source_action"] == "moved"}
    assert moved == {str(done / name) for name in before}


async def test_landed_files_are_deleted(s3_endpoint: str, bucket: str, s3: Any, make_file: Callable[..., Path]) -> None:
    """With delete_source, a file is deleted once its object is in place, and the result says so."""
    movies = make_file("movies.csv", 100)
    content = movies.read_bytes()
    report = await async_ingest.ingest([movies], bucket=bucket, endpoint_url=s3_endpoint, date=DAY, delete_source=True)
    [result] = report.files
    assert (result.status, result.source_action, result.moved_to) == (FileStatus.UPLOADED, "deleted", None)
    assert result.to_dict()["source_action"] == "deleted"
    assert not movies.exists()
    assert objects(s3, bucket) == {MOVIES: content}


async def test_a_rerun_moves_the_files_skipped_as_identical(
    s3_endpoint: str, bucket: str, tmp_path: Path, make_file: Callable[..., Path]
) -> None:
    """A file already landed, skipped because identical, is moved all the same."""
    movies = make_file("in/movies.csv", 100)
    await async_ingest.ingest([movies], bucket=bucket, endpoint_url=s3_endpoint, date=DAY)
    report = await async_ingest.ingest(
        [movies], bucket=bucket, endpoint_url=s3_endpoint, date=DAY, move_source=tmp_path / "done"
    )
    [result] = report.files
    assert (result.status, result.source_action) == (FileStatus.SKIPPED, "moved")
    assert (tmp_path / "done" / "movies.csv").exists()
    assert not movies.exists()


async def test_a_failed_upload_leaves_its_source(
    proxy: FaultProxy, bucket: str, s3: Any, tmp_path: Path, make_file: Callable[..., Path]
) -> None:
    """A file whose upload failed stays where it is; the one that landed beside it is moved."""
    movies, series = make_file("in/movies.csv", 100), make_file("in/series.csv", 100)
    proxy.add(Fault(status(500, "InternalError", "We encountered an internal error."), method="PUT", path="movies"))
    report = await async_ingest.ingest(
        [movies, series], bucket=bucket, endpoint_url=proxy.url, date=DAY, max_attempts=1, move_source=tmp_path / "done"
    )
    by_name = {Path(f.source).name: f for f in report.files}
    assert (by_name["movies.csv"].status, by_name["movies.csv"].source_action) == (FileStatus.FAILED, None)
    assert by_name["series.csv"].source_action == "moved"
    assert movies.exists()
    assert not (tmp_path / "done" / "movies.csv").exists()


async def test_an_interrupted_run_moves_none_of_its_unfinished_files(
    proxy: FaultProxy, bucket: str, s3: Any, tmp_path: Path, make_file: Callable[..., Path]
) -> None:
    """Cancelled while a file is in flight, the run moves the file that landed and leaves the others."""
    series, movies = make_file("in/series.csv", 100), make_file("in/movies.csv", 12 * MiB)
    release = threading.Event()
    held = proxy.add(Fault(hold_until(release, timeout=60), path="partNumber=2", times=None))
    done = tmp_path / "done"
    async with Ingestor(bucket=bucket, endpoint_url=proxy.url, move_source=done, concurrency=1, **SMALL) as ingestor:
        run = ingestor.new_run(await ingestor.plan([series, movies], date=DAY))
        async with anyio.create_task_group() as tg:
            tg.start_soon(run.execute)
            with anyio.fail_after(30):
                await proxy.wait_received_async(held)
            tg.cancel_scope.cancel()
    release.set()
    statuses = {Path(f.source).name: (f.status, f.source_action) for f in run.report().files}
    assert statuses == {
        "series.csv": (FileStatus.UPLOADED, "moved"),
        "movies.csv": (FileStatus.INTERRUPTED, None),
    }
    assert movies.exists()
    assert not (done / "movies.csv").exists()
    assert open_uploads(s3, bucket) == []


async def test_a_dry_run_touches_nothing(bucket: str, tmp_path: Path, make_file: Callable[..., Path]) -> None:
    """A dry run plans the move but moves nothing, and creates no landing folder."""
    movies = make_file("in/movies.csv", 100)
    for settings in ({"move_source": tmp_path / "done"}, {"delete_source": True}):
        report = await async_ingest.ingest([movies], bucket=bucket, date=DAY, dry_run=True, **settings)
        assert [(f.status, f.source_action) for f in report.files] == [(FileStatus.PLANNED, None)]
    assert movies.exists()
    assert not (tmp_path / "done").exists()


async def test_a_file_changed_after_it_was_sent_is_left(
    s3_endpoint: str, bucket: str, tmp_path: Path, make_file: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    """A file that changed since it was planned is left where it is, with a warning and a note in its result."""
    movies = make_file("in/movies.csv", 100)

    def append(event: ProgressEvent) -> None:
        if event.kind == "advanced":  # sent and verified; its source is settled next
            with movies.open("ab") as file:
                file.write(b"more")

    caplog.set_level(logging.WARNING, logger="async_ingest")
    async with Ingestor(bucket=bucket, endpoint_url=s3_endpoint, delete_source=True) as ingestor:
        report = await ingestor.ingest([movies], date=DAY, on_progress=append)
    [result] = report.files
    assert (result.status, result.source_action) == (FileStatus.UPLOADED, None)
    assert result.source_note is not None
    assert "changed since it was planned" in result.source_note
    assert movies.read_bytes().endswith(b"more")
    assert [r.getMessage() for r in caplog.records] == [f"{movies}: {result.source_note}"]


async def test_a_file_replaced_after_it_was_sent_is_left(
    s3_endpoint: str, bucket: str, tmp_path: Path, make_file: Callable[..., Path]
) -> None:
    """A file replaced by another of the same size since it was planned (a new inode) is not moved."""
    movies = make_file("in/movies.csv", 100)
    stat = movies.stat()

    def replace(event: ProgressEvent) -> None:
        if event.kind == "advanced":
            newer = make_file("in/newer.csv", 100)
            os.utime(newer, ns=(stat.st_atime_ns, stat.st_mtime_ns))
            newer.replace(movies)

    done = tmp_path / "done"
    async with Ingestor(bucket=bucket, endpoint_url=s3_endpoint, move_source=done) as ingestor:
        report = await ingestor.ingest([movies], date=DAY, on_progress=replace)
    [result] = report.files
    assert (result.status, result.source_action, result.moved_to) == (FileStatus.UPLOADED, None, None)
    assert result.source_note is not None
    assert "changed since it was planned" in result.source_note
    assert movies.exists()
    assert not done.exists()


async def test_a_name_taken_in_the_landing_folder_is_left(
    s3_endpoint: str, bucket: str, tmp_path: Path, make_file: Callable[..., Path]
) -> None:
    """A file whose name is taken in the landing folder stays in place; the file there is not replaced."""
    movies = make_file("in/movies.csv", 100)
    taken = make_file("done/movies.csv", content=b"older")
    report = await async_ingest.ingest(
        [movies], bucket=bucket, endpoint_url=s3_endpoint, date=DAY, move_source=tmp_path / "done"
    )
    [result] = report.files
    assert (result.status, result.source_action) == (FileStatus.UPLOADED, None)
    assert result.source_note == f"{taken} already exists; left in place"
    assert taken.read_bytes() == b"older"
    assert movies.exists()


async def test_worker_processes_move_the_files_they_landed(
    s3_endpoint: str, bucket: str, tmp_path: Path, make_file: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    """With workers=2, the files the worker process uploaded are moved too, and their results say so."""
    files = many_files(make_file)
    caplog.set_level(logging.INFO, logger="async_ingest")
    done = tmp_path / "done"
    report = await async_ingest.ingest(
        [files[0].parent], bucket=bucket, endpoint_url=s3_endpoint, date=DAY, workers=2, move_source=done
    )
    assert report.ok, report.failed
    uploaders = {r.process for r in caplog.records if r.getMessage().startswith("uploaded ")}
    assert len(uploaders) == 2
    assert {f.source_action for f in report.files} == {"moved"}
    assert sorted(p.name for p in done.iterdir()) == sorted(p.name for p in files)
    assert not any(p.exists() for p in files)


def test_a_move_across_file_systems_copies_then_deletes(tmp_path: Path, make_file: Callable[..., Path]) -> None:
    """Into a folder on another file system, the file is copied whole, then its source deleted."""
    other = Path("/dev/shm")
    if not other.is_dir() or other.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no second file system to move to")
    source = make_file("data/2022/series.csv", 3000)
    content = source.read_bytes()
    config = IngestConfig(bucket="lake")
    [spec] = plan_uploads(
        [tmp_path / "data"], config.key_builder(DAY), part_size=8 * MiB, multipart_threshold=8 * MiB, recursive=True
    )
    with tempfile.TemporaryDirectory(dir=other) as landing:
        outcome = settle_source(spec, move_source=Path(landing), delete_source=False)
        target = Path(landing) / "2022" / "series.csv"
        assert (outcome.action, outcome.moved_to, outcome.note) == ("moved", str(target), None)
        assert target.read_bytes() == content
        assert os.listdir(target.parent) == ["series.csv"]  # no temporary copy left beside it
    assert not source.exists()


def test_both_actions_at_once_are_refused() -> None:
    """move_source and delete_source exclude each other."""
    with pytest.raises(ConfigError, match="exclude each other"):
        IngestConfig(bucket="lake", move_source=Path("done"), delete_source=True)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        pytest.param(["--move-source", "done", "--delete-source"], "exclude each other", id="both"),
        pytest.param(["--local", "--delete-source"], "--delete-source with --local would lose the files", id="local"),
        pytest.param(["--move-source", "data"], "is inside the source data or holds it", id="the-source"),
        pytest.param(["--move-source", "data/done"], "is inside the source data", id="inside-the-source"),
        pytest.param(["--move-source", "."], "is inside the source data or holds it", id="holds-the-source"),
        pytest.param(["--move-source", "notes.txt"], "--move-source notes.txt: is not a directory", id="a-file"),
        pytest.param(["--move-source", "no/done"], "does not exist, nor does its parent no", id="no-parent"),
    ],
)
def test_bad_landing_folders_are_refused_before_anything_is_sent(
    proxy: FaultProxy, bucket: str, tmp_path: Path, make_file: Callable[..., Path], flags: list[str], expected: str
) -> None:
    """Each bad landing folder is one line, exit 2, and not one request."""
    landing_tree(make_file)
    make_file("notes.txt", 10)
    result = run_cli("--bucket", bucket, "--endpoint-url", proxy.url, "data", *flags, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert expected in result.stderr
    assert proxy.requests == []
    assert (tmp_path / "data" / "movies.csv").exists()


def test_an_unwritable_landing_folder_is_refused(
    proxy: FaultProxy, bucket: str, tmp_path: Path, make_file: Callable[..., Path]
) -> None:
    """A landing folder that cannot be written is refused before anything is sent."""
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    landing_tree(make_file)
    (tmp_path / "done").mkdir(mode=0o500)
    result = run_cli("--bucket", bucket, "--endpoint-url", proxy.url, "data", "--move-source", "done", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "async-ingest: error: --move-source done: directory is not writable\n"
    assert proxy.requests == []


def test_the_command_moves_and_says_so(
    s3_endpoint: str, bucket: str, tmp_path: Path, make_file: Callable[..., Path]
) -> None:
    """The command's table counts what was moved and what was left, with a warning line for each file left."""
    landing_tree(make_file)
    make_file("done/movies.csv", content=b"older")
    env = {"ASYNC_INGEST_MOVE_SOURCE": "done"}
    result = run_cli(
        "--bucket", bucket, "--endpoint-url", s3_endpoint, "--recursive", "data", "--quiet", env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "sources: 1 moved, 1 left in place" in result.stdout.splitlines()
    assert result.stderr == (
        f"async-ingest: warning: data/movies.csv: {os.path.join('done', 'movies.csv')} already exists; left in place\n"
    )
    assert (tmp_path / "done" / "2022" / "series.csv").exists()
    assert (tmp_path / "data" / "movies.csv").exists()


@pytest.mark.parametrize(
    ("flags", "said", "made"),
    [
        pytest.param([], "is created", True, id="run"),
        pytest.param(["--dry-run"], "would be created", False, id="dry-run"),
    ],
)
def test_a_missing_landing_folder_is_made_and_the_command_says_so(
    s3_endpoint: str,
    bucket: str,
    tmp_path: Path,
    make_file: Callable[..., Path],
    flags: list[str],
    said: str,
    made: bool,
) -> None:
    """A landing folder that does not exist under one that does is made by the first move, and the command says so."""
    landing_tree(make_file)
    result = run_cli(
        "--bucket", bucket, "--endpoint-url", s3_endpoint, "data", "-q", "--move-source", "done", *flags, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"async-ingest: --move-source done does not exist: it {said}\n"
    assert (tmp_path / "done" / "movies.csv").exists() is made
    assert (tmp_path / "data" / "movies.csv").exists() is not made
