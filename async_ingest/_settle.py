"""A source moved (``move_source``) or deleted (``delete_source``) once its file has landed.

The Run calls :func:`settle_source` for a file only after its object is in place and verified
(uploaded, or skipped because identical), never after a failure, an interruption or in a dry
run; it touches the source only if it is still the file that was planned.  A move keeps the
file's path relative to its source's root, never overwrites a file already there, and never
loses the file: across file systems it copies, then deletes.  Everything here blocks: run it
in a worker thread, as :func:`settled` does.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import shutil
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import anyio

from ._exceptions import SourceChangedError
from ._plan import UploadSpec
from ._results import FileResult
from ._source import check_unchanged

if TYPE_CHECKING:
    from ._config import IngestConfig

__all__ = ["SourceAction", "SourceOutcome", "settle_source", "settled"]

log = logging.getLogger("async_ingest")

SourceAction = Literal["moved", "deleted"]


@dataclass(frozen=True)
class SourceOutcome:
    """What was done with one file's source: *action* (None: left in place, *note* says why)."""

    action: SourceAction | None = None
    moved_to: str | None = None
    note: str | None = None


def _still_planned(spec: UploadSpec) -> str | None:
    """None if the source is still the file that was planned; else why it is left alone."""
    try:
        fd = os.open(spec.path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return "no longer there; nothing to do"
    try:
        check_unchanged(fd, spec)
    except SourceChangedError:
        return "changed since it was planned (size, modification time or inode); left in place"
    finally:
        os.close(fd)
    return None


def _copy_across(source: Path, target: Path, size: int) -> None:
    """Copy *source* to *target* (never replacing it) through a temporary file beside it, then delete *source*."""
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        shutil.copy2(source, temporary)
        with open(temporary, "rb") as copied:
            os.fsync(copied.fileno())
        if temporary.stat().st_size != size:
            raise OSError(errno.EIO, f"the copy holds {temporary.stat().st_size} bytes, not {size}")
        os.link(temporary, target)  # FileExistsError if a file appeared there meanwhile
    finally:
        temporary.unlink(missing_ok=True)
    _drop(source, target)


def _drop(source: Path, target: Path) -> None:
    """Delete *source*, now also at *target*; if it cannot be deleted, take *target* back and raise."""
    try:
        os.unlink(source)
    except OSError:
        target.unlink(missing_ok=True)
        raise


def _move(spec: UploadSpec, target: Path) -> None:
    """Move the source to *target*, never replacing a file there (FileExistsError)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        # Atomic, and fails rather than replace what is there.  For a symbolic link, DIR gets the
        # file it points to (a link there would dangle if relative) and the link is removed.
        os.link(spec.source, target)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            _copy_across(spec.source, target, spec.size)
            return
        # A file system without hard links: a rename, once sure nothing is there.
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, "file exists", os.fsdecode(target)) from None
        os.rename(spec.source, target)
        return
    _drop(spec.source, target)


def settle_source(spec: UploadSpec, *, move_source: Path | None, delete_source: bool) -> SourceOutcome:
    """Move or delete the landed file of *spec* as the settings say; what was done, or why not.

    Blocking: run it in a worker thread.  A failure is reported in the outcome, never raised.
    """
    if move_source is None and not delete_source:
        return SourceOutcome()
    try:
        reason = _still_planned(spec)
        if reason is not None:
            return SourceOutcome(note=reason)
        if move_source is None:
            os.unlink(spec.source)
            return SourceOutcome(action="deleted")
        target = move_source / (spec.relative or spec.name)
        try:
            _move(spec, target)
        except FileExistsError:
            return SourceOutcome(note=f"{os.fsdecode(target)} already exists; left in place")
        return SourceOutcome(action="moved", moved_to=os.fsdecode(target))
    except OSError as exc:
        verb = "moved" if move_source is not None else "deleted"
        return SourceOutcome(note=f"could not be {verb}: {exc.strerror or exc}; left in place")


async def settled(spec: UploadSpec, result: FileResult, config: IngestConfig, *, run_id: str) -> FileResult:
    """*result*, of a file that landed, saying what became of its source (settled in a worker thread).

    A source left in place is logged as a warning, and its result says why.
    """
    settle = functools.partial(settle_source, spec, move_source=config.move_source, delete_source=config.delete_source)
    done = await anyio.to_thread.run_sync(settle)
    if done.note is not None:
        log.warning("%s: %s", spec.path, done.note, extra={"run_id": run_id, "key": spec.key})
    return replace(result, source_action=done.action, moved_to=done.moved_to, source_note=done.note)
