"""Sources -> frozen upload specs.  Decides what to send; sends nothing."""

from __future__ import annotations

import datetime
import math
import os
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ._exceptions import ConfigError, DuplicateKeyError, InvalidKeyError, SourceError
from ._expand import CHECK_EVERY, Source, _resolve, parse_source, resolve_sources, source_roots
from ._keys import KeyBuilder
from ._limits import MAX_OBJECT_SIZE, MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE, MiB
from ._results import FileList, FileResult, FileStatus, IngestReport
from ._shard import Shard
from ._spec import Shared, UploadSpec

_T = TypeVar("_T")

__all__ = [
    "RunPlan",
    "Source",
    "UploadSpec",
    "adjust_part_size",
    "parse_source",
    "plan_uploads",
    "resolve_sources",
    "source_roots",
]


def adjust_part_size(size: int, part_size: int) -> int:
    """Clamp *part_size* so that *size* bytes fit S3's limits (5 MiB..5 GiB, 10,000 parts).

    The part size grows, in whole MiB, when the file would otherwise need more
    than 10,000 parts.
    """
    if size > MAX_OBJECT_SIZE:
        raise ConfigError(f"{size} bytes is larger than S3's 5 TiB object limit")
    part_size = max(MIN_PART_SIZE, min(part_size, MAX_PART_SIZE))
    if math.ceil(size / part_size) > MAX_PARTS:
        part_size = math.ceil(size / MAX_PARTS / MiB) * MiB
    return part_size


def _stat_regular(path: str, *, follow_symlinks: bool = True) -> os.stat_result:
    """Stat *path*, and make sure it is a readable regular file."""
    shown = os.fsdecode(path)
    try:
        if not follow_symlinks and stat.S_ISLNK(os.lstat(path).st_mode):
            raise SourceError(f"{shown}: is a symbolic link, and symbolic links are refused", path=shown)
        st = os.stat(path)
    except FileNotFoundError:
        raise SourceError(f"{shown}: no such file", path=shown) from None
    except PermissionError:
        raise SourceError(f"{shown}: permission denied", path=shown) from None
    except OSError as exc:
        raise SourceError(f"{shown}: {exc.strerror or exc}", path=shown) from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise SourceError(f"{shown}: is {kind}", path=shown)
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
    except OSError as exc:
        raise SourceError(f"{shown}: cannot be read: {exc.strerror or exc}", path=shown) from None
    return st


def _taken(items: list[_T]) -> Iterator[_T]:
    """The items of *items* in order, each dropped from the list as it is taken: what is planned is not kept twice."""
    items.reverse()
    while items:
        yield items.pop()


def plan_uploads(
    sources: Sequence[str | os.PathLike[str] | Source],
    keys: KeyBuilder,
    *,
    part_size: int,
    multipart_threshold: int,
    follow_symlinks: bool = True,
    file_date: Callable[[str, str, os.stat_result], datetime.date] | None = None,
    checkpoint: Callable[[], None] | None = None,
    **selection: Any,
) -> tuple[UploadSpec, ...]:
    """Decide every upload of a run, or raise before anything is sent.

    *file_date* gives each file its own partition date from its shown path, its path relative
    to its source and its stat (None: every file is on the run's date).
    Blocking (it stats and opens files): call it from a worker thread.  *checkpoint* is called
    every :data:`CHECK_EVERY` files; what it raises stops the planning (anyio's
    ``from_thread.check_cancelled`` makes it cancellable).
    """
    specs: list[UploadSpec] = []
    by_key: dict[str, UploadSpec] = {}
    shared = Shared()  # a category or date object for all the files that have it, not one each
    files = _taken(_resolve(sources, checkpoint=checkpoint, **selection))
    for index, (path, source_category, relative) in enumerate(files):
        if checkpoint is not None and index % CHECK_EVERY == 0:
            checkpoint()
        st = _stat_regular(path, follow_symlinks=follow_symlinks)
        date = None if file_date is None else shared(file_date(path, relative, st))
        try:
            key, category = keys.locate(os.path.basename(path), category=source_category, date=date)
        except InvalidKeyError as exc:
            raise InvalidKeyError(f"{path!r}: {exc}", piece=exc.piece, value=exc.value) from None
        size = st.st_size
        chunk = adjust_part_size(size, part_size)
        multipart = size > multipart_threshold
        spec = UploadSpec(
            source=path,
            key=key,
            category=shared(category),
            size=size,
            mtime_ns=st.st_mtime_ns,
            inode=st.st_ino,
            part_size=chunk,
            part_count=max(1, math.ceil(size / chunk)) if multipart else 1,
            multipart=multipart,
            relative=relative,
            date=date,
        )
        if key in by_key:
            other = by_key[key]
            if os.path.samefile(other.path, spec.path):
                continue  # the same file named twice lands once
            raise DuplicateKeyError(
                f"{other.path} and {spec.path} would both land at {key!r}; "
                "give them different categories (CATEGORY=PATH) or a layout that tells them apart",
                key=key,
                sources=(other.path, spec.path),
            )
        by_key[key] = spec
        specs.append(spec)
    return tuple(specs)


@dataclass(frozen=True, kw_only=True)
class RunPlan:
    """A run decided and validated, nothing sent yet: its identity, date and every upload."""

    run_id: str
    bucket: str
    date: datetime.date
    created_at: datetime.datetime
    uploads: tuple[UploadSpec, ...]
    endpoint_url: str | None = None
    #: Where each file's partition date comes from (``IngestConfig.date_from``).
    date_from: str = "run"
    #: The shard of the run this plan uploads (``uploads`` is its share), None for the whole run.
    shard: Shard | None = None
    #: Files in the whole run, every shard's (``len(uploads)`` when None).
    planned: int | None = None

    def describe_share(self) -> str | None:
        """``shard 3/8: 120 of 1000 files`` for a shard's plan; None for a whole run."""
        if self.shard is None:
            return None
        total = self.planned if self.planned is not None else len(self.uploads)
        return f"shard {self.shard}: {len(self.uploads)} of {total} files"

    def result(self, spec: UploadSpec, status: FileStatus, **fields: Any) -> FileResult:
        """A result for *spec* with *status* and any further fields."""
        return FileResult(
            source=spec.path,
            key=spec.key,
            category=spec.category,
            size=spec.size,
            status=status,
            date=spec.date,
            **fields,
        )

    def report(
        self,
        results: Mapping[str, FileResult] | Callable[[UploadSpec], FileResult | None],
        *,
        missing: FileStatus,
        dry_run: bool = False,
        started_at: datetime.datetime | None = None,
        finished_at: datetime.datetime | None = None,
    ) -> IngestReport:
        """The run's report: *results* (by key, or a function of a spec that gives its result or None), and
        *missing* for every planned file without one (``planned`` with its planned part count).

        Its files are a :class:`FileList`: each result is looked up (or made) when it is read.  The run's span
        defaults to the plan's creation until now.
        """
        planned = missing is FileStatus.PLANNED  # a planned file shows its part plan
        found = results if callable(results) else (lambda spec: results.get(spec.key))

        def result(spec: UploadSpec) -> FileResult:
            return found(spec) or self.result(spec, missing, parts=spec.part_count if planned else 0)

        return IngestReport(
            run_id=self.run_id,
            bucket=self.bucket,
            date=self.date,
            started_at=started_at or self.created_at,
            finished_at=finished_at or datetime.datetime.now(datetime.UTC),
            files=FileList(self.uploads, result),
            dry_run=dry_run,
            endpoint_url=self.endpoint_url,
            date_from=self.date_from,
        )
