"""Sources -> frozen upload specs.  Decides what to send; sends nothing."""

from __future__ import annotations

import datetime
import glob
import itertools
import math
import os
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from ._exceptions import ConfigError, DuplicateKeyError, InvalidKeyError, SourceError
from ._keys import KeyBuilder
from ._limits import MAX_OBJECT_SIZE, MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE, MiB
from ._results import FileResult, FileStatus, IngestReport
from ._shard import Shard

#: Files planned between two calls of plan_uploads' *checkpoint*.
CHECK_EVERY = 256

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


@dataclass(frozen=True)
class Source:
    """A file, directory or glob pattern to ingest, and how to pick and file what it holds.

    ``category`` None means: from each file's name (or its folder's, with ``category_from_parent``).

    ``include``/``exclude`` are glob patterns that filter what a directory or a glob pattern
    expands to (a file named on its own is always taken), one rule for both:

    - a pattern without ``/`` matches the file's name, at any depth: ``*.tmp``;
    - a pattern with ``/`` matches the file's path relative to the source's root (the
      directory, or the glob pattern's leading part without wildcards: ``data`` for
      ``data/*/*.csv``), from that root (a leading ``/`` changes nothing): ``2022/*.csv``;
    - ``*``, ``?`` and ``[...]`` stay within one folder; ``**`` spans any number of folders:
      ``2022/**``, ``**/tmp/*``;
    - a pattern ending in ``/`` matches folders: it selects every file beneath a folder it
      matches (``cache/`` at any depth, ``2022/05/`` from the root).

    A file is taken when it matches an ``include`` pattern (or there are none) and no
    ``exclude`` pattern.
    """

    path: Path
    category: str | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    recursive: bool = False
    category_from_parent: bool = False


@dataclass(frozen=True, kw_only=True)
class UploadSpec:
    """One file's upload, decided: where it goes and how it is cut."""

    source: Path
    key: str
    category: str
    size: int
    #: Internal, not for callers: the modification time and inode seen when planning, which the
    #: upload checks again (a change means the file moved under us).  Left out of ``repr``.
    mtime_ns: int = field(repr=False)
    inode: int = field(repr=False)
    part_size: int
    part_count: int
    multipart: bool
    #: The file's path relative to its source's root (``2022/a.csv`` of source ``data``), ``/``-separated;
    #: empty means its name.  Where ``move_source`` puts it.
    relative: str = field(default="", repr=False)
    #: The file's own partition date, when the run takes dates from the files (``date_from``); None: the run's.
    date: datetime.date | None = None

    def parts_sent(self, sent: int) -> int:
        """How many parts *sent* bytes make, each part counted once whole (the last one may be short)."""
        if not self.multipart:
            return int(0 < self.size <= sent)
        return min(self.part_count, math.ceil(sent / self.part_size))

    def part_range(self, number: int) -> tuple[int, int]:
        """Offset and length of part *number* (1-based)."""
        offset = (number - 1) * self.part_size
        return offset, min(self.part_size, self.size - offset)


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


def parse_source(arg: str | os.PathLike[str] | Source) -> Source:
    """Turn ``PATH`` or ``CATEGORY=PATH`` into a Source.

    A path that exists wins over the ``CATEGORY=`` reading, so files whose
    names hold ``=`` still work.
    """
    if isinstance(arg, Source):
        return arg
    text = os.fspath(arg)
    if isinstance(arg, str) and "=" in text and not os.path.lexists(text):
        category, _, path = text.partition("=")
        if not category:
            raise SourceError(f"source {text!r}: the category before '=' is empty", path=text)
        if not path:
            raise SourceError(f"source {text!r}: the path after '=' is empty", path=text)
        return Source(Path(path), category)
    return Source(Path(text))


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


def _has_magic(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def _segments_match(pattern: Sequence[str], parts: Sequence[str]) -> bool:
    """*parts* (a path cut at ``/``) matches *pattern* (cut likewise): ``**`` spans any number of parts."""
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_segments_match(pattern[1:], parts[start:]) for start in range(len(parts) + 1))
    return bool(parts) and fnmatch(parts[0], pattern[0]) and _segments_match(pattern[1:], parts[1:])


def _pattern_matches(pattern: str, relative: str) -> bool:
    """*relative* (a file's path from its source's root, ``/``-separated) matches *pattern*, as ``Source`` says."""
    parts = relative.split("/")
    if pattern.endswith("/"):
        folder = pattern.rstrip("/")
        folders = parts[:-1]
        if "/" not in folder:
            return any(fnmatch(name, folder) for name in folders)
        steps = folder.lstrip("/").split("/")
        return any(_segments_match(steps, folders[:depth]) for depth in range(1, len(folders) + 1))
    if "/" not in pattern:
        return fnmatch(parts[-1], pattern)
    return _segments_match(pattern.lstrip("/").split("/"), parts)


def _selected(relative: str, source: Source) -> bool:
    if source.include and not any(_pattern_matches(p, relative) for p in source.include):
        return False
    return not any(_pattern_matches(p, relative) for p in source.exclude)


def _fixed_prefix(pattern: str) -> Path:
    """The leading folders of a glob pattern that hold no wildcard: its root for ``include``/``exclude``."""
    parts = Path(pattern).parts
    fixed = list(itertools.takewhile(lambda part: not _has_magic(part), parts[:-1]))
    return Path(*fixed) if fixed else Path()


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def _walk(directory: Path, recursive: bool) -> list[tuple[str, str]]:
    """Regular, non-hidden files under *directory* (and its non-hidden subfolders if *recursive*), sorted.

    Each is a pair of its path and its path relative to *directory*, ``/``-separated; in the
    order of ``Path`` objects (folder by folder, not character by character).
    """
    shown = os.fsdecode(directory)
    found: list[tuple[str, str]] = []
    pending = [(shown, "")]
    # Paths spelt as Path spells them ("x", not "./x"), so that either serves.
    base = "" if shown == "." else shown if shown.endswith(os.sep) else shown + os.sep
    while pending:
        folder, prefix = pending.pop()
        try:
            with os.scandir(folder) as entries:
                folders = []
                for entry in entries:
                    name = entry.name
                    if name.startswith("."):
                        continue
                    if entry.is_file():
                        found.append((base + prefix + name, prefix + name))
                    elif recursive and entry.is_dir(follow_symlinks=False):
                        folders.append((entry.path, prefix + name + "/"))
        except OSError as exc:
            raise SourceError(f"{folder}: cannot list directory: {exc.strerror or exc}", path=shown) from None
        pending.extend(sorted(folders))  # subfolders in name order: the first one unreadable is always the same
    # Folder by folder: with "/" as the lowest character, a folder's files come before its siblings'.
    found.sort(key=lambda item: item[1].replace("/", "\0"))
    return found


#: One file to plan: its path (as a Path and as text), its category (None: from its name) and its path
#: relative to its source's root.
_File = tuple[Path, str, str | None, str]


def _matched(source: Source, text: str) -> list[tuple[str, str]]:
    """The files a glob pattern *text* matches, each with its path relative to the pattern's root."""
    root = _fixed_prefix(text)
    matches = [Path(m) for m in sorted(glob.glob(text, recursive=True))]
    files = [(str(m), _relative(m, root)) for m in matches if m.is_file() and not m.name.startswith(".")]
    files = [(path, relative) for path, relative in files if _selected(relative, source)]
    if not files:
        raise SourceError(f"{text}: pattern matches no files", path=text)
    return files


def _expand(source: Source) -> list[_File]:
    """The files of *source*, each with its category and its path relative to the source's root."""
    text = os.fspath(source.path)
    if _has_magic(text) and not source.path.exists():
        files = _matched(source, text)
    elif source.path.is_dir():
        files = _walk(source.path, source.recursive)
        if source.include or source.exclude:
            files = [(path, relative) for path, relative in files if _selected(relative, source)]
        if not files:
            raise SourceError(
                f"{text}: directory has no regular files to ingest (check --include/--exclude)", path=text
            )
    else:
        files = [(text, _relative(source.path, source.path.parent))]
    folders: dict[str, str] = {}
    expanded: list[_File] = []
    for path, relative in files:
        category = source.category
        if category is None and source.category_from_parent:
            folder = path.rpartition(os.sep)[0]
            if folder not in folders:
                # The folder as the user named it: abspath, not resolve(), which would follow a symlink.
                folders[folder] = os.path.basename(os.path.dirname(os.path.abspath(path)))
            category = folders[folder]
        expanded.append((Path(path), path, category, relative))
    return expanded


def _resolve(
    args: Iterable[str | os.PathLike[str] | Source],
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    recursive: bool = False,
    category_from_parent: bool = False,
) -> list[_File]:
    """The files of *args*, in order, each as a ``_File``: see ``resolve_sources``."""
    resolved: list[_File] = []
    for arg in args:
        source = parse_source(arg)
        if not isinstance(arg, Source):
            source = replace(
                source,
                include=tuple(include),
                exclude=tuple(exclude),
                recursive=recursive,
                category_from_parent=category_from_parent,
            )
        resolved.extend(_expand(source))
    if not resolved:
        raise SourceError("no source given", path="")
    return resolved


def resolve_sources(args: Iterable[str | os.PathLike[str] | Source], **selection: Any) -> list[tuple[Source, str]]:
    """Expand directories and glob patterns into files, in name order (hidden files left out).

    Each file comes with its path relative to its source's root (``/``-separated).  The
    keyword arguments (``include``, ``exclude``, ``recursive``, ``category_from_parent``) apply
    to sources given as paths; a Source carries its own.
    """
    files = _resolve(args, **selection)
    return [(Source(path, category), relative) for path, _, category, relative in files]


def source_roots(sources: Iterable[str | os.PathLike[str] | Source]) -> list[tuple[Path, bool]]:
    """Each source's root (its path, or a glob pattern's leading folders) and whether it is a folder."""
    roots = []
    for arg in sources:
        path = parse_source(arg).path
        text = os.fspath(path)
        if _has_magic(text) and not path.exists():
            roots.append((_fixed_prefix(text), True))
        else:
            roots.append((path, path.is_dir()))
    return roots


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
    for index, (path, shown, source_category, relative) in enumerate(_resolve(sources, **selection)):
        if checkpoint is not None and index % CHECK_EVERY == 0:
            checkpoint()
        st = _stat_regular(shown, follow_symlinks=follow_symlinks)
        date = None if file_date is None else file_date(shown, relative, st)
        try:
            key, category = keys.locate(path.name, category=source_category, date=date)
        except InvalidKeyError as exc:
            raise InvalidKeyError(f"{shown!r}: {exc}", piece=exc.piece, value=exc.value) from None
        size = st.st_size
        chunk = adjust_part_size(size, part_size)
        multipart = size > multipart_threshold
        spec = UploadSpec(
            source=path,
            key=key,
            category=category,
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
            if os.path.samefile(other.source, spec.source):
                continue  # the same file named twice lands once
            raise DuplicateKeyError(
                f"{os.fsdecode(other.source)} and {os.fsdecode(spec.source)} would both land at {key!r}; "
                "give them different categories (CATEGORY=PATH) or a layout that tells them apart",
                key=key,
                sources=(os.fsdecode(other.source), os.fsdecode(spec.source)),
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
            source=os.fsdecode(spec.source),
            key=spec.key,
            category=spec.category,
            size=spec.size,
            status=status,
            date=spec.date,
            **fields,
        )

    def report(
        self,
        results: Mapping[str, FileResult],
        *,
        missing: FileStatus,
        dry_run: bool = False,
        started_at: datetime.datetime | None = None,
        finished_at: datetime.datetime | None = None,
    ) -> IngestReport:
        """The run's report: *results* by key, and *missing* for every planned file without one
        (``planned`` with its planned part count).

        The run's span defaults to the plan's creation until now.
        """
        planned = missing is FileStatus.PLANNED  # a planned file shows its part plan
        files = tuple(
            results.get(spec.key) or self.result(spec, missing, parts=spec.part_count if planned else 0)
            for spec in self.uploads
        )
        return IngestReport(
            run_id=self.run_id,
            bucket=self.bucket,
            date=self.date,
            started_at=started_at or self.created_at,
            finished_at=finished_at or datetime.datetime.now(datetime.UTC),
            files=files,
            dry_run=dry_run,
            endpoint_url=self.endpoint_url,
            date_from=self.date_from,
        )
