"""Shards: a stable split of the planned files, one run id, one manifest each, markers once the set is complete."""

from __future__ import annotations

import datetime
import json
import re
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from async_ingest import ConfigError, IngestConfig, Ingestor, Shard
from async_ingest._shard import shard_of

from .conftest import objects, run_cli, start_cli
from .faultproxy import Fault, FaultProxy, hold_until, status

DATE = datetime.date(2022, 5, 2)
RUN_ID = "nightly-20220502"
MANIFESTS = "Raw/Local/_manifests/2022/05/02/"


@pytest.mark.parametrize(
    ("key", "shards"),
    [
        pytest.param("Raw/Local/CSV/Movies/2022/05/02/movies.csv", [0, 0, 2, 2, 4, 2, 5, 2], id="movies"),
        pytest.param("Raw/Local/CSV/Series/2022/05/02/series.csv", [0, 1, 2, 1, 2, 5, 2, 5], id="series"),
        pytest.param("a", [0, 1, 0, 3, 2, 3, 4, 3], id="short"),
        pytest.param("data/ü.csv", [0, 0, 0, 2, 1, 0, 5, 6], id="utf-8"),
    ],
)
def test_assignment_is_pinned(key: str, shards: list[int]) -> None:
    """A key's shard for counts 1..8 is fixed (CRC-32 of its UTF-8 bytes): a change of hash fails here."""
    assert [shard_of(key, count) for count in range(1, 9)] == shards


@pytest.mark.parametrize("count", range(1, 9))
def test_shards_are_disjoint_and_complete(count: int) -> None:
    """Every key is in exactly one shard's share, whatever the count."""
    keys = [f"Raw/Local/CSV/Cat{n % 7}/2022/05/02/file-{n}.csv" for n in range(500)]
    shares = [[key for key in keys if Shard(index, count).owns(key)] for index in range(count)]
    assert sorted(key for share in shares for key in share) == sorted(keys)
    assert sum(len(share) for share in shares) == len(keys)


@pytest.mark.parametrize(
    ("text", "environ", "expected"),
    [
        pytest.param("3/8", {}, Shard(3, 8), id="explicit"),
        pytest.param("auto/8", {"JOB_COMPLETION_INDEX": "5"}, Shard(5, 8), id="kubernetes"),
        pytest.param("auto/4", {"AWS_BATCH_JOB_ARRAY_INDEX": "2"}, Shard(2, 4), id="batch"),
        pytest.param(
            "auto/4", {"SLURM_ARRAY_TASK_ID": "12", "SLURM_ARRAY_TASK_MIN": "10"}, Shard(2, 4), id="slurm-offset"
        ),
        pytest.param(
            "auto",
            {"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_COUNT": "8"},
            Shard(3, 8),
            id="slurm-count",
        ),
        pytest.param(
            "auto/8", {"JOB_COMPLETION_INDEX": "1", "SLURM_ARRAY_TASK_ID": "6"}, Shard(1, 8), id="first-set-wins"
        ),
    ],
)
def test_shard_from_text_and_environment(text: str, environ: dict[str, str], expected: Shard) -> None:
    """INDEX/COUNT as given, or the index (and with Slurm the count) from the scheduler's variables."""
    assert Shard.parse(text, environ) == expected


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        pytest.param(["--shard", "3/2"], {}, "the index goes from 0 to 1", id="index-out-of-range"),
        pytest.param(["--shard", "0/0"], {}, "the count must be at least 1", id="count-0"),
        pytest.param(["--shard", "a/b"], {}, "use INDEX/COUNT", id="not-numbers"),
        pytest.param(["--shard", "3"], {}, "use INDEX/COUNT", id="no-count"),
        pytest.param(["--shard", "auto/8"], {}, "JOB_COMPLETION_INDEX", id="auto-without-scheduler"),
        pytest.param(["--shard", "auto"], {"JOB_COMPLETION_INDEX": "1"}, "SLURM_ARRAY_TASK_COUNT", id="auto-no-count"),
        pytest.param(["--shard", "auto/8"], {"JOB_COMPLETION_INDEX": "8"}, "0 to 7", id="auto-out-of-range"),
        pytest.param([], {"ASYNC_INGEST_SHARD": "9/8"}, "ASYNC_INGEST_SHARD", id="env"),
        pytest.param(["--run-id", "Ref::runId"], {}, "invalid run id 'Ref::runId'", id="batch-placeholder"),
        pytest.param([], {"ASYNC_INGEST_RUN_ID": "a/b"}, "invalid run id 'a/b'", id="run-id-env"),
    ],
)
def test_bad_shard_or_run_id_exits_2(
    s3_endpoint: str,
    bucket: str,
    s3: Any,
    make_file: Callable[..., Path],
    args: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    """A bad shard or run id is a one-line usage error naming it; nothing is sent."""
    done = run_cli("--bucket", bucket, "--endpoint-url", s3_endpoint, *args, make_file("movies.csv", 10), env=env)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert objects(s3, bucket, manifests=True) == {}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        pytest.param({"shard": (2, 2)}, "index goes from 0 to 1", id="pair-out-of-range"),
        pytest.param({"shard": (0, 1, 2)}, "(index, count) pair", id="triple"),
        pytest.param({"run_id": "run id"}, "invalid run id", id="space"),
        pytest.param({"run_id": ".."}, "invalid run id", id="dot-dot"),
        pytest.param(
            {"shard": (0, 2), "success_marker": True, "manifest": False}, "needs the manifest", id="no-manifest"
        ),
    ],
)
def test_library_refuses_bad_shard_settings(settings: dict[str, Any], message: str) -> None:
    """The library checks the same on construction; a pair becomes a Shard."""
    with pytest.raises(ConfigError, match=re.escape(message)):
        IngestConfig(bucket="lake", **settings)
    assert IngestConfig(bucket="lake", shard=(1, 4)).shard == Shard(1, 4)


def _files(make_file: Callable[..., Path], count: int = 12) -> list[str]:
    """*count* files in three partitions, as CATEGORY=PATH sources."""
    return [f"{('Movies', 'Series', 'Books')[n % 3]}={make_file(f'part-{n}.csv', 100 + n)}" for n in range(count)]


def _markers(found: dict[str, bytes]) -> list[str]:
    return sorted(key for key in found if key.endswith("/_SUCCESS"))


def _marker_puts(proxy: FaultProxy) -> int:
    return sum(1 for request in proxy.requests if request.method == "PUT" and "_SUCCESS" in request.path)


async def _run_shard(endpoint: str, bucket: str, sources: list[str], index: int, count: int, **settings: Any) -> Any:
    async with Ingestor(
        bucket=bucket, endpoint_url=endpoint, shard=(index, count), run_id=RUN_ID, success_marker=True, **settings
    ) as ingestor:
        return await ingestor.ingest(sources, date=DATE)


@pytest.mark.anyio
async def test_markers_only_once_every_shard_has_written(
    proxy: FaultProxy, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """No _SUCCESS after COUNT-1 shards; after the last, exactly one per partition, written once."""
    sources = _files(make_file)
    reports = [await _run_shard(proxy.url, bucket, sources, index, 3) for index in range(2)]
    assert _markers(objects(s3, bucket)) == []
    assert _marker_puts(proxy) == 0
    reports.append(await _run_shard(proxy.url, bucket, sources, 2, 3))
    found = objects(s3, bucket)
    assert _markers(found) == [f"Raw/Local/CSV/{cat}/2022/05/02/_SUCCESS" for cat in ("Books", "Movies", "Series")]
    assert _marker_puts(proxy) == 3
    assert len(found) == 12 + 3
    assert sorted(r.manifest_key for r in reports) == [
        f"{MANIFESTS}{RUN_ID}.shard-{i:04d}-of-0003.json" for i in range(3)
    ]
    assert sum(len(r.files) for r in reports) == 12


@pytest.mark.anyio
async def test_a_partition_with_a_failed_file_waits_for_its_rerun(
    proxy: FaultProxy, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """A file that failed keeps its partition's marker back, the others' not; its shard run again writes it."""
    sources = _files(make_file, 6)
    failing = "part-0.csv"  # a Movies file
    owner = shard_of(f"Raw/Local/CSV/Movies/2022/05/02/{failing}", 2)
    proxy.add(Fault(status(403, "AccessDenied", "Access Denied"), method="PUT", path=failing, times=None))
    for index in (1 - owner, owner):
        await _run_shard(proxy.url, bucket, sources, index, 2)
    assert _markers(objects(s3, bucket)) == [f"Raw/Local/CSV/{cat}/2022/05/02/_SUCCESS" for cat in ("Books", "Series")]
    proxy.clear()
    report = await _run_shard(proxy.url, bucket, sources, owner, 2)
    assert report.ok
    assert len(_markers(objects(s3, bucket))) == 3


@pytest.mark.anyio
async def test_rerun_with_the_same_run_id_duplicates_nothing(
    s3_endpoint: str, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """Every shard run again: the same objects, its manifest overwritten, each marker still one object."""
    sources = _files(make_file)
    for _ in range(2):
        for index in range(2):
            report = await _run_shard(s3_endpoint, bucket, sources, index, 2)
            assert not report.errors
    found = objects(s3, bucket, manifests=True)
    manifests = sorted(key for key in found if "/_manifests/" in key)
    assert manifests == [f"{MANIFESTS}{RUN_ID}.shard-{i:04d}-of-0002.json" for i in range(2)]
    assert len(_markers(found)) == 3
    assert len(found) == 12 + 3 + 2
    statuses = {entry["status"] for key in manifests for entry in json.loads(found[key])["files"]}
    assert statuses == {"skipped"}  # the second round's manifests replaced the first's


@pytest.mark.anyio
async def test_marker_written_by_another_shard_is_fine(
    s3_endpoint: str, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """A partition's marker already there: the conditional create is refused (412), and that is no error."""
    sources = _files(make_file, 3)
    await _run_shard(s3_endpoint, bucket, sources, 0, 2)
    for category in ("Movies", "Series", "Books"):
        s3.put_object(Bucket=bucket, Key=f"Raw/Local/CSV/{category}/2022/05/02/_SUCCESS", Body=b"other")
    report = await _run_shard(s3_endpoint, bucket, sources, 1, 2)
    assert report.errors == ()
    assert {objects(s3, bucket)[key] for key in _markers(objects(s3, bucket))} == {b"other"}


def test_conditional_create_is_enforced_by_the_test_server(s3: Any, bucket: str) -> None:
    """The test server refuses a second If-None-Match: * create, so the marker tests test the race."""
    s3.put_object(Bucket=bucket, Key="p/_SUCCESS", Body=b"", IfNoneMatch="*")
    with pytest.raises(s3.exceptions.ClientError, match="PreconditionFailed"):
        s3.put_object(Bucket=bucket, Key="p/_SUCCESS", Body=b"", IfNoneMatch="*")


def test_dry_run_shows_only_the_share(s3_endpoint: str, bucket: str, make_file: Callable[..., Path]) -> None:
    """--dry-run of a shard lists its share and says how many of the run's files that is."""
    sources = _files(make_file)
    done = run_cli(
        "--bucket", bucket, "--endpoint-url", s3_endpoint, "--date", "2022-05-02", "--shard", "1/3",
        "--dry-run", "--json", *sources,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    keys = [entry["key"] for entry in json.loads(done.stdout)["files"]]
    assert keys
    assert all(shard_of(key, 3) == 1 for key in keys)
    assert f"shard 1/3: {len(keys)} of 12 files" in done.stderr


def test_print_config_shows_the_shard() -> None:
    """--print-config --json gives the shard as it is written, auto resolved."""
    environ = {"JOB_COMPLETION_INDEX": "6"}
    done = run_cli("--bucket", "lake", "--shard", "auto/8", "--print-config", "--json", env=environ)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["settings"]["shard"] == {"value": "6/8", "from": "flag"}


@pytest.mark.anyio
async def test_workers_split_the_share(s3_endpoint: str, bucket: str, s3: Any, make_file: Callable[..., Path]) -> None:
    """With worker processes, a shard still uploads its own share only, and writes one manifest."""
    sources = _files(make_file)
    report = await _run_shard(s3_endpoint, bucket, sources, 1, 2, workers=2)
    landed = [key for key in objects(s3, bucket) if key.endswith(".csv")]
    assert sorted(landed) == sorted(result.key for result in report.files)
    assert landed
    assert all(shard_of(key, 2) == 1 for key in landed)


def test_a_duplicate_key_fails_every_shard(
    s3_endpoint: str, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """Each shard plans the whole run: two files at one key fail every shard, whichever owns the key."""
    first, second = make_file("a/movies.csv", 10), make_file("b/movies.csv", 20)
    for index in range(2):
        done = run_cli("--bucket", bucket, "--endpoint-url", s3_endpoint, "--shard", f"{index}/2", first, second)
        assert done.returncode == 2, done.stderr
        assert "would both land at" in done.stderr
    assert objects(s3, bucket, manifests=True) == {}


def test_verify_a_shard_manifest(s3_endpoint: str, bucket: str, make_file: Callable[..., Path]) -> None:
    """async-ingest verify checks a shard's manifest like a run's."""
    sources = _files(make_file, 6)
    done = run_cli(
        "--bucket", bucket, "--endpoint-url", s3_endpoint, "--date", "2022-05-02", "--shard", "0/2",
        "--run-id", RUN_ID, "--json", *sources,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    manifest = json.loads(done.stdout)["manifest_key"]
    assert manifest == f"{MANIFESTS}{RUN_ID}.shard-0000-of-0002.json"
    checked = run_cli("verify", f"s3://{bucket}/{manifest}", "--endpoint-url", s3_endpoint)
    assert checked.returncode == 0, checked.stderr + checked.stdout
    by_id = run_cli(
        "verify", RUN_ID, "--shard", "0/2", "--bucket", bucket, "--date", "2022-05-02", "--endpoint-url", s3_endpoint,
        "--json",
    )  # fmt: skip
    assert by_id.returncode == 0, by_id.stderr + by_id.stdout
    assert json.loads(by_id.stdout)["manifest_key"] == manifest
    missing = run_cli(
        "verify", RUN_ID, "--shard", "1/2", "--bucket", bucket, "--date", "2022-05-02", "--endpoint-url", s3_endpoint
    )
    assert missing.returncode == 2, missing.stderr
    assert "shard-0001-of-0002.json" in missing.stderr
    both = run_cli("verify", f"s3://{bucket}/{manifest}", "--shard", "0/2", "--endpoint-url", s3_endpoint)
    assert both.returncode == 2
    assert "--shard goes with a run id" in both.stderr


def _shard_args(endpoint: str, bucket: str, sources: list[str], count: int) -> list[str]:
    return [
        "--bucket", bucket, "--endpoint-url", endpoint, "--date", "2022-05-02", "--shard", f"auto/{count}",
        "--run-id", RUN_ID, "--success-marker", "--log-level", "info", "--quiet", *sources,
    ]  # fmt: skip


def test_shards_started_at_once_like_an_indexed_job(
    proxy: FaultProxy, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """COUNT processes at once, the index in JOB_COMPLETION_INDEX: every file lands once, one writer per marker."""
    count, sources = 4, _files(make_file, 24)
    args = _shard_args(proxy.url, bucket, sources, count)
    processes = [start_cli(args, {"JOB_COMPLETION_INDEX": str(index)}) for index in range(count)]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0] * count, outputs
    found = objects(s3, bucket, manifests=True)
    assert len([key for key in found if key.endswith(".csv")]) == 24
    assert len(_markers(found)) == 3
    assert len([key for key in found if "/_manifests/" in key]) == count
    written = [line for _, stderr in outputs for line in stderr.splitlines() if "wrote marker" in line]
    assert len(written) == 3  # exactly one shard created each marker
    assert 3 <= _marker_puts(proxy) <= 3 * count  # shards finishing together may both try; one wins
    listings = [r for r in proxy.requests if r.method == "GET" and "list-type=2" in r.path and "shard-" in r.path]
    assert len(listings) == count  # one LIST of the run's shard manifests per shard
    uploads = [r for r in proxy.requests if r.method == "PUT" and r.path.split("?")[0].endswith(".csv")]
    assert len(uploads) == 24  # no file sent twice


def test_a_killed_shard_run_again_completes_the_set(
    proxy: FaultProxy, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """Shard 0 killed (SIGKILL) mid-upload leaves no markers; run again, it writes them."""
    count, sources = 3, _files(make_file)
    args = _shard_args(proxy.url, bucket, sources, count)
    for index in (1, 2):
        done = run_cli(*args, env={"JOB_COMPLETION_INDEX": str(index)})
        assert done.returncode == 0, done.stderr
    release = threading.Event()
    held = proxy.add(Fault(hold_until(release, timeout=60), method="PUT", path=".csv", times=1))
    killed = start_cli(args, {"JOB_COMPLETION_INDEX": "0"})
    try:
        assert held.wait(timeout=60)
        killed.send_signal(signal.SIGKILL)
        killed.communicate(timeout=30)
    finally:
        release.set()
    assert killed.returncode == -signal.SIGKILL
    assert _markers(objects(s3, bucket)) == []
    proxy.clear()
    again = run_cli(*args, env={"JOB_COMPLETION_INDEX": "0"})
    assert again.returncode == 0, again.stderr
    found = objects(s3, bucket, manifests=True)
    assert len(_markers(found)) == 3
    assert len([key for key in found if key.endswith(".csv")]) == 12
    assert len([key for key in found if "/_manifests/" in key]) == count
