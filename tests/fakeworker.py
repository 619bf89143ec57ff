"""A worker process that breaks the protocol on purpose: ``python tests/fakeworker.py MODE``.

It speaks the real framing over its real stdin and stdout, so a WorkerPool can be pointed at
it (``WorkerPool.spawn(..., command=...)``) to see what the parent does with a worker that
misbehaves.  MODE says how:

* ``done-first``: answers the Start with Done instead of Ready;
* ``config-error`` / ``os-error``: reports that it could not open, as a real worker would;
* ``unknown-in-run``: says Ready, then answers the first Job with a message of no known kind;
* ``late-result``: says Ready, takes a Job, and only when it is sent SIGTERM reports its first
  file uploaded and exits: a file that landed as its run was being cancelled.

Then it waits for its stdin to end (or a signal), as a worker does.
"""

from __future__ import annotations

import pickle
import signal
import sys
from typing import IO

from async_ingest import ConfigError, FileStatus
from async_ingest._messages import HEADER, Done, Failed, Job, Ready, Result, Start, frame, load


def read(incoming: IO[bytes]) -> object:
    header = incoming.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (length,) = HEADER.unpack(header)
    return load(incoming.read(length))


def main(mode: str) -> None:
    incoming, outgoing = sys.stdin.buffer, sys.stdout.buffer
    assert isinstance(read(incoming), Start)
    replies: dict[str, bytes] = {
        "done-first": frame(Done()),
        "config-error": frame(Failed(ConfigError("AWS configuration: no good"))),
        "os-error": frame(Failed(OSError(24, "Too many open files"))),
        "unknown-in-run": frame(Ready()),
        "late-result": frame(Ready()),
    }
    outgoing.write(replies[mode])
    outgoing.flush()
    if mode == "unknown-in-run":
        assert isinstance(read(incoming), Job)
        # The framing of an older protocol: a (kind, payload) tuple.
        body = pickle.dumps(("result", None))
        outgoing.write(HEADER.pack(len(body)) + body)
        outgoing.flush()
    if mode == "late-result":
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        job = read(incoming)
        assert isinstance(job, Job)
        signal.sigwait({signal.SIGTERM})
        outgoing.write(frame(Result(job.plan.result(job.plan.uploads[0], FileStatus.UPLOADED))))
        outgoing.flush()
        return
    while read(incoming) is not None:
        pass


if __name__ == "__main__":
    main(sys.argv[1])
