"""Sources -> files: what a file, a directory or a glob pattern holds, picked by include/exclude.

Sends nothing and reads no file's content; the planner (``_plan``) turns the files into uploads.
"""

from __future__ import annotations

import glob
import itertools
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from ._exceptions import SourceError

#: Files listed, expanded or planned between two calls of the planning's *checkpoint*.
CHECK_EVERY = 256
#: Called now and then while sources are expanded; what it raises stops the expansion.
Checkpoint = Callable[[], None] | None

__all__ = ["Source", "parse_source", "resolve_sources", "source_roots"]


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


def _walk(directory: Path, recursive: bool, checkpoint: Checkpoint = None) -> list[tuple[str, str]]:
    """Regular, non-hidden files under *directory* (and its non-hidden subfolders if *recursive*), sorted.

    Each is a pair of its path and its path relative to *directory*, ``/``-separated; in the
    order of ``Path`` objects (folder by folder, not character by character).  *checkpoint* is
    called every :data:`CHECK_EVERY` entries listed, so a huge folder's listing can be cancelled.
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
                for listed, entry in enumerate(entries, 1):
                    if checkpoint is not None and listed % CHECK_EVERY == 0:
                        checkpoint()
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


#: One file to plan: its path, its category (None: from its name) and its path relative to its source's root.
_File = tuple[str, str | None, str]


def _matched(source: Source, text: str) -> list[tuple[str, str]]:
    """The files a glob pattern *text* matches, each with its path relative to the pattern's root."""
    root = _fixed_prefix(text)
    matches = [Path(m) for m in sorted(glob.glob(text, recursive=True))]
    files = [(str(m), _relative(m, root)) for m in matches if m.is_file() and not m.name.startswith(".")]
    files = [(path, relative) for path, relative in files if _selected(relative, source)]
    if not files:
        raise SourceError(f"{text}: pattern matches no files", path=text)
    return files


def _expand(source: Source, checkpoint: Checkpoint = None) -> list[_File]:
    """The files of *source*, each with its category and its path relative to the source's root."""
    text = os.fspath(source.path)
    if _has_magic(text) and not source.path.exists():
        files = _matched(source, text)
    elif source.path.is_dir():
        files = _walk(source.path, source.recursive, checkpoint)
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
    for index, (path, relative) in enumerate(files):
        if checkpoint is not None and index % CHECK_EVERY == 0:
            checkpoint()
        category = source.category
        if category is None and source.category_from_parent:
            folder = path.rpartition(os.sep)[0]
            if folder not in folders:
                # The folder as the user named it: abspath, not resolve(), which would follow a symlink.
                folders[folder] = os.path.basename(os.path.dirname(os.path.abspath(path)))
            category = folders[folder]
        expanded.append((path, category, relative))
    return expanded


def _resolve(
    args: Iterable[str | os.PathLike[str] | Source],
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    recursive: bool = False,
    category_from_parent: bool = False,
    checkpoint: Checkpoint = None,
) -> list[_File]:
    """The files of *args*, in order, each as a ``_File``: see ``resolve_sources``.

    *checkpoint* is called every :data:`CHECK_EVERY` files listed and expanded: what it
    raises stops the expansion.
    """
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
        resolved.extend(_expand(source, checkpoint))
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
    return [(Source(Path(path), category), relative) for path, category, relative in files]


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
