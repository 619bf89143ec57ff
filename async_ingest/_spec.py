"""One file's upload, decided: :class:`UploadSpec`, kept for every file of a run, so kept small.

A run holds one spec per file from its planning to its end, so a spec keeps only what it
must, in as few objects as it can: its path as text (``source``, the :class:`~pathlib.Path`,
is made from it when asked for), its relative path as an offset into that text when it is
the path's tail, and its category and date shared with the other files of the run that have
the same (see :class:`Shared`).
"""

from __future__ import annotations

import datetime
import math
import os
from pathlib import Path
from typing import Any, NoReturn, TypeVar

__all__ = ["Shared", "UploadSpec"]

_T = TypeVar("_T")

#: The fields of a spec, in the order its constructor takes, its ``repr`` shows and a pickle holds them.
_FIELDS = (
    "source",
    "key",
    "category",
    "size",
    "mtime_ns",
    "inode",
    "part_size",
    "part_count",
    "multipart",
    "relative",
    "date",
)
#: Left out of ``repr``: internal (the change checks) or derived.
_HIDDEN = frozenset({"mtime_ns", "inode", "relative"})


class UploadSpec:
    """One file's upload, decided: where it goes and how it is cut.  Frozen; compared by value.

    ``mtime_ns`` and ``inode`` are internal, not for callers: the modification time and inode
    seen when planning, which the upload checks again (a change means the file moved under us).
    ``relative`` is the file's path relative to its source's root (``2022/a.csv`` of source
    ``data``), ``/``-separated; empty means its name: where ``move_source`` puts it.  ``date``
    is the file's own partition date, when the run takes dates from the files (``date_from``);
    None: the run's.
    """

    __slots__ = (
        "_relative",
        "category",
        "date",
        "inode",
        "key",
        "mtime_ns",
        "multipart",
        "part_count",
        "part_size",
        "path",
        "size",
    )

    path: str
    key: str
    category: str
    size: int
    mtime_ns: int
    inode: int
    part_size: int
    part_count: int
    multipart: bool
    _relative: str | int
    date: datetime.date | None

    def __init__(
        self,
        *,
        source: str | os.PathLike[str],
        key: str,
        category: str,
        size: int,
        mtime_ns: int,
        inode: int,
        part_size: int,
        part_count: int,
        multipart: bool,
        relative: str = "",
        date: datetime.date | None = None,
    ) -> None:
        path = os.fspath(source)
        values = {
            "path": path,
            "key": key,
            "category": category,
            "size": size,
            "mtime_ns": mtime_ns,
            "inode": inode,
            "part_size": part_size,
            "part_count": part_count,
            "multipart": multipart,
            # The path's own tail is kept as where it starts in the path: no second string.
            "_relative": len(path) - len(relative) if relative and path.endswith(relative) else relative,
            "date": date,
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)

    @property
    def source(self) -> Path:
        """The file's path (``path`` is the same as text)."""
        return Path(self.path)

    @property
    def relative(self) -> str:
        """The file's path relative to its source's root, ``/``-separated; empty means its name."""
        relative = self._relative
        return self.path[relative:] if isinstance(relative, int) else relative

    @property
    def name(self) -> str:
        """The file's name (``source.name``)."""
        return os.path.basename(self.path)

    def parts_sent(self, sent: int) -> int:
        """How many parts *sent* bytes make, each part counted once whole (the last one may be short)."""
        if not self.multipart:
            return int(0 < self.size <= sent)
        return min(self.part_count, math.ceil(sent / self.part_size))

    def part_range(self, number: int) -> tuple[int, int]:
        """Offset and length of part *number* (1-based)."""
        offset = (number - 1) * self.part_size
        return offset, min(self.part_size, self.size - offset)

    def _values(self) -> tuple[Any, ...]:
        return tuple(self.path if name == "source" else getattr(self, name) for name in _FIELDS)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"cannot assign to field {name!r}: an UploadSpec is frozen")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"cannot delete field {name!r}: an UploadSpec is frozen")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, UploadSpec)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        shown = (f"{name}={getattr(self, name)!r}" for name in _FIELDS if name not in _HIDDEN)
        return f"UploadSpec({', '.join(shown)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (self._values(),))


def _restore(values: tuple[Any, ...]) -> UploadSpec:
    """An UploadSpec from its pickle (its fields in ``_FIELDS`` order)."""
    return UploadSpec(**dict(zip(_FIELDS, values, strict=True)))


class Shared:
    """One object for each distinct value seen (a category, a date), so that files with the same share it.

    At most *limit* values are remembered: past that, values not seen yet are returned as they are.
    """

    def __init__(self, limit: int = 4096) -> None:
        self._seen: dict[Any, Any] = {}
        self._limit = limit

    def __call__(self, value: _T) -> _T:
        found: _T | None = self._seen.get(value)
        if found is not None:
            return found
        if len(self._seen) < self._limit:
            self._seen[value] = value
        return value
