"""A worker process: ``python -m async_ingest._worker``, started by a WorkerPool (see _workers).

It reads a Start from stdin and opens an Ingestor with it, says Ready, then uploads
each Job it is sent, passing back its results, progress events and log records, until
stdin ends.  It turns SIGINT and SIGTERM into cancellation of its run and exits.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import sys
from typing import IO

import anyio

from . import _messages as messages
from ._exceptions import WorkerError
from ._ingestor import Ingestor

log = logging.getLogger("async_ingest")


class _Channel:
    """The child's ends: messages in from stdin, out on a private copy of stdout."""

    def __init__(self, incoming: IO[bytes], outgoing: IO[bytes]) -> None:
        self._in = incoming
        self._out = outgoing

    def read(self) -> messages.ParentMessage | None:
        """The next message, or None at EOF (blocking: run it in a thread); an unknown one is a WorkerError."""
        header = self._in.read(messages.HEADER.size)
        if len(header) < messages.HEADER.size:
            return None
        (length,) = messages.HEADER.unpack(header)
        message = messages.load(self._in.read(length))
        if not isinstance(message, messages.ParentMessage):
            raise WorkerError(f"the parent process sent an unknown message: {messages.describe(message)}")
        return message

    async def receive(self) -> messages.ParentMessage | None:
        """The next message, read in a thread."""
        return await anyio.to_thread.run_sync(self.read, abandon_on_cancel=True)

    async def start(self) -> messages.Start | None:
        """The parent's first message, which must be a Start; None at EOF."""
        message = await self.receive()
        if message is not None and not isinstance(message, messages.Start):
            raise WorkerError(f"the parent process sent {messages.describe(message)} before Start")
        return message

    def send(self, message: messages.ChildMessage) -> None:
        # Small writes to a pipe the parent always drains: done on the loop.
        self._out.write(messages.frame(message))
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
            self._channel.send(messages.Log(record))
        except Exception:
            self.handleError(record)


async def _open(channel: _Channel) -> Ingestor | None:
    """The Ingestor the parent's Start asks for, opened; None if stdin ended first."""
    try:
        start = await channel.start()
        if start is None:
            return None
        log.addHandler(_RelayHandler(channel))
        log.setLevel(start.level)
        log.propagate = False
        ingestor = Ingestor(start.config)
        await ingestor.__aenter__()
    except Exception as exc:  # ConfigError and the like, raised again in the parent
        channel.send(messages.Failed(_picklable(exc)))
        raise
    return ingestor


async def _serve(channel: _Channel) -> None:
    ingestor = await _open(channel)
    if ingestor is None:
        return
    try:
        channel.send(messages.Ready())
        while (job := await channel.receive()) is not None:
            if not isinstance(job, messages.Job):
                raise WorkerError(f"the parent process sent {messages.describe(job)} during a run")
            try:
                await ingestor.ingest(
                    job.plan,
                    on_result=lambda result: channel.send(messages.Result(result)),
                    on_progress=(lambda event: channel.send(messages.Progress(event))) if job.progress else None,
                )
            except Exception as exc:
                channel.send(messages.Failed(_picklable(exc)))
            else:
                channel.send(messages.Done())
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
    """Run a worker process until its parent closes its stdin."""
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


if __name__ == "__main__":
    sys.exit(main())
