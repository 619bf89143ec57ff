"""What a run reports: one frozen result per file and a report for the run."""

from __future__ import annotations

import datetime
import enum
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, overload

from ._dates import date_fields
from ._endpoint import redact_url
from ._exceptions import IngestFailedError

__all__ = ["FileList", "FileResult", "FileStatus", "IngestReport", "ProgressEvent"]


class FileStatus(enum.StrEnum):
    """What happened to one file."""

    UPLOADED = "uploaded"
    SKIPPED = "skipped"
    FAILED = "failed"
    PLANNED = "planned"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True, kw_only=True)
class ProgressEvent:
    """One step of one file's upload, for progress displays and host services.

    ``started`` when the file's upload begins, ``advanced`` each time a part (or a
    whole small file) has been sent, ``finished`` with the file's status.
    """

    kind: Literal["started", "advanced", "finished"]
    key: str
    source: str
    size: int
    #: Bytes of this file sent so far.
    done: int
    #: Bytes this step sent (``advanced`` only).
    advance: int = 0
    status: FileStatus | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class FileResult:
    """The outcome of one file of a run."""

    source: str
    key: str
    category: str
    size: int
    status: FileStatus
    #: Number of parts sent (1 for a single PUT, 0 when nothing was sent).
    parts: int = 0
    etag: str | None = None
    checksum_algorithm: str | None = None
    #: The checksum S3 verified, base64 as S3 returns it.
    checksum: str | None = None
    version_id: str | None = None
    #: Where the file already is, when an earlier run landed it (``once``): the key of that object.
    landed_at: str | None = None
    #: Seconds from the file's first request to its last (interrupted: to the run's stop).
    duration: float = 0.0
    #: Bytes of the file sent (retries counted once) by a file that failed or was interrupted.
    sent: int = 0
    error: str | None = None
    #: S3's error code, or the kind of failure, when ``status`` is ``failed``.
    error_code: str | None = None
    #: What became of the source once the file landed (``move_source``, ``delete_source``); None: left in place.
    source_action: Literal["moved", "deleted"] | None = None
    #: Where the source was moved to.
    moved_to: str | None = None
    #: Why a source that was to be moved or deleted was left in place.
    source_note: str | None = None
    #: The file's own partition date (and hour), when the run took dates from the files; None: the run's.
    date: datetime.date | None = None

    @property
    def ok(self) -> bool:
        """True unless the file failed or was interrupted."""
        return self.status not in (FileStatus.FAILED, FileStatus.INTERRUPTED)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return {
            "source": self.source,
            "key": self.key,
            "category": self.category,
            "size": self.size,
            "status": self.status.value,
            "parts": self.parts,
            "etag": self.etag,
            "checksum_algorithm": self.checksum_algorithm,
            "checksum": self.checksum,
            "version_id": self.version_id,
            "landed_at": self.landed_at,
            "duration": round(self.duration, 6),
            "sent": self.sent,
            "error": self.error,
            "error_code": self.error_code,
            "source_action": self.source_action,
            "moved_to": self.moved_to,
            "source_note": self.source_note,
            **(date_fields(self.date) if self.date is not None else {}),
        }


class FileList(Sequence[FileResult]):
    """A run's results in plan order, each made when it is read: one per planned file, *result* of it.

    What a large run's report holds instead of a tuple of every result: reading it costs a
    little time, keeping it no memory per file.  Equal to the tuple of its results (and to any
    FileList of the same), as ``IngestReport.files`` always was.
    """

    __slots__ = ("_planned", "_result")

    def __init__(self, planned: Sequence[Any], result: Callable[[Any], FileResult]) -> None:
        self._planned = planned
        self._result = result

    def __len__(self) -> int:
        return len(self._planned)

    @overload
    def __getitem__(self, index: int) -> FileResult: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[FileResult, ...]: ...
    def __getitem__(self, index: int | slice) -> FileResult | tuple[FileResult, ...]:
        if isinstance(index, slice):
            return tuple(map(self._result, self._planned[index]))
        return self._result(self._planned[index])

    def __iter__(self) -> Iterator[FileResult]:
        return map(self._result, self._planned)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FileList | tuple):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"FileList({tuple(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (tuple, (tuple(self),))  # pickled (and copied) as the tuple of its results


@dataclass(frozen=True, kw_only=True)
class IngestReport:
    """The outcome of a run: its identity, its settings and one result per file."""

    run_id: str
    bucket: str
    date: datetime.date
    started_at: datetime.datetime
    finished_at: datetime.datetime
    #: One result per file, in plan order: a tuple, or a FileList that makes each when it is read.
    files: Sequence[FileResult]
    dry_run: bool = False
    endpoint_url: str | None = None
    #: Where the run's manifest was written, if it was.
    manifest_key: str | None = None
    #: Failures of the run itself rather than of a file (manifest, _SUCCESS markers).
    errors: tuple[str, ...] = ()
    #: Where each file's partition date came from: ``run``, ``mtime`` or ``name`` (``date_from``).
    date_from: str = "run"

    @property
    def summary(self) -> Mapping[str, int]:
        """The run's counts, read-only: ``files``, one per status, ``bytes`` and ``bytes_uploaded``.

        ``bytes`` is the size of every file of the run, ``bytes_uploaded`` of the files uploaded.
        """
        counts = {status.value: 0 for status in FileStatus}
        size = uploaded = 0
        for result in self.files:  # one pass: a FileList makes each result as it is read
            counts[result.status.value] += 1
            size += result.size
            if result.status is FileStatus.UPLOADED:
                uploaded += result.size
        return MappingProxyType({"files": len(self.files), **counts, "bytes": size, "bytes_uploaded": uploaded})

    @property
    def ok(self) -> bool:
        """True when no file failed or was interrupted and the run's own writes succeeded."""
        return not self.errors and all(result.ok for result in self.files)

    @property
    def failed(self) -> tuple[FileResult, ...]:
        """The files that failed or were interrupted."""
        return tuple(result for result in self.files if not result.ok)

    @property
    def duration(self) -> float:
        """Seconds from the start of the run to its end."""
        return (self.finished_at - self.started_at).total_seconds()

    def raise_for_failures(self) -> None:
        """Raise IngestFailedError if any file failed or was interrupted, or the run's own writes
        (its manifest, its ``_SUCCESS`` markers) failed: whenever ``ok`` is False."""
        failed = self.failed
        if failed:
            names = ", ".join(r.source for r in failed[:5]) + (" …" if len(failed) > 5 else "")
            raise IngestFailedError(f"{len(failed)} of {len(self.files)} files failed: {names}", report=self)
        if self.errors:
            raise IngestFailedError("; ".join(self.errors), report=self)

    def to_dict(self, *, files: bool = True) -> dict[str, Any]:
        """A JSON-ready dict of the whole report (without its ``files`` when *files* is False)."""
        document = {
            "run_id": self.run_id,
            "bucket": self.bucket,
            "endpoint_url": self.endpoint_url and redact_url(self.endpoint_url),
            **date_fields(self.date),
            "date_from": self.date_from,
            "dry_run": self.dry_run,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "duration": round(self.duration, 6),
            "manifest_key": self.manifest_key,
            "errors": list(self.errors),
            "summary": dict(self.summary),
        }
        if files:
            document["files"] = [result.to_dict() for result in self.files]
        return document
