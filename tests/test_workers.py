"""Worker processes sharing the small files of many-file runs, against the test server."""

from __future__ import annotations

import datetime
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

import async_ingest
from async_ingest import ConfigError, FileStatus, IngestConfig, Ingestor, ProgressEvent, RunPlan, WorkerError
from async_ingest._messages import HEADER, Failed, Job, frame, load
from async_ingest._plan import UploadSpec
from async_ingest._workers import WORKER_COMMAND, WorkerPool, share

from . import conftest
from .conftest import DAY, MiB, objects, run_cli
from .faultproxy import Fault, FaultProxy, hold_until

pytestmark = pytest.mark.anyio

SMALL = {**conftest.SMALL, "manifest": False}
#: Enough single-request files for two processes (each takes at least 64).
COUNT = 130
#: A worker that breaks the protocol in the way its one argument names (see the script).
FAKE_WORKER = Path(__file__).with_name("fakeworker.py")


def worker_processes(marker: str | None = None, *, program: bytes = b"async_ingest._worker") -> list[int]:
    """Pids of this process's children running *program* (or of any with *marker* in its environment)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes() if marker else b""
        except OSError:
            continue
        parent = int(stat.rpartition(")")[2].split()[1])
        ours = marker.encode() in environ if marker else parent == os.getpid()
        if ours and program in cmdline:
            found.append(int(entry.name))
    return found


def assert_whole(landed: dict[str, bytes], files: list[Path]) -> None:
    """Whatever landed is a whole file: a PUT the server received entire (the proxy lets held ones through
    once released) completes, one cut off does not."""
    by_name = {path.name: path.read_bytes() for path in files}
    for key, body in landed.items():
        assert body == by_name[key.rpartition("/")[2]], key


def hold_puts(proxy: FaultProxy) -> tuple[threading.Event, Fault]:
    """Hold every PUT at the proxy until the event is set."""
    release = threading.Event()
    return release, proxy.add(Fault(hold_until(release, timeout=60), method="PUT", times=None))


def many_files(make_file: Callable[..., Path], count: int = COUNT) -> list[Path]:
    return [make_file(f"events/e{i:04d}.json", 1000 + i) for i in range(count)]


async def test_workers_share_the_small_files_and_every_byte_lands(
    s3_endpoint: str, bucket: str, s3: Any, make_file: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    """Two processes upload the small files, this one the multipart file; results, progress and logs come back."""
    files = many_files(make_file)
    big = make_file("movies.csv", 6 * MiB)
    results: list[async_ingest.FileResult] = []
    events: list[ProgressEvent] = []
    caplog.set_level(logging.INFO, logger="async_ingest")
    async with Ingestor(
        bucket=bucket, endpoint_url=s3_endpoint, workers=2, category_from_parent=True, **SMALL
    ) as ingestor:
        assert len(worker_processes()) == 1
        report = await ingestor.ingest(
            [files[0].parent, big],
            date=DAY,
            on_result=results.append,
            on_progress=events.append,
        )
    assert worker_processes() == []  # closing the Ingestor stopped its worker
    assert report.ok, report.failed
    assert report.summary["uploaded"] == COUNT + 1
    assert Counter(r.key for r in results) == Counter(f.key for f in report.files)  # each exactly once
    finished = Counter(e.key for e in events if e.kind == "finished")
    assert finished == Counter({f.key: 1 for f in report.files})
    landed = objects(s3, bucket)
    for path in files:
        assert landed[f"Raw/Local/JSON/events/2022/05/02/{path.name}"] == path.read_bytes()
    [big_result] = [f for f in report.files if f.source == str(big)]
    assert big_result.parts == 2
    assert landed[big_result.key] == big.read_bytes()
    # The worker's log records reach this process's handlers, stamped with the worker's pid.
    uploaders = {r.process for r in caplog.records if r.getMessage().startswith("uploaded Raw/Local/JSON/")}
    assert len(uploaders) == 2
    assert os.getpid() in uploaders


async def test_a_rerun_with_workers_skips_everything(
    s3_endpoint: str, bucket: str, make_file: Callable[..., Path]
) -> None:
    """Each process checks its own share: a second identical run sends no file again."""
    files = many_files(make_file)
    settings = {"bucket": bucket, "endpoint_url": s3_endpoint, "workers": 2, **SMALL}
    first = await async_ingest.ingest(files, date=DAY, **settings)
    assert first.summary["uploaded"] == COUNT
    second = await async_ingest.ingest(files, date=DAY, **settings)
    assert second.summary["skipped"] == COUNT
    assert second.summary["bytes_uploaded"] == 0


async def test_few_files_stay_in_this_process(
    s3_endpoint: str, bucket: str, make_file: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    """Below 64 small files per process, a share is not worth its messages: the run stays here."""
    files = many_files(make_file, 100)
    caplog.set_level(logging.INFO, logger="async_ingest")
    report = await async_ingest.ingest(files, bucket=bucket, endpoint_url=s3_endpoint, date=DAY, workers=2, **SMALL)
    assert report.ok, report.failed
    uploaders = {r.process for r in caplog.records if r.getMessage().startswith("uploaded ")}
    assert uploaders == {os.getpid()}


async def test_workers_need_the_ingestors_own_client(client: Any) -> None:
    with pytest.raises(ConfigError, match="workers=2 needs the Ingestor's own client"):
        Ingestor(bucket="lake", client=client, workers=2)
    with pytest.raises(ConfigError, match="workers must be between 1 and 64"):
        Ingestor(bucket="lake", workers=0)


async def test_a_configuration_error_stops_the_workers_too(s3_endpoint: str) -> None:
    """An unknown profile fails the opening, and the workers started meanwhile do not outlive it."""
    with pytest.raises(ConfigError, match="profile"):
        async with Ingestor(bucket="lake", endpoint_url=s3_endpoint, profile="no-such-profile", workers=3):
            pass
    assert worker_processes() == []


async def test_cancelled_run_stops_its_workers(
    proxy: FaultProxy, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """Cancelled while the workers' PUTs are held, the run ends, no worker survives and nothing is half-written."""
    release, held = hold_puts(proxy)
    files = many_files(make_file)
    try:
        async with Ingestor(bucket=bucket, endpoint_url=proxy.url, workers=2, **SMALL) as ingestor:
            async with anyio.create_task_group() as tg:
                tg.start_soon(ingestor.ingest, files)
                with anyio.fail_after(20):
                    await held.wait_async(4)
                tg.cancel_scope.cancel()
            assert worker_processes() == []  # stopped with the run, before the Ingestor closed
    finally:
        release.set()
    assert_whole(objects(s3, bucket), files)


async def test_a_worker_that_dies_fails_only_its_own_files(
    proxy: FaultProxy, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """Killed mid-run, a worker's unreported files fail with WorkerFailed; this process's land."""
    release, held = hold_puts(proxy)
    files = many_files(make_file)
    async with Ingestor(bucket=bucket, endpoint_url=proxy.url, workers=2, **SMALL) as ingestor:
        [worker] = worker_processes()
        worker_failed = anyio.Event()

        def on_result(result: async_ingest.FileResult) -> None:
            if result.error_code == "WorkerFailed":
                worker_failed.set()

        async with anyio.create_task_group() as tg:

            async def run() -> None:
                nonlocal report
                report = await ingestor.ingest(files, date=DAY, on_result=on_result)

            report: async_ingest.IngestReport | None = None
            tg.start_soon(run)
            with anyio.fail_after(20):
                await held.wait_async(4)
            os.kill(worker, signal.SIGKILL)
            with anyio.fail_after(20):
                # This process has reaped the worker and failed its files: none of its PUTs can go on.
                await worker_failed.wait()
            release.set()
    assert report is not None
    statuses = Counter(f.status for f in report.files)
    assert statuses[FileStatus.FAILED] > 0
    assert statuses[FileStatus.UPLOADED] > 0
    assert statuses[FileStatus.FAILED] + statuses[FileStatus.UPLOADED] == COUNT
    assert {f.error_code for f in report.failed} == {"WorkerFailed"}
    landed = objects(s3, bucket)
    by_source = {str(path): path.read_bytes() for path in files}
    for result in report.files:
        if result.status is FileStatus.UPLOADED:
            assert landed[result.key] == by_source[result.source]


def spec(index: int, *, multipart: bool = False) -> UploadSpec:
    return UploadSpec(
        source=Path(f"/data/f{index}"),
        key=f"k/{index}",
        category="C",
        size=10,
        mtime_ns=0,
        inode=index,
        part_size=5 * MiB,
        part_count=1,
        multipart=multipart,
    )


@pytest.mark.parametrize(
    ("singles", "processes", "sizes"),
    [(200, 2, [100, 100]), (200, 4, [67, 67, 66]), (127, 2, [127]), (128, 2, [64, 64]), (500, 1, [500])],
)
def test_share_deals_single_requests_out_keeping_multipart_here(singles: int, processes: int, sizes: list[int]) -> None:
    """At most one share per process, of 64 single-request files at least; multipart uploads stay in the first."""
    specs = [spec(i) for i in range(singles)] + [spec(1000, multipart=True)]
    shares = share(specs, processes)
    assert [sum(not s.multipart for s in part) for part in shares] == sizes
    assert [s.key for s in shares[0] if s.multipart] == ["k/1000"]
    assert sorted(s.key for part in shares for s in part) == sorted(s.key for s in specs)


def fake_worker(mode: str) -> tuple[str, ...]:
    return (sys.executable, str(FAKE_WORKER), mode)


def a_plan(*specs: UploadSpec) -> RunPlan:
    now = datetime.datetime.now(datetime.UTC)
    return RunPlan(run_id="run", bucket="lake", date=DAY, created_at=now, uploads=specs)


def test_worker_error_is_exported() -> None:
    """WorkerError, which opening an Ingestor with workers can raise, is public and an IngestError."""
    assert "WorkerError" in async_ingest.__all__
    assert async_ingest.WorkerError is WorkerError
    assert issubclass(WorkerError, async_ingest.IngestError)


@pytest.mark.parametrize(
    ("mode", "error", "match"),
    [
        pytest.param("done-first", WorkerError, "a worker process sent Done before Ready", id="not-ready-first"),
        pytest.param("config-error", ConfigError, "^AWS configuration: no good$", id="config-error-as-is"),
        pytest.param(
            "os-error", WorkerError, r"could not start: OSError: \[Errno 24\] Too many open files", id="other-error"
        ),
    ],
)
async def test_wait_ready_takes_only_ready(mode: str, error: type[Exception], match: str) -> None:
    """A worker's first message must be Ready: what it reports instead fails the opening, and it is stopped."""
    pool = await WorkerPool.spawn(IngestConfig(bucket="lake", workers=2), 1, command=fake_worker(mode))
    with pytest.raises(error, match=match) as raised:
        await pool.wait_ready()
    assert isinstance(raised.value, ConfigError) == (error is ConfigError)
    assert pool.usable() == []
    assert worker_processes(program=FAKE_WORKER.name.encode()) == []


async def test_an_unknown_message_fails_the_workers_share() -> None:
    """A message of no known kind during a run is a WorkerError (the run fails the share's files), and the
    worker is stopped rather than waited on."""
    pool = await WorkerPool.spawn(IngestConfig(bucket="lake", workers=2), 1, command=fake_worker("unknown-in-run"))
    await pool.wait_ready()
    results: list[async_ingest.FileResult] = []
    try:
        with pytest.raises(WorkerError, match=r"sent an unknown message: \('result', None\)"):
            await pool.run(0, a_plan(spec(1)), on_result=results.append, on_progress=None)
        assert results == []
        assert pool.usable() == []
        assert worker_processes(program=FAKE_WORKER.name.encode()) == []
        with pytest.raises(WorkerError, match="has stopped"):
            await pool.run(0, a_plan(spec(2)), on_result=results.append, on_progress=None)
    finally:
        await pool.aclose()


async def test_results_sent_while_cancelled_are_kept() -> None:
    """A file a worker reports landed while its run is being cancelled is passed on, not left without a result."""
    pool = await WorkerPool.spawn(IngestConfig(bucket="lake", workers=2), 1, command=fake_worker("late-result"))
    await pool.wait_ready()
    results: list[async_ingest.FileResult] = []
    try:
        with anyio.move_on_after(0.5):  # the fake answers only SIGTERM, whenever it comes
            await pool.run(0, a_plan(spec(1), spec(2)), on_result=results.append, on_progress=None)
        assert [(r.key, r.status) for r in results] == [(spec(1).key, FileStatus.UPLOADED)]
        assert pool.usable() == []
        assert worker_processes(program=FAKE_WORKER.name.encode()) == []
    finally:
        await pool.aclose()


def test_the_worker_takes_start_first() -> None:
    """The real worker, sent a Job before any Start, answers Failed (a WorkerError naming it) and exits 1."""
    done = subprocess.run(WORKER_COMMAND, input=frame(Job(a_plan(), progress=False)), capture_output=True, timeout=60)
    assert done.returncode == 1, done.stderr
    (length,) = HEADER.unpack(done.stdout[: HEADER.size])
    reply = load(done.stdout[HEADER.size : HEADER.size + length])
    assert isinstance(reply, Failed)
    assert isinstance(reply.error, WorkerError)
    assert str(reply.error) == "the parent process sent Job before Start"
    assert len(done.stdout) == HEADER.size + length


@pytest.mark.parametrize(
    ("planted", "code", "message"),
    [
        pytest.param(
            {"async_ingest/__init__.py": "raise ImportError('not this async_ingest')\n"},
            1,
            "a worker process exited while starting (exit code 1)",
            id="cannot-start-is-a-run-failure",
        ),
        pytest.param(
            {"sitecustomize.py": "import os\nos.environ['AWS_PROFILE'] = 'no-such-profile'\n"},
            2,
            "no-such-profile",
            id="config-error-is-a-usage-error",
        ),
    ],
)
def test_cli_worker_that_cannot_start(
    tmp_path: Path,
    s3_endpoint: str,
    bucket: str,
    s3: Any,
    make_file: Callable[..., Path],
    planted: dict[str, str],
    code: int,
    message: str,
) -> None:
    """A worker that cannot start fails the run (exit 1); one whose configuration is bad is a usage error (exit 2).

    Only the workers see the planted files: they are on PYTHONPATH, which ``python -E`` hides from the command
    (run outside the source tree, which ``-m`` would put first).
    """
    site = tmp_path / "site"
    for name, text in planted.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(text)
    source = make_file("data/movies.csv", 100)
    done = subprocess.run(
        [sys.executable, "-E", "-m", "async_ingest", source, "--bucket", bucket, "--endpoint-url", s3_endpoint,
         "--workers", "2", "--json"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(site)}, cwd=tmp_path, timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == code, done.stderr
    [line] = [line for line in done.stderr.splitlines() if line.startswith("async-ingest: error: ")]
    assert message in line
    assert done.stdout == ""
    assert objects(s3, bucket) == {}  # nothing sent
    assert worker_processes() == []


def test_cli_workers(s3_endpoint: str, bucket: str, make_file: Callable[..., Path]) -> None:
    """--workers N on the command line; a bad value is a usage error naming the flag."""
    files = many_files(make_file)
    done = run_cli(
        files[0].parent, "--bucket", bucket, "--endpoint-url", s3_endpoint, "--date", "2022-05-02", "--workers", "2",
        "--json", "--no-manifest",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["summary"]["uploaded"] == COUNT
    bad = run_cli(files[0].parent, "--bucket", bucket, "--workers", "0")
    assert bad.returncode == 2
    assert "--workers" in bad.stderr
    local = run_cli(files[0].parent, "--local", "--workers", "2")
    assert local.returncode == 2
    assert "--local runs in one process" in local.stderr


def test_ctrl_c_stops_the_workers_and_exits_130(
    proxy: FaultProxy, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """Ctrl-C reaches the command (the workers are out of the terminal's group), which stops them and exits 130."""
    release, held = hold_puts(proxy)
    files = many_files(make_file)
    marker = f"ASYNC_INGEST_TEST_RUN={uuid.uuid4().hex}"
    name, _, value = marker.partition("=")
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "async_ingest", files[0].parent, "--bucket", bucket, "--workers", "2", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "AWS_ENDPOINT_URL": proxy.url, name: value},
        )
        assert held.wait(count=4, timeout=30), "no PUT was sent"
        assert len(worker_processes(marker)) == 1
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        release.set()
    assert process.returncode == 130, stderr
    assert worker_processes(marker) == []
    assert "Traceback" not in stderr
    statuses = Counter(f["status"] for f in json.loads(stdout)["files"])
    assert statuses == Counter({"interrupted": COUNT})
    assert_whole(objects(s3, bucket), files)
