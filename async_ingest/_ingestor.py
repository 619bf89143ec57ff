"""Ingestor: owns or borrows an S3 client, plans runs and uploads every file concurrently."""

from __future__ import annotations

import datetime
import enum
import importlib
import json
import logging
import mimetypes
import os
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

import anyio

from ._buffers import BufferPool
from ._client import open_client
from ._config import IngestConfig
from ._errors import describe_error, expected_errors
from ._exceptions import ConfigError
from ._plan import Source, UploadSpec, plan_uploads
from ._results import FileResult, FileStatus, IngestReport, ProgressEvent
from ._sweep import StaleUpload, sweep_uploads

if TYPE_CHECKING:
    from ._workers import WorkerPool

__all__ = ["Ingestor", "RunPlan", "ingest"]

log = logging.getLogger("async_ingest")

#: Errors that no other file of the run can escape either: once seen, files not yet started fail at once.
RUN_WIDE_ERRORS = frozenset(
    {
        "NoSuchBucket",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "NoCredentials",
        "AllAccessDisabled",
        "PermanentRedirect",
        "AuthorizationHeaderMalformed",
    }
)

#: File reads (and their checksums) in worker threads at once, per Ingestor.  Two keep up with
#: ~600 MB/s of uploads on 2 cores; more only compete with the event-loop thread for the CPU and
#: the GIL (movies/series, 4 alternating runs: heartbeat max lag 22-31 ms with up to 40 reads at
#: once, 6-9 ms with 2, transfer no slower).
READERS = 2

SourceArg = str | os.PathLike[str] | Source
ResultCallback = Callable[[FileResult], None]
ProgressCallback = Callable[[ProgressEvent], None]


def _first_leaf(error: BaseException) -> BaseException:
    """The first exception inside (possibly nested) exception groups."""
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


def _guess_type(name: str) -> str:
    """A Content-Type from a file name; CSV and friends are text, unknown is binary."""
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or "application/octet-stream"


def _new_run_id(now: datetime.datetime) -> str:
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass(frozen=True, kw_only=True)
class RunPlan:
    """A run decided and validated, nothing sent yet: its identity, date and every upload."""

    run_id: str
    bucket: str
    date: datetime.date
    created_at: datetime.datetime
    uploads: tuple[UploadSpec, ...]
    endpoint_url: str | None = None

    def result(self, spec: UploadSpec, status: FileStatus, **fields: Any) -> FileResult:
        """A result for *spec* with *status* and any further fields."""
        return FileResult(
            source=os.fsdecode(spec.source),
            key=spec.key,
            category=spec.category,
            size=spec.size,
            status=status,
            **fields,
        )

    def report(
        self,
        results: Mapping[str, FileResult],
        *,
        missing: FileStatus,
        dry_run: bool = False,
    ) -> IngestReport:
        """The run's report: *results* by key, and *missing* for every planned file without one."""
        files = tuple(results.get(spec.key) or self.result(spec, missing) for spec in self.uploads)
        return IngestReport(
            run_id=self.run_id,
            bucket=self.bucket,
            date=self.date,
            started_at=self.created_at,
            finished_at=_utcnow(),
            files=files,
            dry_run=dry_run,
            endpoint_url=self.endpoint_url,
        )


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

    def __init__(self, config: IngestConfig | None = None, /, *, client: Any = None, **settings: Any) -> None:
        if config is None:
            config = IngestConfig(**settings)
        elif settings:
            config = replace(config, **settings)
        if client is not None and config.workers > 1:
            raise ConfigError(
                f"workers={config.workers} needs the Ingestor's own client: worker processes cannot share "
                "a borrowed one; pass workers=1 or no client"
            )
        self.config = config
        self._borrowed = client
        self._client: Any = client
        self._stack: AsyncExitStack | None = None
        self._pool: WorkerPool | None = None
        self._slots: anyio.Semaphore | None = None
        self._readers: anyio.CapacityLimiter | None = None
        self._buffers = BufferPool(self.config.buffer_memory)
        self._state = _State.UNOPENED

    async def __aenter__(self) -> Self:
        if self._state is not _State.UNOPENED:
            raise RuntimeError("an Ingestor can be opened only once; create a new one")
        self._state = _State.OPENED
        self._slots = anyio.Semaphore(self.config.concurrency)
        self._readers = anyio.CapacityLimiter(READERS)
        # The upload machinery (awscrt's checksums, botocore's errors, the worker pool): ~20-40 ms of
        # imports, done off the loop; `import async_ingest` (and --help) stays without them.
        for module in ("_transfer", "_workers"):
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
        self._state = _State.CLOSED
        if self._stack is not None:
            stack, self._stack = self._stack, None
            with anyio.CancelScope(shield=True):
                await stack.aclose()

    @property
    def client(self) -> Any:
        """The aioboto3 S3 client in use (None before the Ingestor is opened, unless borrowed)."""
        return self._client

    async def plan(self, sources: Sequence[SourceArg], *, date: datetime.date | None = None) -> RunPlan:
        """Resolve, validate and plan *sources*; raises ConfigError or SourceError, sends nothing."""
        now = _utcnow()
        run_date = date if date is not None else self.config.today()
        keys = self.config.key_builder(run_date)
        uploads = await anyio.to_thread.run_sync(
            lambda: plan_uploads(
                list(sources),
                keys,
                part_size=self.config.part_size,
                multipart_threshold=self.config.multipart_threshold,
                follow_symlinks=self.config.follow_symlinks,
                include=self.config.include,
                exclude=self.config.exclude,
                recursive=self.config.recursive,
                category_from_parent=self.config.category_from_parent,
            )
        )
        return RunPlan(
            run_id=_new_run_id(now),
            bucket=self.config.bucket,
            date=run_date,
            created_at=now,
            uploads=uploads,
            endpoint_url=self.config.endpoint_url,
        )

    async def ingest(
        self,
        sources: Sequence[SourceArg] | RunPlan,
        *,
        date: datetime.date | None = None,
        dry_run: bool = False,
        on_result: ResultCallback | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """Upload every source concurrently and report on each.

        One file's failure does not stop the others: it is reported as
        ``failed``.  Cancellation stops every upload, aborts the multipart
        uploads that were started, and propagates.
        """
        plan = sources if isinstance(sources, RunPlan) else await self.plan(sources, date=date)
        if self._client is not None:
            # The endpoint actually used, wherever it came from (AWS_ENDPOINT_URL, config files…).
            plan = replace(plan, endpoint_url=getattr(self._client.meta, "endpoint_url", plan.endpoint_url))
        if dry_run:
            return plan.report({}, missing=FileStatus.PLANNED, dry_run=True)
        if self._state is not _State.OPENED:
            raise RuntimeError("use the Ingestor as 'async with Ingestor(...) as ingestor:' before ingesting")
        assert self._slots is not None
        assert self._readers is not None
        from ._checksum import algorithm
        from ._transfer import Transfer

        sent: dict[str, int] = {}

        def progress(spec: UploadSpec, kind: Literal["started", "advanced", "finished"], **fields: Any) -> None:
            if on_progress is not None:
                event = ProgressEvent(
                    kind=kind,
                    key=spec.key,
                    source=os.fsdecode(spec.source),
                    size=spec.size,
                    done=sent[spec.key],
                    **fields,
                )
                on_progress(event)

        def advanced(spec: UploadSpec, nbytes: int) -> None:
            sent[spec.key] += nbytes
            progress(spec, "advanced", advance=nbytes)

        transfer = Transfer(
            self._client,
            plan.bucket,
            slots=self._slots,
            buffers=self._buffers,
            readers=self._readers,
            part_concurrency=self.config.concurrency,
            checksum=algorithm(self.config.checksum),
            abort_timeout=self.config.abort_timeout,
            if_exists=self.config.if_exists,
            object_args=self._object_args,
            on_bytes=advanced if on_progress is not None else None,
            run_id=plan.run_id,
        )
        if not mimetypes.inited:
            await anyio.to_thread.run_sync(mimetypes.init)  # reads the system's MIME tables once
        results: dict[str, FileResult] = {}
        log.info(
            "run %s: ingesting %d files into s3://%s",
            plan.run_id,
            len(plan.uploads),
            plan.bucket,
            extra={"run_id": plan.run_id},
        )

        from ._workers import WorkerError, share

        # With worker processes, each takes a share of the single-request files (and lists its own).
        workers = self._pool.usable() if self._pool is not None else []
        local, *shares = share(plan.uploads, 1 + len(workers)) if workers else [list(plan.uploads)]

        fatal: tuple[str, str] | None = None
        try:
            absent = await transfer.listed_absent(local)
        except expected_errors() as exc:
            log.info("listing the run's partitions failed (%s); checking each key instead", exc)
            absent = set()

        async def ingest_one(spec: UploadSpec) -> None:
            nonlocal fatal
            started = time.perf_counter()
            sent[spec.key] = 0
            progress(spec, "started")
            try:
                outcome = await transfer.upload(spec, absent)
            except* expected_errors() as group:
                exc = _first_leaf(group)
                message, code = describe_error(exc, bucket=plan.bucket, key=spec.key)
                notes = getattr(exc, "__notes__", None) or getattr(group, "__notes__", None) or []
                if notes:
                    message = "; ".join([message, *notes])
                result = plan.result(
                    spec,
                    FileStatus.FAILED,
                    error=message,
                    error_code=code,
                    duration=time.perf_counter() - started,
                )
                log.warning("%s failed: %s", spec.key, message, extra={"run_id": plan.run_id, "key": spec.key})
                if code in RUN_WIDE_ERRORS and fatal is None:
                    fatal = (message, code)
            else:
                status = FileStatus.SKIPPED if outcome.skipped else FileStatus.UPLOADED
                result = plan.result(
                    spec,
                    status,
                    parts=outcome.parts,
                    etag=outcome.etag,
                    checksum_algorithm=outcome.checksum_algorithm,
                    checksum=outcome.checksum,
                    version_id=outcome.version_id,
                    duration=time.perf_counter() - started,
                )
                log.info(
                    "%s %s (%d bytes, %d parts)",
                    status.value,
                    spec.key,
                    spec.size,
                    outcome.parts,
                    extra={"run_id": plan.run_id, "key": spec.key},
                )
            record(spec, result)

        def record(spec: UploadSpec, result: FileResult, *, announce: bool = True) -> None:
            results[spec.key] = result
            sent.setdefault(spec.key, 0)
            if announce:
                progress(spec, "finished", status=result.status)
            if on_result is not None:
                on_result(result)

        async def delegate(worker: int, specs: list[UploadSpec]) -> None:
            assert self._pool is not None
            by_key = {spec.key: spec for spec in specs}
            try:
                await self._pool.run(
                    worker,
                    replace(plan, uploads=tuple(specs)),
                    # The worker's own progress events include each file's "finished".
                    on_result=lambda result: record(by_key[result.key], result, announce=False),
                    on_progress=on_progress,
                )
            except WorkerError as exc:
                log.warning("%s", exc, extra={"run_id": plan.run_id})
                for spec in specs:
                    if spec.key not in results:
                        record(spec, plan.result(spec, FileStatus.FAILED, error=str(exc), error_code="WorkerFailed"))

        files = anyio.CapacityLimiter(self.config.concurrency)

        async def limited(spec: UploadSpec) -> None:
            async with files:
                if fatal is not None:
                    # The same error would meet every remaining file: fail fast instead of asking.
                    message, code = fatal
                    record(
                        spec, plan.result(spec, FileStatus.FAILED, error=f"not attempted: {message}", error_code=code)
                    )
                    return
                await ingest_one(spec)

        async with anyio.create_task_group() as tg:
            for worker, specs in zip(workers, shares, strict=False):
                tg.start_soon(delegate, worker, specs)
            for spec in local:
                tg.start_soon(limited, spec)
        report = plan.report(results, missing=FileStatus.INTERRUPTED)
        return await self._finish(report)

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
            now=_utcnow(),
        )

    def _object_args(self, spec: UploadSpec) -> dict[str, Any]:
        """The object settings sent with every PutObject / CreateMultipartUpload."""
        config = self.config
        args: dict[str, Any] = {"ContentType": config.content_type or _guess_type(spec.source.name)}
        if config.sse:
            args["ServerSideEncryption"] = config.sse
        if config.sse_kms_key_id:
            args["SSEKMSKeyId"] = config.sse_kms_key_id
        if config.storage_class:
            args["StorageClass"] = config.storage_class
        if config.metadata:
            args["Metadata"] = dict(config.metadata)
        return args

    async def _finish(self, report: IngestReport) -> IngestReport:
        """Write the run's markers and manifest after its files; their failures go in the report."""
        errors: list[str] = []
        bucket = report.bucket

        async def put(key: str, body: bytes, content_type: str) -> None:
            try:
                await self._client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
            except expected_errors() as exc:
                errors.append(f"could not write s3://{bucket}/{key}: {describe_error(exc, bucket=bucket, key=key)[0]}")

        if self.config.success_marker:
            partitions: dict[str, bool] = {}
            for result in report.files:
                partition = result.key.rpartition("/")[0]
                landed = result.status in (FileStatus.UPLOADED, FileStatus.SKIPPED)
                partitions[partition] = partitions.get(partition, True) and landed
            for partition, complete in partitions.items():
                if complete and partition:
                    await put(f"{partition}/_SUCCESS", b"", "application/octet-stream")
        manifest_key = None
        if self.config.manifest and report.files:
            manifest_key = self.config.manifest_key(report.date, report.run_id)
            document = replace(report, manifest_key=manifest_key, errors=tuple(errors)).to_dict()
            await put(manifest_key, json.dumps(document, indent=2).encode(), "application/json")
        return replace(report, manifest_key=manifest_key, errors=tuple(errors))


async def ingest(
    sources: Sequence[SourceArg],
    *,
    bucket: str,
    date: datetime.date | None = None,
    dry_run: bool = False,
    client: Any = None,
    **settings: Any,
) -> IngestReport:
    """Ingest *sources* into *bucket* in one call; see :class:`IngestConfig` for *settings*.

    >>> report = await ingest(["data/movies.csv"], bucket="lake", date=datetime.date(2022, 5, 2))
    """
    config = IngestConfig(bucket=bucket, **settings)
    ingestor = Ingestor(config, client=client)
    if dry_run:
        return await ingestor.ingest(sources, date=date, dry_run=True)
    async with ingestor:
        return await ingestor.ingest(sources, date=date)
