"""The if-exists policy: what to do about an object already at a file's key.

``skip`` leaves an object alone when its stored checksum proves it holds the file's
bytes; ``fail`` refuses any existing object and makes the write conditional
(``If-None-Match: *``), so a concurrent writer cannot be overwritten either;
``overwrite`` never looks.  Existence is learnt from one listing per partition where
that is cheaper than a HEAD per file; a principal that may write but not read or list
uploads without looking.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Container, Sequence
from typing import Any

import anyio
from botocore.exceptions import ClientError

from ._checksum import ALGORITHMS
from ._errors import http_status
from ._exceptions import ObjectExistsError
from ._outcome import TransferOutcome, strip_etag
from ._plan import UploadSpec
from ._source import file_checksum

__all__ = ["ExistsPolicy", "ListedAbsent"]

log = logging.getLogger("async_ingest")


class ListedAbsent(Container[str]):
    """The keys absent from the partitions listed: in a partition of ``listed``, not among its ``present`` keys."""

    __slots__ = ("listed", "present")

    def __init__(self) -> None:
        self.listed: set[str] = set()
        self.present: set[str] = set()

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        return key.rpartition("/")[0] + "/" in self.listed and key not in self.present


class ExistsPolicy:
    """Applies one if-exists mode to the files of one bucket."""

    def __init__(
        self, client: Any, bucket: str, mode: str, *, readers: anyio.CapacityLimiter, run_id: str | None = None
    ) -> None:
        self._s3 = client
        self._bucket = bucket
        self._mode = mode
        self._readers = readers
        self._run_id = run_id

    def conditional_args(self) -> dict[str, str]:
        """The request fields that make a write (a PUT, or completing an upload) fail where an object is."""
        return {"IfNoneMatch": "*"} if self._mode == "fail" else {}

    async def check(self, spec: UploadSpec, absent: Container[str] = ()) -> TransferOutcome | None:
        """A skipped outcome if the file need not be sent; raise if it must not be; else None.

        A key in *absent* (a listing showed it missing) needs no HEAD.
        """
        if self._mode == "overwrite" or spec.key in absent:
            return None
        head = await self.head(spec.key)
        if head is None:
            return None
        if self._mode == "fail":
            raise ObjectExistsError(
                f"s3://{self._bucket}/{spec.key} already exists; "
                "use --if-exists overwrite to replace it or skip to keep it"
            )
        return await self._same_content(head, spec)

    async def listed_absent(self, specs: Sequence[UploadSpec]) -> Container[str]:
        """Keys of *specs* that a listing shows absent, so they need no HEAD before their upload.

        Only partitions holding two or more of the files are listed (one LIST instead of a HEAD
        each); a daily partition is usually empty.  Where listing is forbidden, nothing is known
        absent and every file gets its HEAD.  What it keeps is the partitions listed and the
        files found in them, not every key absent.
        """
        if self._mode == "overwrite":
            return set()
        # A partition's one key, or the set of its keys once it has two: most partitions of some runs have one.
        by_prefix: dict[str, str | set[str]] = {}
        for spec in specs:
            prefix = spec.key.rpartition("/")[0] + "/"
            found = by_prefix.setdefault(prefix, spec.key)
            if isinstance(found, set):
                found.add(spec.key)
            elif found != spec.key:
                by_prefix[prefix] = {found, spec.key}
        absent = ListedAbsent()
        try:
            for prefix, keys in by_prefix.items():
                if isinstance(keys, str):
                    continue
                paginator = self._s3.get_paginator("list_objects_v2")
                async for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix, Delimiter="/"):
                    absent.present.update(item["Key"] for item in page.get("Contents", ()) if item["Key"] in keys)
                absent.listed.add(prefix)
        except ClientError as exc:
            if http_status(exc) == 403:
                return set()  # may write but not list: a HEAD per file instead
            raise
        return absent

    async def head(self, key: str) -> dict[str, Any] | None:
        """The object's HEAD with its checksum, or None if there is none (or we may not look)."""
        try:
            response: dict[str, Any] = await self._s3.head_object(Bucket=self._bucket, Key=key, ChecksumMode="ENABLED")
        except ClientError as exc:
            status = http_status(exc)
            if status == 404:
                return None
            if status == 403:
                # Writers often may PUT but not read; then existence cannot be checked and the
                # upload goes ahead (a conditional write still guards --if-exists fail).
                log.info(
                    "may not read s3://%s/%s; uploading without checking it",
                    self._bucket,
                    key,
                    extra={"run_id": self._run_id, "key": key},
                )
                return None
            raise
        return response

    async def _same_content(self, head: dict[str, Any], spec: UploadSpec) -> TransferOutcome | None:
        """A skipped outcome if the stored object provably holds the file's bytes, else None.

        A multipart object's checksum may be composite (a checksum of its parts' checksums,
        always so for SHA-256): the file's is then computed for the object's own part layout,
        its part count and its first part's size.  Stores that leave out the checksum type
        and the ``-N`` suffix still give the part count in the ETag.
        """
        if head.get("ContentLength") != spec.size:
            return None
        for algo in ALGORITHMS.values():
            stored = head.get(algo.parameter)
            if not stored:
                continue
            value, _, suffix = stored.partition("-")
            etag = strip_etag(head.get("ETag")) or ""
            parts = _part_count(suffix) or _part_count(etag.partition("-")[2])
            kind = head.get("ChecksumType")
            part_size = None
            if kind == "COMPOSITE" or suffix or (kind is None and algo.combine is None and parts):
                part_size = await self._part_size(spec, parts)
                if part_size is None:
                    return None  # the part layout cannot be learnt: identity cannot be proven
            local = await anyio.to_thread.run_sync(file_checksum, spec, algo, part_size, limiter=self._readers)
            if local.partition("-")[0] != value:
                return None
            return TransferOutcome(
                etag=etag or None,
                parts=0,
                checksum=local,
                checksum_algorithm=algo.name,
                version_id=head.get("VersionId"),
                skipped=True,
            )
        return None  # no checksum stored: identity cannot be proven, so upload

    async def _part_size(self, spec: UploadSpec, parts: int | None) -> int | None:
        """The size of the stored object's parts, from its first, if *parts* of it make up the file."""
        if not parts:
            return None
        try:
            first = await self._s3.head_object(Bucket=self._bucket, Key=spec.key, PartNumber=1)
        except ClientError as exc:
            if http_status(exc) in (400, 403, 404, 416):
                return None
            raise
        size = first.get("ContentLength")
        if not isinstance(size, int) or size <= 0 or first.get("PartsCount", parts) != parts:
            return None
        return size if math.ceil(spec.size / size) == parts else None


def _part_count(text: str) -> int | None:
    """The part count a ``-N`` suffix gives, or None."""
    return int(text) if text.isdigit() and int(text) > 0 else None
