"""The exceptions async_ingest raises.

Every error the library raises on purpose derives from :class:`IngestError`::

    IngestError
    ├── ConfigError           invalid settings: bucket name, layout, date, sizes…
    │   ├── InvalidKeyError   a key piece or a whole key S3 would reject or misfile
    │   └── DuplicateKeyError two sources would land on the same key
    ├── SourceError           a source file is missing, unreadable, not a file…
    │   └── SourceChangedError  it changed while being uploaded
    ├── ChecksumMismatchError what S3 stored is not the file (the object is removed)
    ├── ObjectExistsError     an object is at the key and --if-exists fail was asked
    ├── WorkerError           a worker process (``workers`` > 1) failed outside any one file
    └── IngestFailedError     raised by ``IngestReport.raise_for_failures()``

Configuration and source errors are raised before anything is uploaded, so a
run with a typo never lands half a partition.  An upload's failure stays inside the
file it belongs to: it becomes a ``failed`` :class:`~async_ingest.FileResult`
(with S3's error code) and the other files go on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._results import IngestReport

__all__ = [
    "ChecksumMismatchError",
    "ConfigError",
    "DuplicateKeyError",
    "IngestError",
    "IngestFailedError",
    "InvalidKeyError",
    "ObjectExistsError",
    "SourceChangedError",
    "SourceError",
    "WorkerError",
]


class IngestError(Exception):
    """Base class for every error async_ingest raises on purpose."""


class ConfigError(IngestError):
    """A setting is invalid; raised before any upload starts."""


class InvalidKeyError(ConfigError):
    """A key piece, or a whole key, is not safe to write."""

    def __init__(self, message: str, *, piece: str | None = None, value: str | None = None) -> None:
        super().__init__(message)
        self.piece = piece
        self.value = value


class SourceError(IngestError):
    """A source cannot be read as a regular file."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class SourceChangedError(SourceError):
    """The file changed between planning and the end of its upload; nothing of it was landed."""


class ChecksumMismatchError(IngestError):
    """What S3 reports storing does not match the local file; the object was removed."""


class ObjectExistsError(IngestError):
    """An object already sits at the key and the run was told not to replace it."""


class WorkerError(IngestError):
    """A worker process failed outside any one file: it could not start, died, or broke the protocol.

    Raised by ``Ingestor.__aenter__`` when a worker cannot start; during a run, the
    files of the worker's share without a result fail with the error code ``WorkerFailed``.
    """


class DuplicateKeyError(ConfigError):
    """Two sources would be written to the same object key."""

    def __init__(self, message: str, *, key: str, sources: tuple[str, ...]) -> None:
        super().__init__(message)
        self.key = key
        self.sources = sources


class IngestFailedError(IngestError):
    """At least one file of a run failed; ``report`` holds every result."""

    def __init__(self, message: str, *, report: IngestReport) -> None:
        super().__init__(message)
        self.report = report
