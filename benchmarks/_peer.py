#!/usr/bin/env python3
"""One benchmark measurement in a fresh process: upload FILES with one client, print one JSON line.

    python benchmarks/_peer.py CLIENT --endpoint-url URL --bucket lake [--concurrency N] FILE|DIR...

``benchmarks/run.py`` starts this once per measurement, so every client pays its
own imports and its CPU time and peak memory are its own.  The JSON line holds
what is measured in-process (seconds unless named otherwise):

* ``t_interpreter``: process start to the first line of this script (from ``BENCH_T0``
  set by the parent); ``t_import``: importing the client library; ``t_client``:
  creating (opening) the client; ``startup``: the three together;
* ``transfer``: the uploads alone; ``t_close``: closing the client afterwards;
* ``cpu_transfer``: user+sys CPU of the whole process during the uploads;
  ``cpu_loop``: CPU of the thread that ran them (the event loop's, for async clients);
* ``rss_ready_mib``: peak RSS once the client was open, before any upload;
* for clients on an event loop, how late a task sleeping 5 ms at a time wakes up:
  ``lag_p99_ms``/``lag_max_ms`` during the uploads, ``lag_open_max_ms`` while the
  client was being opened (what a host application embedding it would feel).

Clients (see ``CLIENTS``): async_ingest, boto3_seq, boto3_threads, aioboto3_upload_file,
aioboto3_put_object, obstore.  ``--profile PATH`` profiles the uploads alone: a
pyinstrument sample of the event-loop thread for PATH ending in .txt or .html, else
cProfile stats.  ``--trace-blocking MS`` names the event-loop steps of MS or longer
during the uploads (see _blocking.py).
"""

from __future__ import annotations

import time

T_MAIN = time.time()

import argparse  # noqa: E402  (the first timestamp is taken before any import)
import asyncio  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from collections.abc import Awaitable, Callable  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

HEARTBEAT = 0.005
PROCESSING_DATE = datetime.date(2022, 5, 2)
MiB = 1024 * 1024


@dataclass
class Args:
    """What to upload, where, and how."""

    endpoint_url: str
    bucket: str
    region: str
    concurrency: int
    part_size: int
    files: list[Path]
    date: datetime.date = PROCESSING_DATE
    profile: str | None = None
    tracer: Any = None
    #: async_ingest only: its processes, and whether a folder's files share the folder's category.
    workers: int = 1
    category_from_parent: bool = False


@dataclass
class Timings:
    """Phase timestamps and heartbeat lags filled in while a client runs."""

    imported: float = 0.0
    client_ready: float = 0.0
    transfer_start: float = 0.0
    transfer_end: float = 0.0
    cpu_start: float = 0.0
    cpu_end: float = 0.0
    #: CPU time of the thread that runs the uploads (the event loop's, for async clients).
    thread_cpu_start: float = 0.0
    thread_cpu_end: float = 0.0
    rss_ready_mib: float = 0.0
    #: Heartbeat lags (seconds) by the phase in which each 5 ms sleep began: "open", "transfer", "close".
    lags: dict[str, list[float]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def ready(self) -> None:
        """The client is created: note the time and the peak RSS so far."""
        self.client_ready = time.perf_counter()
        self.rss_ready_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Heartbeat:
    """A task on the client's event loop that sleeps 5 ms at a time and records how late it wakes.

    Started before the client is opened, so a host application's view of the whole embedded run
    is seen: lags are kept by the phase (``open``, ``transfer``, ``close``) in which each sleep began.
    """

    def __init__(self, timings: Timings) -> None:
        self.timings = timings
        self.phase = "open"
        self._stop = False
        self._task: asyncio.Task[None] | None = None

    async def _beat(self) -> None:
        clock = time.perf_counter
        while not self._stop:
            phase = self.phase
            before = clock()
            await asyncio.sleep(HEARTBEAT)
            self.timings.lags.setdefault(phase, []).append(max(0.0, clock() - before - HEARTBEAT))

    async def __aenter__(self) -> Heartbeat:
        self._task = asyncio.create_task(self._beat())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop = True
        assert self._task is not None
        await self._task


class Phase:
    """Marks the start and end of the uploads (wall and CPU), optionally under a profiler.

    *profile* ending in ``.txt`` or ``.html`` samples the main thread with pyinstrument (where the
    event loop runs); any other name writes cProfile stats.
    """

    def __init__(self, timings: Timings, args: Args) -> None:
        self.timings = timings
        self.profile = args.profile
        self.tracer = args.tracer
        self._profiler: Any = None

    def __enter__(self) -> None:
        if self.profile and self.profile.endswith((".txt", ".html")):
            from pyinstrument import Profiler

            self._profiler = Profiler(interval=0.0005, async_mode="disabled")
            self._profiler.start()
        elif self.profile:
            import cProfile

            self._profiler = cProfile.Profile()
            self._profiler.enable()
        self.timings.cpu_start = _cpu()
        self.timings.thread_cpu_start = time.thread_time()
        self.timings.transfer_start = time.perf_counter()
        if self.tracer is not None:
            self.tracer.active = True

    def __exit__(self, *exc: object) -> None:
        self.timings.transfer_end = time.perf_counter()
        self.timings.thread_cpu_end = time.thread_time()
        self.timings.cpu_end = _cpu()
        if self.tracer is not None:
            self.tracer.active = False
        if self.profile is None:
            return
        if self.profile.endswith(".txt"):
            self._profiler.stop()
            Path(self.profile).write_text(self._profiler.output_text(unicode=False, color=False, show_all=False))
        elif self.profile.endswith(".html"):
            self._profiler.stop()
            Path(self.profile).write_text(self._profiler.output_html())
        else:
            self._profiler.disable()
            self._profiler.dump_stats(self.profile)


def _key(client: str, path: Path) -> str:
    return f"bench/{client}/{path.name}"


# --- clients -------------------------------------------------------------------------------------


def run_async_ingest(args: Args, timings: Timings) -> None:
    """async_ingest's library API, embedded: Ingestor as a context manager, then ingest()."""
    import async_ingest

    timings.imported = time.perf_counter()

    async def main() -> None:
        async with (
            Heartbeat(timings) as heartbeat,
            async_ingest.Ingestor(
                bucket=args.bucket,
                endpoint_url=args.endpoint_url,
                region=args.region,
                concurrency=args.concurrency,
                part_size=args.part_size,
                workers=args.workers,
                category_from_parent=args.category_from_parent,
            ) as ingestor,
        ):
            timings.ready()
            heartbeat.phase = "transfer"
            with Phase(timings, args):
                report = await ingestor.ingest(args.files, date=args.date)
            heartbeat.phase = "close"
        report.raise_for_failures()
        statuses = {str(f.status) for f in report.files}
        if statuses != {"uploaded"}:
            raise SystemExit(
                f"async_ingest did not upload every file (statuses: {sorted(statuses)}): not a measurement"
            )
        algorithms = {f.checksum_algorithm for f in report.files}
        timings.extra["checksum"] = ",".join(sorted(a or "none" for a in algorithms))
        timings.extra["report_duration"] = report.duration

    asyncio.run(main())


def _boto3_client(args: Args, pool: int = 10) -> Any:
    import boto3
    from botocore.config import Config

    timings_config = Config(max_pool_connections=pool, region_name=args.region)
    return boto3.client("s3", endpoint_url=args.endpoint_url, config=timings_config)


def run_boto3_seq(args: Args, timings: Timings) -> None:
    """The original job: boto3's upload_file, one file after the other (default TransferConfig)."""
    import boto3  # noqa: F401

    timings.imported = time.perf_counter()
    s3 = _boto3_client(args)
    timings.ready()
    with Phase(timings, args):
        for path in args.files:
            s3.upload_file(str(path), args.bucket, _key("boto3_seq", path))


def run_boto3_threads(args: Args, timings: Timings) -> None:
    """boto3's upload_file from a thread pool of ``--concurrency`` threads sharing one client."""
    import boto3  # noqa: F401

    timings.imported = time.perf_counter()
    s3 = _boto3_client(args, pool=max(10, args.concurrency))
    timings.ready()
    with Phase(timings, args), ThreadPoolExecutor(args.concurrency) as pool:
        futures = [pool.submit(s3.upload_file, str(p), args.bucket, _key("boto3_threads", p)) for p in args.files]
        for future in futures:
            future.result()


def _aioboto3_run(args: Args, timings: Timings, upload: Callable[[Any, Path], Awaitable[Any]], pool: int) -> None:
    import aioboto3
    from aiobotocore.config import AioConfig

    timings.imported = time.perf_counter()

    async def main() -> None:
        session = aioboto3.Session(region_name=args.region)
        config = AioConfig(max_pool_connections=pool)
        async with (
            Heartbeat(timings) as heartbeat,
            session.client("s3", endpoint_url=args.endpoint_url, config=config) as s3,
        ):
            timings.ready()
            heartbeat.phase = "transfer"
            limit = asyncio.Semaphore(args.concurrency)

            async def one(path: Path) -> None:
                async with limit:
                    await upload(s3, path)

            with Phase(timings, args):
                await asyncio.gather(*(one(p) for p in args.files))
            heartbeat.phase = "close"

    asyncio.run(main())


def run_aioboto3_upload_file(args: Args, timings: Timings) -> None:
    """aioboto3's upload_file (default transfer config), every file at once up to ``--concurrency``."""

    async def upload(s3: Any, path: Path) -> None:
        await s3.upload_file(str(path), args.bucket, _key("aioboto3_upload_file", path))

    _aioboto3_run(args, timings, upload, pool=max(10, args.concurrency))


def run_aioboto3_put_object(args: Args, timings: Timings) -> None:
    """aioboto3's put_object, each file read whole in a thread (small files), up to ``--concurrency`` at once."""

    async def upload(s3: Any, path: Path) -> None:
        body = await asyncio.to_thread(path.read_bytes)
        await s3.put_object(Bucket=args.bucket, Key=_key("aioboto3_put_object", path), Body=body)

    _aioboto3_run(args, timings, upload, pool=max(10, args.concurrency))


def run_obstore(args: Args, timings: Timings) -> None:
    """obstore's put_async from a Path (multipart with ``--part-size`` chunks), up to ``--concurrency`` files."""
    import obstore
    from obstore.store import S3Store

    timings.imported = time.perf_counter()

    async def main() -> None:
        async with Heartbeat(timings) as heartbeat:
            store = S3Store(
                args.bucket,
                endpoint=args.endpoint_url,
                region=args.region,
                client_options={"allow_http": args.endpoint_url.startswith("http:")},
            )
            timings.ready()
            heartbeat.phase = "transfer"
            limit = asyncio.Semaphore(args.concurrency)

            async def one(path: Path) -> None:
                async with limit:
                    await obstore.put_async(store, _key("obstore", path), path, chunk_size=args.part_size)

            with Phase(timings, args):
                await asyncio.gather(*(one(p) for p in args.files))
            heartbeat.phase = "close"

    asyncio.run(main())


CLIENTS: dict[str, Callable[[Args, Timings], None]] = {
    "async_ingest": run_async_ingest,
    "boto3_seq": run_boto3_seq,
    "boto3_threads": run_boto3_threads,
    "aioboto3_upload_file": run_aioboto3_upload_file,
    "aioboto3_put_object": run_aioboto3_put_object,
    "obstore": run_obstore,
}


def _expand(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")))
        else:
            files.append(path)
    return files


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def main(argv: list[str] | None = None) -> int:
    """Run one client once and print its measurement as one JSON line on stdout."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("client", choices=sorted(CLIENTS))
    parser.add_argument("paths", nargs="+", help="files, or directories whose files are uploaded")
    parser.add_argument("--endpoint-url", required=True)
    parser.add_argument("--bucket", default="lake")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
    parser.add_argument("--concurrency", type=int, default=8, help="files (or, for async_ingest, requests) at once")
    parser.add_argument("--part-size", type=int, default=8 * MiB)
    parser.add_argument(
        "--date",
        type=datetime.date.fromisoformat,
        default=PROCESSING_DATE,
        help="async_ingest's processing date, part of its keys [2022-05-02]",
    )
    parser.add_argument("--workers", type=int, default=1, help="async_ingest's worker processes [1]")
    parser.add_argument(
        "--category-from-parent",
        action="store_true",
        help="async_ingest: a folder's files go under the folder's category (one partition, one LIST)",
    )
    parser.add_argument(
        "--profile",
        metavar="PATH",
        help="profile the uploads: PATH.txt/.html a pyinstrument sample of the loop thread, else cProfile stats",
    )
    parser.add_argument(
        "--trace-blocking",
        type=float,
        metavar="MS",
        help="report on stderr the event-loop steps of the uploads that took MS or longer, and where",
    )
    ns = parser.parse_args(argv)
    tracer = None
    if ns.trace_blocking is not None:
        from _blocking import BlockingTracer

        tracer = BlockingTracer(ns.trace_blocking / 1000)
        tracer.install()
    args = Args(
        endpoint_url=ns.endpoint_url,
        bucket=ns.bucket,
        region=ns.region or "us-east-1",
        concurrency=ns.concurrency,
        part_size=ns.part_size,
        files=_expand(ns.paths),
        date=ns.date,
        profile=ns.profile,
        tracer=tracer,
        workers=ns.workers,
        category_from_parent=ns.category_from_parent,
    )
    timings = Timings()
    started = time.perf_counter()
    CLIENTS[ns.client](args, timings)
    finished = time.perf_counter()
    t0 = float(os.environ.get("BENCH_T0", T_MAIN))
    lags_ms = [lag * 1000 for lag in timings.lags.get("transfer", [])]
    open_ms = [lag * 1000 for lag in timings.lags.get("open", [])]
    result = {
        "client": ns.client,
        "files": len(args.files),
        "bytes": sum(p.stat().st_size for p in args.files),
        "t_interpreter": round(T_MAIN - t0, 4),
        "t_import": round(timings.imported - started, 4),
        "t_client": round(timings.client_ready - timings.imported, 4),
        "startup": round(T_MAIN - t0 + timings.client_ready - started, 4),
        "transfer": round(timings.transfer_end - timings.transfer_start, 4),
        "t_close": round(finished - timings.transfer_end, 4),
        "cpu_transfer": round(timings.cpu_end - timings.cpu_start, 4),
        "cpu_loop": round(timings.thread_cpu_end - timings.thread_cpu_start, 4),
        "rss_ready_mib": round(timings.rss_ready_mib, 1),
        "lag_samples": len(lags_ms),
        "lag_p99_ms": round(_percentile(lags_ms, 0.99), 3) if lags_ms else None,
        "lag_max_ms": round(max(lags_ms), 3) if lags_ms else None,
        "lag_open_max_ms": round(max(open_ms), 3) if open_ms else None,
        **timings.extra,
    }
    print(json.dumps(result), flush=True)
    if tracer is not None:
        print(tracer.report(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
