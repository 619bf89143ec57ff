"""Ingestor: owns or borrows an S3 client, plans runs and uploads every file concurrently."""

from __future__ import annotations

import datetime
import enum
import importlib
import logging
import os
import uuid
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import replace
from types import TracebackType
from typing import TYPE_CHECKING, Self, Unpack

import anyio

from ._bandwidth import TokenBucket, process_share
from ._buffers import BufferPool
from ._client import UPLOAD_MODULES, import_backend, open_client
from ._config import IngestConfig
from ._dates import file_date_rule
from ._exceptions import ConfigError
from ._kwargs import IngestSettings
from ._landing import check_landing_zone
from ._plan import RunPlan, Source, plan_uploads, source_roots
from ._results import FileResult, FileStatus, IngestReport
from ._run import ProgressCallback, Resources, ResultCallback, Run, utcnow
from ._shard import Shard
from ._sweep import StaleUpload, sweep_uploads

if TYPE_CHECKING:
    from ._types import S3Client
    from ._workers import WorkerPool

__all__ = ["Ingestor", "RunPlan", "ingest"]

log = logging.getLogger("async_ingest")

#: File reads (and their checksums) in worker threads at once, per Ingestor.  Two keep up with
#: the network on a small machine; more only compete with the event-loop thread for the CPU and
#: the GIL, which shows as lag on the host's loop (docs/benchmarks.md has the measurements).
READERS = 2

SourceArg = str | os.PathLike[str] | Source


def _new_run_id(now: datetime.datetime) -> str:
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


class _State(enum.Enum):
    UNOPENED = 1
    OPENED = 2
    CLOSED = 3


class Ingestor:
    """Uploads local files to one bucket under date-partitioned keys.

    Use it as an async context manager.  It creates its own aioboto3 client
    from the standard AWS configuration chain, or borrows *client* (an
    aiobotocore S3 client the host already has open) and leaves it open.
    The limit on requests in flight is the Ingestor's, shared by every run
    and every file it uploads.
    """

    def __init__(
        self,
        config: IngestConfig | None = None,
        /,
        *,
        bucket: str | None = None,
        client: S3Client | None = None,
        **settings: Unpack[IngestSettings],
    ) -> None:
        if config is None:
            if bucket is None:
                raise TypeError("Ingestor() needs an IngestConfig or the keyword argument 'bucket'")
            config = IngestConfig(bucket=bucket, **settings)
        elif bucket is not None or settings:
            config = replace(config, bucket=config.bucket if bucket is None else bucket, **settings)
        if client is not None and config.workers > 1:
            raise ConfigError(
                f"workers={config.workers} needs the Ingestor's own client: worker processes cannot share "
                "a borrowed one; pass workers=1 or no client"
            )
        self.config = config
        self._borrowed = client
        self._client: S3Client | None = client
        self._stack: AsyncExitStack | None = None
        self._pool: WorkerPool | None = None
        self._slots: anyio.Semaphore | None = None
        self._readers: anyio.CapacityLimiter | None = None
        self._buffers = BufferPool(self.config.buffer_memory)
        # One bucket for every run, file and part of this Ingestor; its worker processes have their own shares.
        rate = process_share(self.config.max_bandwidth, self.config.workers)
        self._bandwidth = TokenBucket(rate) if rate is not None else None
        self._state = _State.UNOPENED

    async def __aenter__(self) -> Self:
        if self._state is not _State.UNOPENED:
            raise RuntimeError("an Ingestor can be opened only once; create a new one")
        self._state = _State.OPENED
        self._slots = anyio.Semaphore(self.config.concurrency)
        self._readers = anyio.CapacityLimiter(READERS)
        # The upload machinery: imports that would stall the loop, done in a thread.
        for module in UPLOAD_MODULES:
            await anyio.to_thread.run_sync(importlib.import_module, f"{__package__}.{module}")
        if self._borrowed is None:
            async with AsyncExitStack() as stack:
                pool = None
                if self.config.workers > 1:
                    from ._workers import WorkerPool

                    # Started first, the workers open their clients while this process opens its own.
                    pool = await WorkerPool.spawn(self.config, self.config.workers - 1)
                try:
                    self._client = await open_client(self.config, stack)
                    if pool is not None:
                        await pool.wait_ready()
                except BaseException:
                    if pool is not None:
                        await pool.aclose(terminate=True)
                    raise
                if pool is not None:
                    stack.push_async_callback(pool.aclose)
                self._pool = pool
                self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close what the Ingestor owns (its client, its worker processes); a borrowed client stays open.

        Shielded from cancellation; calling it again does nothing.  A closed Ingestor cannot be reopened.
        """
        self._state = _State.CLOSED
        if self._stack is not None:
            stack, self._stack = self._stack, None
            with anyio.CancelScope(shield=True):
                await stack.aclose()

    @property
    def client(self) -> S3Client | None:
        """The S3 client in use (None before the Ingestor is opened, unless borrowed)."""
        return self._client

    async def plan(self, sources: Sequence[SourceArg], *, date: datetime.date | None = None) -> RunPlan:
        """Resolve, validate and plan *sources*; raises ConfigError or SourceError, sends nothing.

        Cancellable: the planning, in a worker thread, stops within a few hundred files.
        """
        now = utcnow()
        run_date = self.config.run_date(date)
        keys = self.config.key_builder(run_date)
        file_date = file_date_rule(self.config.date_from, self.config.timezone, hourly=keys.hourly)
        log.info("planning the run: %d sources given", len(sources))
        uploads = await anyio.to_thread.run_sync(
            lambda: plan_uploads(
                list(sources),
                keys,
                part_size=self.config.part_size,
                multipart_threshold=self.config.multipart_threshold,
                follow_symlinks=self.config.follow_symlinks,
                file_date=file_date,
                include=self.config.include,
                exclude=self.config.exclude,
                recursive=self.config.recursive,
                category_from_parent=self.config.category_from_parent,
                checkpoint=anyio.from_thread.check_cancelled,
            )
        )
        await anyio.to_thread.run_sync(lambda: check_landing_zone(self.config.move_source, source_roots(sources)))
        # Every shard plans (and validates) the whole run, then keeps its own share.
        shard = self.config.shard
        assert shard is None or isinstance(shard, Shard)  # IngestConfig makes a pair a Shard
        return RunPlan(
            run_id=self.config.run_id or _new_run_id(now),
            bucket=self.config.bucket,
            date=run_date,
            created_at=now,
            uploads=shard.select(uploads) if shard is not None else uploads,
            endpoint_url=self.config.endpoint_url,
            date_from=self.config.date_from,
            shard=shard,
            planned=len(uploads),
        )

    def new_run(self, plan: RunPlan) -> Run:
        """A run of *plan* through this open Ingestor, not started yet: ``await run.execute()``.

        Holding the run lets a caller that cancels it still get its report (``run.report()``),
        and lets a progress display use the run's clock (``run.clock``).
        """
        if self._state is not _State.OPENED:
            raise RuntimeError("use the Ingestor as 'async with Ingestor(...) as ingestor:' before ingesting")
        assert self._client is not None
        assert self._slots is not None
        assert self._readers is not None
        resources = Resources(
            config=self.config,
            client=self._client,
            slots=self._slots,
            readers=self._readers,
            buffers=self._buffers,
            pool=self._pool,
            bandwidth=self._bandwidth,
        )
        return Run(self._with_endpoint(plan), resources)

    async def ingest(
        self,
        sources: Sequence[SourceArg] | RunPlan,
        *,
        date: datetime.date | None = None,
        dry_run: bool = False,
        check_bucket: bool = False,
        on_result: ResultCallback | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """Upload every source concurrently and report on each.

        One file's failure does not stop the others: it is reported as
        ``failed``.  Cancellation stops every upload, aborts the multipart
        uploads that were started, and propagates.

        *dry_run* plans and reports without writing: every file ``planned``, contacting
        nothing (the Ingestor need not be open).  With *check_bucket* too (an open Ingestor),
        the bucket is read, never written (listings and HEADs), so the report says what a real
        run would do: ``skipped`` where identical content is there already, ``failed`` where
        the if-exists policy or S3 would refuse.
        """
        plan = sources if isinstance(sources, RunPlan) else await self.plan(sources, date=date)
        if dry_run:
            found = await self._check_bucket(plan) if check_bucket else {}
            return self._with_endpoint(plan).report(found, missing=FileStatus.PLANNED, dry_run=True)
        return await self.new_run(plan).execute(on_result=on_result, on_progress=on_progress)

    async def _check_bucket(self, plan: RunPlan) -> dict[str, FileResult]:
        """What a real run of *plan* would skip or refuse, learnt by reading the bucket only."""
        if self._state is not _State.OPENED:
            raise RuntimeError("a dry run with check_bucket=True needs an open Ingestor ('async with')")
        from ._preview import check_bucket

        assert self._readers is not None
        config = self.config
        readers, concurrency = self._readers, config.concurrency
        return await check_bucket(
            plan, self._client, if_exists=config.if_exists, readers=readers, concurrency=concurrency
        )

    def _with_endpoint(self, plan: RunPlan) -> RunPlan:
        """*plan* naming the endpoint actually used, wherever it came from (AWS_ENDPOINT_URL, config files…)."""
        if self._client is None:
            return plan
        return replace(plan, endpoint_url=getattr(self._client.meta, "endpoint_url", plan.endpoint_url))

    async def abort_stale_uploads(
        self,
        *,
        prefix: str = "",
        older_than: datetime.timedelta = datetime.timedelta(days=1),
        dry_run: bool = False,
    ) -> tuple[StaleUpload, ...]:
        """Abort the bucket's multipart uploads under *prefix* started more than *older_than* ago.

        Interrupted runs of any tool leave such uploads behind, billed until aborted.  With
        *dry_run* they are only listed.
        """
        if self._state is not _State.OPENED:
            raise RuntimeError("use the Ingestor as 'async with Ingestor(...) as ingestor:' first")
        return await sweep_uploads(
            self._client,
            self.config.bucket,
            prefix=prefix,
            older_than=older_than,
            dry_run=dry_run,
            now=utcnow(),
        )


async def ingest(
    sources: Sequence[SourceArg],
    *,
    bucket: str,
    date: datetime.date | None = None,
    dry_run: bool = False,
    client: S3Client | None = None,
    on_result: ResultCallback | None = None,
    on_progress: ProgressCallback | None = None,
    **settings: Unpack[IngestSettings],
) -> IngestReport:
    """Ingest *sources* into *bucket* in one call; see :class:`IngestConfig` for *settings*.

    *on_result* and *on_progress* are called as in :meth:`Ingestor.ingest`.

    >>> report = await ingest(["data/movies.csv"], bucket="lake", date=datetime.date(2022, 5, 2))
    """
    config = IngestConfig(bucket=bucket, **settings)
    await import_backend()
    ingestor = Ingestor(config, client=client)
    if dry_run:
        return await ingestor.ingest(sources, date=date, dry_run=True)
    async with ingestor:
        return await ingestor.ingest(sources, date=date, on_result=on_result, on_progress=on_progress)
