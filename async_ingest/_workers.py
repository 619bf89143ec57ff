"""Worker processes that share the small files of many-file runs (``workers`` > 1).

Every request costs botocore CPU time on the event loop, so a single process caps
the rate of small files whatever the concurrency.  With ``workers=N`` an Ingestor
starts N-1 child processes when it opens (each imports the S3 stack and creates its
own client, alongside the parent's), and each run hands them shares of its
single-request files; multipart uploads, manifests and markers stay in the parent.

This module is the parent's side: the pool.  The child's side is
:mod:`async_ingest._worker` (``python -m async_ingest._worker``), and what they say
to each other is in :mod:`async_ingest._messages`.  A child turns SIGINT and SIGTERM
into cancellation of its run and exits; as it only sends single PUTs, an
interrupted child leaves nothing half-written.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import anyio
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from ._bandwidth import process_share
from ._exceptions import ConfigError, WorkerError
from ._messages import (
    HEADER,
    ChildMessage,
    Done,
    Failed,
    Job,
    Log,
    ParentMessage,
    Progress,
    Ready,
    Result,
    Start,
    describe,
    frame,
    load,
)

if TYPE_CHECKING:
    from ._config import IngestConfig
    from ._plan import RunPlan, UploadSpec
    from ._results import FileResult, ProgressEvent

__all__ = ["WorkerPool", "share", "worker_config"]

log = logging.getLogger("async_ingest")

#: Fewest single-request files worth a process of their own: below this a worker would
#: wait longer for its messages than it saves.
MIN_FILES_PER_WORKER = 64

#: How a worker process is started.
WORKER_COMMAND = (sys.executable, "-m", "async_ingest._worker")
#: What reading from or writing to a worker raises once its process has gone.
_GONE = (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError, OSError)


def share(specs: Sequence[UploadSpec], processes: int) -> list[list[UploadSpec]]:
    """Split *specs* into one share per process; the first is the parent's.

    Single-request files are dealt out in turn among at most *processes* shares of at
    least MIN_FILES_PER_WORKER each; multipart uploads all stay in the parent's share.
    """
    single = [spec for spec in specs if not spec.multipart]
    count = max(1, min(processes, len(single) // MIN_FILES_PER_WORKER))
    shares: list[list[UploadSpec]] = [[spec for spec in specs if spec.multipart]]
    shares.extend([] for _ in range(count - 1))
    for index, spec in enumerate(single):
        shares[index % count].append(spec)
    return shares


def worker_config(config: IngestConfig) -> IngestConfig:
    """The settings of each worker process: one process, no run objects of its own, its share of the bandwidth."""
    rate = process_share(config.max_bandwidth, config.workers)
    return replace(config, workers=1, manifest=False, success_marker=False, once=None, max_bandwidth=rate)


@dataclass
class _Worker:
    process: Process
    reader: BufferedByteReceiveStream
    lock: anyio.Lock
    alive: bool = True

    async def receive(self) -> ChildMessage:
        """The worker's next message; one that is not a worker's message is a WorkerError."""
        header = await self.reader.receive_exactly(HEADER.size)
        (length,) = HEADER.unpack(header)
        message = load(await self.reader.receive_exactly(length))
        if not isinstance(message, ChildMessage):
            raise WorkerError(f"a worker process sent an unknown message: {describe(message)}")
        return message

    async def ready(self) -> None:
        """Wait for its Ready: a ConfigError that stopped it is raised as is, any other failure is a WorkerError."""
        try:
            message = await self.receive()
        except _GONE:
            raise WorkerError(
                f"a worker process exited while starting (exit code {await self.process.wait()})"
            ) from None
        if isinstance(message, Failed):
            if isinstance(message.error, ConfigError):
                raise message.error
            raise WorkerError(f"a worker process could not start: {_explain(message.error)}") from message.error
        if not isinstance(message, Ready):
            raise WorkerError(f"a worker process sent {describe(message)} before Ready")

    async def follow(
        self, on_result: Callable[[FileResult], None], on_progress: Callable[[ProgressEvent], None] | None
    ) -> None:
        """Pass on the worker's messages about its job until Done; an error it reports is raised here."""
        while True:
            match await self.receive():
                case Result(result):
                    on_result(result)
                case Progress(event):
                    if on_progress is not None:
                        on_progress(event)
                case Log(record):
                    _relay(record)
                case Done():
                    return
                case Failed(error):
                    raise error
                case message:
                    raise WorkerError(f"a worker process sent {describe(message)} during a run")

    async def send(self, message: ParentMessage) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send(frame(message))

    async def cancel(self, grace: float, on_result: Callable[[FileResult], None]) -> None:
        """Mid-run: SIGTERM (the worker cancels its run), pass on the results it still sends, and reap it.

        A file that landed as the run was being cancelled keeps its result: the worker sent it,
        or sends it before it exits.  Shielded; the reading waits up to *grace* seconds.
        """
        with anyio.CancelScope(shield=True):
            if self.process.returncode is None:
                self.process.terminate()
            with anyio.move_on_after(grace), contextlib.suppress(*_GONE, WorkerError):
                while True:
                    match await self.receive():
                        case Result(result):
                            on_result(result)
                        case Log(record):
                            _relay(record)
            await self.stop(grace)

    async def stop(self, grace: float, *, terminate: bool = False) -> None:
        """Ask the process to finish and reap it: EOF (idle) or SIGTERM (*terminate*: mid-run), then SIGKILL.

        Each step waits up to *grace* seconds for the process to exit.
        """
        self.alive = False
        with anyio.CancelScope(shield=True):
            if self.process.stdin is not None:
                with contextlib.suppress(OSError, anyio.BrokenResourceError):
                    await self.process.stdin.aclose()
            if self.process.returncode is None and terminate:
                self.process.terminate()  # the worker cancels its run and exits
            with anyio.move_on_after(grace):
                await self.process.wait()
                return
            self.process.terminate()
            with anyio.move_on_after(grace):
                await self.process.wait()
                return
            self.process.kill()
            await self.process.wait()


class WorkerPool:
    """Child processes, each with its own S3 client, for the single-request files of a run."""

    def __init__(self, workers: list[_Worker], stop_timeout: float) -> None:
        self._workers = workers
        self._stop_timeout = stop_timeout

    @classmethod
    async def spawn(cls, config: IngestConfig, count: int, *, command: Sequence[str] = WORKER_COMMAND) -> WorkerPool:
        """Start *count* workers, which import the S3 stack and open their clients meanwhile.

        *command* starts one worker process (this package's worker, unless a test's).
        """
        child_config = worker_config(config)
        level = log.getEffectiveLevel()
        pool = cls([], config.abort_timeout)
        try:
            for _ in range(count):
                process = await anyio.open_process(
                    list(command),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=None,
                    # Out of the terminal's process group: Ctrl-C reaches this process, which stops them.
                    start_new_session=True,
                )
                assert process.stdout is not None
                worker = _Worker(process, BufferedByteReceiveStream(process.stdout), anyio.Lock())
                pool._workers.append(worker)
                await worker.send(Start(child_config, level))
        except BaseException:
            await pool.aclose(terminate=True)
            raise
        return pool

    async def wait_ready(self) -> None:
        """Wait until every worker has its client open.

        A ConfigError that stopped one is raised as it is; any other failure to start, or a
        first message other than Ready, is a WorkerError.  Either way every worker is stopped.
        """
        try:
            for worker in self._workers:
                await worker.ready()
        except BaseException:
            await self.aclose(terminate=True)
            raise

    def usable(self) -> list[int]:
        """Indices of the workers still usable."""
        return [index for index, worker in enumerate(self._workers) if worker.alive]

    async def run(
        self,
        index: int,
        plan: RunPlan,
        *,
        on_result: Callable[[FileResult], None],
        on_progress: Callable[[ProgressEvent], None] | None,
    ) -> None:
        """Have worker *index* upload *plan*, passing on its results, progress and log records.

        Cancelled, the worker is stopped (it cancels its own run) and not used again.  A
        worker that dies first, or sends a message that has no place in a run, raises
        WorkerError and is not used again either; its files without a result are the
        caller's to report.
        """
        worker = self._workers[index]
        async with worker.lock:
            if not worker.alive:
                raise WorkerError("the worker process has stopped")
            try:
                await worker.send(Job(plan, on_progress is not None))
                await worker.follow(on_result, on_progress)
            except _GONE:
                await worker.stop(self._stop_timeout)
                raise WorkerError(
                    f"a worker process ended unexpectedly (exit code {worker.process.returncode})"
                ) from None
            except BaseException:
                await worker.cancel(self._stop_timeout, on_result)
                raise

    async def aclose(self, *, terminate: bool = False) -> None:
        """Stop every worker and reap it (shielded); *terminate*: at once, without waiting for EOF."""
        with anyio.CancelScope(shield=True):
            async with anyio.create_task_group() as tg:
                for worker in self._workers:
                    if worker.process.returncode is None:
                        tg.start_soon(functools.partial(worker.stop, self._stop_timeout, terminate=terminate))
        for worker in self._workers:
            worker.alive = False


def _relay(record: logging.LogRecord) -> None:
    """Hand a worker's log record to this process's handlers, as if logged here."""
    logger = logging.getLogger(record.name)
    if logger.isEnabledFor(record.levelno):
        logger.handle(record)


def _explain(exc: Exception) -> str:
    """What a worker reported: a WorkerError's own words, or the error's type and message."""
    return str(exc) if isinstance(exc, WorkerError) else f"{type(exc).__name__}: {exc}"
