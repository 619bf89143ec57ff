"""One run of an Ingestor: its plan's files sent, their results recorded, its markers and manifest written.

A :class:`Run` holds everything a run has that its Ingestor does not: the plan, the
transfer, the results so far, the bytes sent, the run-wide failure that fails the files
not yet started, the caller's callbacks and the run's clock.  A run cut short
(cancelled, or its process interrupted) still reports what landed: :meth:`Run.report`.
"""

from __future__ import annotations

import datetime
import functools
import logging
import mimetypes
import time
from collections.abc import Callable, Container, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import IO, TYPE_CHECKING, Any, Literal

import anyio

from ._buffers import BufferPool
from ._config import IngestConfig
from ._errors import NOT_ATTEMPTED, RUN_WIDE_ERRORS, UNREACHABLE_ERRORS, describe_error, expected_errors
from ._exceptions import WorkerError
from ._object_args import encryption_args, object_args
from ._object_options import acl_args
from ._plan import RunPlan, UploadSpec
from ._records import ResultStore, ResultsView
from ._results import FileResult, FileStatus, IngestReport, ProgressEvent
from ._shardset import complete_partitions, landed, write_set_markers
from ._stream import SPOOL_CHUNK, spool_report

if TYPE_CHECKING:
    from ._bandwidth import TokenBucket
    from ._transfer import Transfer
    from ._types import S3Client
    from ._workers import WorkerPool

__all__ = ["ProgressCallback", "Resources", "ResultCallback", "Run"]

log = logging.getLogger("async_ingest")

ResultCallback = Callable[[FileResult], None]
ProgressCallback = Callable[[ProgressEvent], None]


def utcnow() -> datetime.datetime:
    """Now, in UTC: the wall-clock time of a run's start and of its plan."""
    return datetime.datetime.now(datetime.UTC)


def _first_leaf(error: BaseException) -> BaseException:
    """The first exception inside (possibly nested) exception groups."""
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


@dataclass(frozen=True, kw_only=True)
class Resources:
    """What every run of one Ingestor shares: its settings, client, limits, buffers and worker processes."""

    config: IngestConfig
    client: S3Client
    slots: anyio.Semaphore
    readers: anyio.CapacityLimiter
    buffers: BufferPool
    pool: WorkerPool | None = None
    bandwidth: TokenBucket | None = None


class Run:
    """One run of a plan through an Ingestor; made by :meth:`Ingestor.new_run`, executed once.

    Until :meth:`execute` returns, :meth:`report` gives the report so far (files without a
    result yet count as interrupted); afterwards, the run's report.  :meth:`clock` is the
    run's own clock, the one its report's duration comes from.
    """

    def __init__(self, plan: RunPlan, resources: Resources) -> None:
        self.plan = plan
        self._res = resources
        self._on_result: ResultCallback | None = None
        self._on_progress: ProgressCallback | None = None
        #: Each file's result, kept compact; read by key through ``results``.
        self._results = ResultStore()
        self._view = ResultsView(self._results, plan.uploads)
        #: Bytes sent so far by each file in flight, and by the files with a result.
        self._sent: dict[str, int] = {}
        self._sent_settled = 0
        #: When each file in flight began, on the run's clock.
        self._began: dict[str, float] = {}
        self._failure: tuple[str, str] | None = None
        self._started: float | None = None
        self._stopped: float | None = None
        self._started_at: datetime.datetime | None = None
        self._report: IngestReport | None = None

    @property
    def results(self) -> Mapping[str, FileResult]:
        """The results recorded so far, by key (read-only)."""
        return self._view

    @property
    def bytes_sent(self) -> int:
        """Bytes of file data sent so far (retries counted once)."""
        return self._sent_settled + sum(self._sent.values())

    @property
    def failure(self) -> tuple[str, str] | None:
        """The run-wide error met, as (message, code), that fails the files not yet started; None if none."""
        return self._failure

    def clock(self) -> float:
        """Seconds on the run's clock: 0 until it starts, then the time since, stopped when its files are done."""
        if self._started is None:
            return 0.0
        return (self._stopped if self._stopped is not None else time.monotonic()) - self._started

    def report(self) -> IngestReport:
        """The run's report once it has finished; until then, the report so far."""
        if self._report is not None:
            return self._report
        started_at, now = self._started_at or self.plan.created_at, self.clock()

        def result(spec: UploadSpec) -> FileResult | None:
            found = self._results.get(spec)
            if found is None and spec.key in self._began:  # under way when it stopped
                sent = self._sent.get(spec.key, 0)
                ran, parts = now - self._began[spec.key], spec.parts_sent(sent)
                found = self.plan.result(spec, FileStatus.INTERRUPTED, sent=sent, parts=parts, duration=ran)
            return found

        finished_at = started_at + datetime.timedelta(seconds=now)
        report = self.plan.report(
            result, missing=FileStatus.INTERRUPTED, started_at=started_at, finished_at=finished_at
        )
        if self._stopped is None:  # results may still come: this report keeps the ones known now
            report = replace(report, files=tuple(report.files))
        return report

    async def execute(
        self, *, on_result: ResultCallback | None = None, on_progress: ProgressCallback | None = None
    ) -> IngestReport:
        """Upload every file of the plan, then write the run's markers and manifest; the run's report.

        *on_result* is called with each file's result as it is known, *on_progress* with each
        step of each upload.  Cancellation stops every upload, aborts the multipart uploads that
        were started, and propagates; :meth:`report` still says what landed.
        """
        if self._started is not None:
            raise RuntimeError("a Run is executed once; make a new one with Ingestor.new_run()")
        self._on_result, self._on_progress = on_result, on_progress
        self._started, self._started_at = time.monotonic(), utcnow()
        try:
            await self._send_all()
        finally:
            self._stopped = time.monotonic()
        return await self._finish()

    async def _send_all(self) -> None:
        """Upload this process's share of the files and hand the rest to the worker processes."""
        from ._workers import share

        plan, config = self.plan, self._res.config
        if not mimetypes.inited:
            await anyio.to_thread.run_sync(mimetypes.init)  # reads the system's MIME tables once
        log.info(
            "run %s: ingesting %d files into s3://%s",
            plan.run_id,
            len(plan.uploads),
            plan.bucket,
            extra={"run_id": plan.run_id},
        )
        transfer = self._transfer()
        uploads: Sequence[UploadSpec] = plan.uploads
        if config.once is not None:
            from ._landed import skip_landed

            uploads = await skip_landed(self._res.client, plan, config, self._res.readers, self._record)
        # With worker processes, each takes a share of the single-request files (and lists its own).
        pool = self._res.pool
        workers = pool.usable() if pool is not None else []
        local, *shares = share(uploads, 1 + len(workers)) if workers else [list(uploads)]
        try:
            absent = await transfer.listed_absent(local)
        except expected_errors() as exc:
            message, code = describe_error(exc, bucket=plan.bucket, key="")
            if code in UNREACHABLE_ERRORS:  # the files' own requests would wait as long, in vain
                self._failure = (message, code)
            log.info("listing the run's partitions failed (%s); checking each key instead", message)
            absent = set()
        # As many tasks as files may be sent at once, each taking the next file in plan order: a task per
        # file would cost its creation and memory for every file of the run before the first is sent.
        pending = iter(local)
        async with anyio.create_task_group() as tg:
            for worker, specs in zip(workers, shares, strict=False):
                tg.start_soon(self._hand_out, worker, specs)
            for _ in range(min(config.concurrency, len(local))):
                tg.start_soon(self._upload_each, transfer, pending, absent)

    async def _upload_each(self, transfer: Transfer, pending: Iterator[UploadSpec], absent: Container[str]) -> None:
        """Upload the files of *pending*, one after the other, until none is left (other tasks take them too)."""
        for spec in pending:
            await self._upload_one(transfer, spec, absent)

    def _transfer(self) -> Transfer:
        from ._checksum import algorithm
        from ._transfer import Transfer

        res, config = self._res, self._res.config
        return Transfer(
            res.client,
            self.plan.bucket,
            slots=res.slots,
            buffers=res.buffers,
            readers=res.readers,
            bandwidth=res.bandwidth,
            part_concurrency=config.concurrency,
            checksum=algorithm(config.checksum),
            abort_timeout=config.abort_timeout,
            if_exists=config.if_exists,
            object_args=functools.partial(object_args, config),
            on_bytes=self._advanced,
            run_id=self.plan.run_id,
        )

    async def _upload_one(self, transfer: Transfer, spec: UploadSpec, absent: Container[str]) -> None:
        """Upload one file and record its result."""
        from ._settle import settled  # loaded off the loop when the Ingestor opens

        if self._failure is not None:
            # The same error would meet every remaining file: fail fast instead of asking.
            message, code = self._failure
            error = NOT_ATTEMPTED + message
            self._record(spec, self.plan.result(spec, FileStatus.FAILED, error=error, error_code=code))
            return
        result = await self._attempt(transfer, spec, absent)
        config = self._res.config
        if result.status is FileStatus.FAILED or (config.move_source is None and not config.delete_source):
            self._record(spec, result)
            return
        # The file has landed: what becomes of its source, and the result saying so, is not cut short.
        with anyio.CancelScope(shield=True):
            self._record(spec, await settled(spec, result, config, run_id=self.plan.run_id))

    async def _attempt(self, transfer: Transfer, spec: UploadSpec, absent: Container[str]) -> FileResult:
        """Upload one file; its expected failure becomes a failed result, anything else propagates."""
        plan = self.plan
        context = {"run_id": plan.run_id, "key": spec.key}
        started = time.perf_counter()
        self._sent[spec.key] = 0
        self._began[spec.key] = self.clock()
        self._progress(spec, "started")
        failed: FileResult | None = None
        try:
            outcome = await transfer.upload(spec, absent)
        except* expected_errors() as group:
            exc = _first_leaf(group)
            message, code = describe_error(exc, bucket=plan.bucket, key=spec.key)
            notes = getattr(exc, "__notes__", None) or getattr(group, "__notes__", None) or []
            if notes:
                message = "; ".join([message, *notes])
            log.warning("%s failed: %s", spec.key, message, extra=context)
            failed = plan.result(
                spec, FileStatus.FAILED, error=message, error_code=code, duration=time.perf_counter() - started
            )
        if failed is not None:
            return failed
        status = FileStatus.SKIPPED if outcome.skipped else FileStatus.UPLOADED
        log.info("%s %s (%d bytes, %d parts)", status.value, spec.key, spec.size, outcome.parts, extra=context)
        return plan.result(
            spec,
            status,
            parts=outcome.parts,
            etag=outcome.etag,
            checksum_algorithm=outcome.checksum_algorithm,
            checksum=outcome.checksum,
            version_id=outcome.version_id,
            duration=time.perf_counter() - started,
        )

    async def _hand_out(self, worker: int, specs: list[UploadSpec]) -> None:
        """Have worker process *worker* upload *specs*; if it dies, its files without a result fail."""

        pool = self._res.pool
        assert pool is not None
        by_key = {spec.key: spec for spec in specs}
        try:
            await pool.run(
                worker,
                replace(self.plan, uploads=tuple(specs)),
                # The worker's own progress events include each file's "finished".
                on_result=lambda result: self._record(by_key[result.key], result, announce=False),
                on_progress=self._on_progress,
            )
        except WorkerError as exc:
            log.warning("%s", exc, extra={"run_id": self.plan.run_id})
            for spec in specs:
                if spec.key not in self._results:
                    failed = self.plan.result(spec, FileStatus.FAILED, error=str(exc), error_code="WorkerFailed")
                    self._record(spec, failed)

    def _record(self, spec: UploadSpec, result: FileResult, *, announce: bool = True) -> None:
        """Keep *result*, note a run-wide error, and tell the caller (*announce*: with a ``finished`` event)."""
        sent = self._sent.pop(spec.key, 0)  # a file with a result is no longer in flight
        self._began.pop(spec.key, None)
        if result.status is FileStatus.FAILED and sent and not result.sent:
            result = replace(result, sent=sent)
        self._results.add(spec, result)
        if result.status is FileStatus.UPLOADED:
            sent = max(sent, result.size)  # a worker's upload is known by its result only
        self._sent_settled += sent
        if result.status is FileStatus.FAILED and result.error_code in RUN_WIDE_ERRORS and self._failure is None:
            self._failure = ((result.error or "").removeprefix(NOT_ATTEMPTED), result.error_code)
        if announce:
            self._progress(spec, "finished", status=result.status, done=sent)
        if self._on_result is not None:
            self._on_result(result)

    def _advanced(self, spec: UploadSpec, nbytes: int) -> None:
        self._sent[spec.key] += nbytes
        self._progress(spec, "advanced", advance=nbytes)

    def _progress(
        self, spec: UploadSpec, kind: Literal["started", "advanced", "finished"], done: int | None = None, **fields: Any
    ) -> None:
        if self._on_progress is not None:
            event = ProgressEvent(
                kind=kind,
                key=spec.key,
                source=spec.path,
                size=spec.size,
                done=self._sent[spec.key] if done is None else done,
                **fields,
            )
            self._on_progress(event)

    async def _finish(self) -> IngestReport:
        """Write the run's markers and manifest after its files; their failures go in the report."""
        config, shard = self._res.config, self.plan.shard
        report = self.report()
        errors: list[str] = []
        if config.success_marker and shard is None:
            for partition in complete_partitions(landed(report.files)):
                await self._put(f"{partition}/_SUCCESS", b"", "application/octet-stream", errors)
        manifest_key = None
        # A shard with no files still writes its manifest: the others count it.
        if config.manifest and (report.files or shard is not None):
            key = config.manifest_key(report.date, report.run_id, shard)
            if await self._put_manifest(key, replace(report, manifest_key=key, errors=tuple(errors)), errors):
                manifest_key = key
        if config.success_marker and manifest_key is not None and shard is not None and self._failure is None:
            marker_args: dict[str, object] = await self._own_object_args(b"", "application/octet-stream")
            await write_set_markers(self._res.client, config, self.plan, landed(report.files), marker_args, errors)
        self._report = replace(report, manifest_key=manifest_key, errors=tuple(errors))
        return self._report

    async def _put_manifest(self, key: str, document: IngestReport, errors: list[str]) -> bool:
        """Write the run's manifest, spooled to a temporary file one result at a time (in a worker thread)."""
        shard = self.plan.shard
        extra = {"shard": {"index": shard.index, "count": shard.count}} if shard is not None else None
        spool, size = await anyio.to_thread.run_sync(spool_report, document, extra)
        try:
            return await self._put(key, spool, "application/json", errors, size=size)
        finally:
            spool.close()

    async def _put(
        self, key: str, body: bytes | IO[bytes], content_type: str, errors: list[str], *, size: int = 0
    ) -> bool:
        """Write one object of the run's own (marker, manifest); False, with the reason in *errors*, if not written.

        It carries the run's checksum, encryption and ACL settings, as the files do (not their tags, which
        describe the data: a lifecycle or access rule on a tag leaves the run's own objects alone).  After a run-wide
        error it is not tried: it would meet the same error.
        """
        bucket = self.plan.bucket
        if self._failure is not None:
            errors.append(f"could not write s3://{bucket}/{key}: {self._failure[0]}")
            return False
        args = await self._own_object_args(body, content_type, size)
        try:
            await self._res.client.put_object(Bucket=bucket, Key=key, Body=body, **args)
        except expected_errors() as exc:
            message, code = describe_error(exc, bucket=bucket, key=key)
            errors.append(f"could not write s3://{bucket}/{key}: {message}")
            if code in RUN_WIDE_ERRORS:
                self._failure = (message, code)
            return False
        return True

    async def _own_object_args(self, body: bytes | IO[bytes], content_type: str, size: int = 0) -> dict[str, Any]:
        """The fields of an object of the run's own: its type, the run's encryption and ACL, the checksum of *body*
        (a file of *size* bytes is read in a worker thread)."""
        from ._checksum import algorithm

        config = self._res.config
        args = {"ContentType": content_type, **encryption_args(config), **acl_args(config.acl)}
        algo = algorithm(config.checksum)
        if algo is not None:
            if isinstance(body, bytes):
                value = algo.b64(body)
            else:
                value = await anyio.to_thread.run_sync(algo.file_b64, body.fileno(), size, SPOOL_CHUNK)
            args.update({"ChecksumAlgorithm": algo.s3_name, algo.parameter: value})
        return args
