"""A run's results kept compact: each file's as a few bytes, made a FileResult again when it is read.

A :class:`~async_ingest.FileResult` is an object of some twenty fields, several of them
strings of their own (its ETag, its checksum); a run keeps one per file until its report is
written.  :class:`ResultStore` keeps instead what a result does not share with its file's
:class:`~async_ingest.UploadSpec` (the path, key, category, size and date come from the spec),
marshalled into one ``bytes``; reading it gives an equal FileResult.
"""

from __future__ import annotations

import dataclasses
import marshal
from collections.abc import Iterator, Mapping, Sequence

from ._results import FileResult, FileStatus
from ._spec import UploadSpec

__all__ = ["ResultStore", "ResultsView"]

#: The fields a result takes from its file's spec, and (in order) the ones it has of its own.
_FROM_SPEC = ("source", "key", "category", "size", "date")
_OWN = tuple(field.name for field in dataclasses.fields(FileResult) if field.name not in _FROM_SPEC)
_STATUSES = tuple(FileStatus)


def _shares_spec(result: FileResult, spec: UploadSpec) -> bool:
    """Whether *result* has *spec*'s path, key, category, size and date (any result made for it does)."""
    return (result.source, result.key, result.category, result.size, result.date) == (
        spec.path,
        spec.key,
        spec.category,
        spec.size,
        spec.date,
    )


class ResultStore:
    """The results recorded so far, by key, each kept as the bytes of what it does not share with its spec."""

    __slots__ = ("_by_key",)

    def __init__(self) -> None:
        #: A result that differs from its spec (none made by a run does) is kept as it is.
        self._by_key: dict[str, bytes | FileResult] = {}

    def add(self, spec: UploadSpec, result: FileResult) -> None:
        """Keep *result*, the result of *spec*'s file (replacing an earlier one)."""
        if not _shares_spec(result, spec):
            self._by_key[spec.key] = result
            return
        values = [getattr(result, name) for name in _OWN]
        values[0] = _STATUSES.index(result.status)
        self._by_key[spec.key] = marshal.dumps(tuple(values))

    def get(self, spec: UploadSpec) -> FileResult | None:
        """The result of *spec*'s file, None if it has none yet."""
        found = self._by_key.get(spec.key)
        if found is None or isinstance(found, FileResult):
            return found
        status, *own = marshal.loads(found)  # noqa: S302 -- bytes this store wrote
        fields = dict(zip(_OWN[1:], own, strict=True))
        return FileResult(
            source=spec.path,
            key=spec.key,
            category=spec.category,
            size=spec.size,
            date=spec.date,
            status=_STATUSES[status],
            **fields,
        )

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def __len__(self) -> int:
        return len(self._by_key)

    def keys(self) -> Iterator[str]:
        """The keys with a result, in the order they were recorded."""
        return iter(self._by_key)


class ResultsView(Mapping[str, FileResult]):
    """A read-only mapping, by key, of the results in a :class:`ResultStore` of *planned* files.

    Looking a key up finds its spec by an index of *planned* made on the first lookup (a
    caller's, never the run's own).
    """

    def __init__(self, store: ResultStore, planned: Sequence[UploadSpec]) -> None:
        self._store = store
        self._planned = planned
        self._index: dict[str, UploadSpec] | None = None

    def __getitem__(self, key: str) -> FileResult:
        if key not in self._store:
            raise KeyError(key)
        if self._index is None:
            self._index = {spec.key: spec for spec in self._planned}
        result = self._store.get(self._index[key])
        assert result is not None
        return result

    def __contains__(self, key: object) -> bool:
        return key in self._store

    def __iter__(self) -> Iterator[str]:
        return self._store.keys()

    def __len__(self) -> int:
        return len(self._store)
