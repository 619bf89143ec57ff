"""Worker processes that share the small files of many-file runs (``workers`` > 1).

A single-request upload costs botocore about 1-2 ms of CPU on the event loop, so
one process tops out at a few hundred small files a second whatever the
concurrency.  With ``workers=N`` an Ingestor starts N-1 child processes when it
opens (each imports the S3 stack and creates its own client, alongside the
parent's), and each run hands them shares of its single-request files; multipart
uploads, manifests and markers stay in the parent.

Parent and child talk over the child's stdin and stdout in length-prefixed
pickles (both ends are this package, in the same interpreter):

* parent -> child: the config once, then one ``RunPlan`` per run; EOF to stop;
* child -> parent: ``ready`` (or the error that stopped it opening), then for each
  run its results, progress events (when asked for) and log records, then ``done``.

A child turns SIGINT and SIGTERM into cancellation of its run and exits; as it
only sends single PUTs, an interrupted child leaves nothing half-written.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import pickle
import signal
import struct
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import IO, TYPE_CHECKING, Any

import anyio
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from ._config import IngestConfig
from ._exceptions import IngestError
from ._results import FileResult, ProgressEvent

if TYPE_CHECKING:
    from ._ingestor import RunPlan
    from ._plan import UploadSpec

__all__ = ["WorkerError", "WorkerPool", "share"]

log = logging.getLogger("async_ingest")

#: Fewest single-request files worth a process of their own: below this a worker would
#: wait longer for its messages than it saves.
MIN_FILES_PER_WORKER = 64

_HEADER = struct.Struct("!I")
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


def _frame(message: object) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(body)) + body


class WorkerError(IngestError):
    """A worker process failed outside any one file."""


@dataclass
class _Worker:
    process: Process
    reader: BufferedByteReceiveStream
    lock: anyio.Lock
    alive: bool = True

    async def receive(self) -> tuple[str, Any]:
        """The worker's next message; an error it reports is raised here."""
        header = await self.reader.receive_exactly(_HEADER.size)
        (length,) = _HEADER.unpack(header)
        # Only ever a child this process started, running this package: trusted data.
        kind, payload = pickle.loads(await self.reader.receive_exactly(length))  # noqa: S301
        if kind == "error":
            raise payload
        return kind, payload

    async def send(self, message: object) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send(_frame(message))

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
    async def spawn(cls, config: IngestConfig, count: int) -> WorkerPool:
        """Start *count* workers, which import the S3 stack and open their clients meanwhile."""
        child_config = replace(config, workers=1, manifest=False, success_marker=False)
        level = log.getEffectiveLevel()
        pool = cls([], config.abort_timeout)
        try:
            for _ in range(count):
                process = await anyio.open_process(
                    [sys.executable, "-m", "async_ingest._worker"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=None,
                    # Out of the terminal's process group: Ctrl-C reaches this process, which stops them.
                    start_new_session=True,
                )
                assert process.stdout is not None
                worker = _Worker(process, BufferedByteReceiveStream(process.stdout), anyio.Lock())
                pool._workers.append(worker)
                await worker.send((child_config, level))
        except BaseException:
            await pool.aclose(terminate=True)
            raise
        return pool

    async def wait_ready(self) -> None:
        """Wait until every worker has its client open; raises what stopped one (ConfigError…)."""
        try:
            for worker in self._workers:
                try:
                    await worker.receive()  # "ready"
                except _GONE:
                    raise WorkerError(
                        f"a worker process exited while starting (exit code {await worker.process.wait()})"
                    ) from None
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
        worker that dies first raises WorkerError; its files without a result are the
        caller's to report.
        """
        worker = self._workers[index]
        async with worker.lock:
            if not worker.alive:
                raise WorkerError("the worker process has stopped")
            try:
                await worker.send((plan, on_progress is not None))
                while True:
                    kind, payload = await worker.receive()
                    if kind == "result":
                        on_result(payload)
                    elif kind == "progress":
                        if on_progress is not None:
                            on_progress(payload)
                    elif kind == "log":
                        _relay(payload)
                    elif kind == "done":
                        return
            except _GONE:
                await worker.stop(self._stop_timeout)
                raise WorkerError(
                    f"a worker process ended unexpectedly (exit code {worker.process.returncode})"
                ) from None
            except BaseException:
                await worker.stop(self._stop_timeout, terminate=True)
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


# --- the child's side ----------------------------------------------------------------------------


class _Channel:
    """The child's ends: messages in from stdin, out on a private copy of stdout."""

    def __init__(self, incoming: IO[bytes], outgoing: IO[bytes]) -> None:
        self._in = incoming
        self._out = outgoing

    def read(self) -> Any:
        """The next message, or None at EOF (blocking: run it in a thread)."""
        header = self._in.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return None
        (length,) = _HEADER.unpack(header)
        return pickle.loads(self._in.read(length))  # noqa: S301  (from the parent process)

    def send(self, message: object) -> None:
        # Small writes to a pipe the parent always drains: done on the loop.
        self._out.write(_frame(message))
        self._out.flush()


class _RelayHandler(logging.Handler):
    def __init__(self, channel: _Channel) -> None:
        super().__init__()
        self._channel = channel

    def emit(self, record: logging.LogRecord) -> None:
        try:
            # What the parent's formatters need, without arguments that may not pickle.
            record.msg = record.getMessage()
            record.args = None
            if record.exc_info:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
                record.exc_info = None
            self._channel.send(("log", record))
        except Exception:
            self.handleError(record)


async def _serve(channel: _Channel) -> None:
    from ._ingestor import Ingestor

    first = await anyio.to_thread.run_sync(channel.read, abandon_on_cancel=True)
    if first is None:
        return
    config, level = first
    handler = _RelayHandler(channel)
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False
    try:
        ingestor = Ingestor(config)
        await ingestor.__aenter__()
    except Exception as exc:  # ConfigError and the like, raised again in the parent
        channel.send(("error", _picklable(exc)))
        raise
    try:
        channel.send(("ready", None))
        while (job := await anyio.to_thread.run_sync(channel.read, abandon_on_cancel=True)) is not None:
            plan, progress = job
            try:
                await ingestor.ingest(
                    plan,
                    on_result=lambda result: channel.send(("result", result)),
                    on_progress=(lambda event: channel.send(("progress", event))) if progress else None,
                )
            except Exception as exc:
                channel.send(("error", _picklable(exc)))
            else:
                channel.send(("done", None))
    finally:
        await ingestor.__aexit__(None, None, None)


def _picklable(exc: Exception) -> Exception:
    """*exc*, or a WorkerError saying what it was if it does not survive a pickle round trip."""
    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301  (our own bytes)
    except Exception:
        return WorkerError(f"{type(exc).__name__}: {exc}")
    return exc


async def _main(channel: _Channel) -> None:
    async with anyio.create_task_group() as tg:

        async def on_signals() -> None:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    tg.cancel_scope.cancel()
                    return

        tg.start_soon(on_signals)
        await _serve(channel)
        tg.cancel_scope.cancel()


def main() -> int:
    """Run a worker process until its parent closes its stdin (``python -m async_ingest._worker``)."""
    outgoing = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints must not corrupt the channel
    channel = _Channel(sys.stdin.buffer, outgoing)
    try:
        anyio.run(_main, channel)
    except KeyboardInterrupt:
        return 130
    except Exception:
        return 1
    return 0
