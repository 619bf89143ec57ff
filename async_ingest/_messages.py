"""The messages between an Ingestor and its worker processes, and how they are framed.

Each message is a small frozen dataclass, sent as a length-prefixed pickle over the
worker's stdin (parent -> child) or stdout (child -> parent); both ends are this
package, in the same interpreter.

* parent -> child: :class:`Start` once, then one :class:`Job` per run; EOF to stop;
* child -> parent: :class:`Ready` (or :class:`Failed`: what stopped it opening), then
  for each run :class:`Result`, :class:`Progress` (when asked for) and :class:`Log`
  messages, ended by :class:`Done` (or :class:`Failed`).
"""

from __future__ import annotations

import logging
import pickle
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._config import IngestConfig
    from ._plan import RunPlan
    from ._results import FileResult, ProgressEvent

__all__ = [
    "HEADER",
    "ChildMessage",
    "Done",
    "Failed",
    "Job",
    "Log",
    "ParentMessage",
    "Progress",
    "Ready",
    "Result",
    "Start",
    "describe",
    "frame",
    "load",
]

#: Each message's length, ahead of its pickle.
HEADER = struct.Struct("!I")


@dataclass(frozen=True)
class Start:
    """Open an Ingestor with *config*, logging at *level*."""

    config: IngestConfig
    level: int


@dataclass(frozen=True)
class Job:
    """Upload *plan*; send progress events too if *progress*."""

    plan: RunPlan
    progress: bool


@dataclass(frozen=True)
class Ready:
    """The worker's Ingestor is open: it takes jobs."""


@dataclass(frozen=True)
class Result:
    """One file of the job is done."""

    result: FileResult


@dataclass(frozen=True)
class Progress:
    """A progress event of the job."""

    event: ProgressEvent


@dataclass(frozen=True)
class Log:
    """A log record of the worker, to be handled by the parent's handlers."""

    record: logging.LogRecord


@dataclass(frozen=True)
class Done:
    """The job is over: every file of it has had its Result."""


@dataclass(frozen=True)
class Failed:
    """The worker could not open, or its job raised *error*."""

    error: Exception


ParentMessage = Start | Job
ChildMessage = Ready | Result | Progress | Log | Done | Failed


def frame(message: ParentMessage | ChildMessage) -> bytes:
    """*message* as bytes on the wire: its length, then its pickle."""
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(body)) + body


def load(body: bytes) -> object:
    """The message pickled in *body*: whatever it is, for the receiver to check."""
    # Only ever between a parent and the child it started, both this package: trusted data.
    return pickle.loads(body)  # noqa: S301


def describe(message: object) -> str:
    """A short name for *message* in an error: its type, and for the unknown, its value."""
    if isinstance(message, ParentMessage | ChildMessage):
        return type(message).__name__
    text = repr(message)
    return text if len(text) <= 80 else text[:77] + "..."
