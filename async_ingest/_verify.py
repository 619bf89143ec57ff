"""Checking what a run landed against its manifest: each object's presence, size and stored checksum.

The manifest is the run's own record (``IngestReport.to_dict()``, written beside the data).
Every file it lists as uploaded or skipped gets one ``HeadObject`` with its checksum; with
``against_local`` the local file is read again (in a worker thread) and its size and checksum
compared too.  Files the run did not land are listed as ``not-landed``, not as mismatches.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import anyio

from ._config import CHECKSUMS, IngestConfig, validate_bucket_name
from ._errors import describe_error, expected_errors
from ._exceptions import ConfigError
from ._keys import check_piece
from ._plan import adjust_part_size

if TYPE_CHECKING:
    from ._checksum import Algorithm

__all__ = [
    "ManifestError",
    "ObjectCheck",
    "VerifyReport",
    "manifest_key_for",
    "parse_s3_uri",
    "read_manifest",
    "verify_manifest",
]

CheckStatus = Literal["ok", "missing", "size", "checksum", "local-missing", "local-changed", "error", "not-landed"]

#: Statuses that mean the lake (or the local file) no longer holds what the run landed.
MISMATCHES = frozenset({"missing", "size", "checksum", "local-missing", "local-changed", "error"})

#: Local files read (and checksummed) in worker threads at once.
READERS = 2

_CHUNK = 8 * 1024 * 1024


class ManifestError(ConfigError):
    """The manifest is missing, unreadable, or not a run manifest; nothing was checked."""


@dataclass(frozen=True, kw_only=True)
class ManifestFile:
    """One file of a manifest, as far as verifying it goes."""

    key: str
    source: str
    size: int
    status: str
    parts: int
    checksum_algorithm: str | None
    checksum: str | None
    #: The run's part size, where the manifest records it.
    part_size: int | None = None

    @property
    def landed(self) -> bool:
        return self.status in ("uploaded", "skipped")


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """A run manifest: which run, which bucket, and its files."""

    run_id: str
    bucket: str
    date: str
    files: tuple[ManifestFile, ...]


@dataclass(frozen=True, kw_only=True)
class ObjectCheck:
    """The outcome of verifying one file of the manifest."""

    key: str
    source: str
    status: CheckStatus
    #: What the manifest says (a size or a checksum), and what was found instead.
    expected: str | None = None
    found: str | None = None
    detail: str = ""
    #: What was compared: ``present``, ``size``, the checksum's name, ``local size``, ``local <checksum>``.
    checked: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True unless the object (or the local file) does not match the manifest."""
        return self.status not in MISMATCHES

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return {**dataclasses.asdict(self), "checked": list(self.checked)}


@dataclass(frozen=True, kw_only=True)
class VerifyReport:
    """Every file of one manifest, checked."""

    manifest_key: str
    bucket: str
    run_id: str
    date: str
    against_local: bool
    checks: tuple[ObjectCheck, ...]

    @property
    def ok(self) -> bool:
        """True when every landed object (and, if asked, every local file) matches the manifest."""
        return all(check.ok for check in self.checks)

    @property
    def mismatches(self) -> tuple[ObjectCheck, ...]:
        """The checks that found a difference."""
        return tuple(check for check in self.checks if not check.ok)

    @property
    def summary(self) -> dict[str, int]:
        """How many files, and how many of each status."""
        counts: dict[str, int] = {"files": len(self.checks)}
        for check in self.checks:
            counts[check.status] = counts.get(check.status, 0) + 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the whole result."""
        names = ("manifest_key", "bucket", "run_id", "date", "against_local", "ok", "summary")
        document = {name: getattr(self, name) for name in names}
        document["checks"] = [check.to_dict() for check in self.checks]
        return document


def parse_s3_uri(text: str) -> tuple[str, str]:
    """Bucket and key of ``s3://BUCKET/KEY``; raises ConfigError naming what is wrong."""
    bucket, slash, key = text.removeprefix("s3://").partition("/")
    if not text.startswith("s3://") or not slash or not key or not bucket:
        raise ConfigError(f"invalid manifest URI {text!r}: use s3://BUCKET/KEY")
    validate_bucket_name(bucket)
    return bucket, key


def manifest_key_for(config: IngestConfig, run_id: str, date: datetime.date) -> str:
    """Where *config* puts the manifest of run *run_id* (of its shard, if any) on processing date *date*.

    Raises ConfigError.
    """
    check_piece("run id", run_id)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", run_id):
        raise ConfigError(f"invalid run id {run_id!r}: a run id holds letters, digits, '.', '_' and '-'")
    return config.manifest_key(date, run_id, config.shard)


def _field(entry: dict[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = entry.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ManifestError(
            f"{where} is not a run manifest: {name!r} is missing or not a {getattr(kind, '__name__', kind)}"
        )
    return value


def parse_manifest(data: bytes, *, where: str) -> Manifest:
    """The manifest in *data* (read from *where*); raises ManifestError if it is not one."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise ManifestError(f"{where} is not a run manifest: not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("files"), list):
        raise ManifestError(f"{where} is not a run manifest: no 'files' list")
    files = []
    for entry in document["files"]:
        if not isinstance(entry, dict):
            raise ManifestError(f"{where} is not a run manifest: a file entry is not an object")
        algo = entry.get("checksum_algorithm")
        if algo is not None and (algo not in CHECKSUMS or algo == "none"):
            raise ManifestError(f"{where} is not a run manifest: unknown checksum algorithm {algo!r}")
        checksum = entry.get("checksum")
        part_size = entry.get("part_size")
        files.append(
            ManifestFile(
                key=_field(entry, "key", str, where),
                source=_field(entry, "source", str, where),
                size=_field(entry, "size", int, where),
                status=_field(entry, "status", str, where),
                parts=parts if isinstance(parts := entry.get("parts"), int) else 0,
                checksum_algorithm=algo,
                checksum=checksum if isinstance(checksum, str) and algo else None,
                part_size=part_size if isinstance(part_size, int) and part_size > 0 else None,
            )
        )
    bucket = _field(document, "bucket", str, where)
    try:
        validate_bucket_name(bucket)
    except ConfigError as exc:
        raise ManifestError(f"{where} is not a run manifest: {exc}") from None
    return Manifest(
        run_id=_field(document, "run_id", str, where),
        bucket=bucket,
        date=_field(document, "date", str, where),
        files=tuple(files),
    )


async def read_manifest(client: Any, *, bucket: str, key: str) -> Manifest:
    """Fetch and parse the manifest at s3://*bucket*/*key*; raises ManifestError."""

    where = f"s3://{bucket}/{key}"
    try:
        response = await client.get_object(Bucket=bucket, Key=key)
        data = await response["Body"].read()
    except expected_errors() as exc:
        message, code = describe_error(exc, bucket=bucket, key=key)
        if code in ("NoSuchKey", "404"):
            message = "no such object (check the run id, --date and the manifest layout)"
        raise ManifestError(f"cannot read the manifest {where}: {message}") from None
    return parse_manifest(data, where=where)


def _same_checksum(expected: str, stored: str | None) -> bool:
    """Equal checksums; a composite's ``-N`` suffix only counts where both sides carry one."""
    if stored is None:
        return False
    want, _, want_parts = expected.partition("-")
    have, _, have_parts = stored.partition("-")
    return want == have and (want_parts == have_parts or not want_parts or not have_parts)


def _digest_range(fd: int, offset: int, length: int, algo: Algorithm) -> int | bytes:
    """The raw checksum of *length* bytes of *fd* from *offset*, read in chunks."""
    if algo.combine is None:
        hasher = hashlib.sha256()
        for start in range(offset, offset + length, _CHUNK):
            hasher.update(os.pread(fd, min(_CHUNK, offset + length - start), start))
        return hasher.digest()
    total = 0
    for start in range(offset, offset + length, _CHUNK):
        data = os.pread(fd, min(_CHUNK, offset + length - start), start)
        value = algo.compute(data)
        assert isinstance(value, int)
        total = algo.combine(total, value, len(data)) if start > offset else value
    return total


def _local_state(path: str, algo: Algorithm | None, part_size: int | None) -> tuple[int, str | None]:
    """The local file's size and checksum (composite with *part_size*), in a worker thread."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        if algo is None:
            return size, None
        if part_size is None:
            return size, algo.file_b64(fd, size)
        parts = [
            (_digest_range(fd, offset, min(part_size, size - offset), algo), min(part_size, size - offset))
            for offset in range(0, size, part_size)
        ]
        return size, algo.composite(parts)
    finally:
        os.close(fd)


def _check(entry: ManifestFile, status: CheckStatus, detail: str = "", **fields: Any) -> ObjectCheck:
    return ObjectCheck(key=entry.key, source=entry.source, status=status, detail=detail, **fields)


class _Checker:
    """Checks the files of one manifest through one client, with one limit on requests in flight."""

    def __init__(self, client: Any, bucket: str, *, against_local: bool, part_size: int) -> None:
        self._s3 = client
        self._bucket = bucket
        self._against_local = against_local
        self._part_size = part_size
        self._readers = anyio.CapacityLimiter(READERS)

    async def check(self, entry: ManifestFile) -> ObjectCheck:
        """Verify one file of the manifest."""
        from ._checksum import algorithm

        if not entry.landed:
            return _check(entry, "not-landed", f"the run reported it {entry.status}")
        algo = algorithm(entry.checksum_algorithm) if entry.checksum and entry.checksum_algorithm else None
        try:
            head = await self._head(entry.key)
        except expected_errors() as exc:
            message, _ = describe_error(exc, bucket=self._bucket, key=entry.key)
            return _check(entry, "error", message)
        if head is None:
            return _check(entry, "missing", "no such object")
        checked: tuple[str, ...] = ("present", "size")
        if (length := head.get("ContentLength")) != entry.size:
            detail = f"{entry.size} bytes in the manifest, {length} stored"
            return _check(entry, "size", detail, expected=str(entry.size), found=str(length), checked=checked)
        if algo is None or entry.checksum is None:
            note = "no checksum in the manifest: only presence and size checked"
        else:
            checked += (algo.name,)
            stored = head.get(algo.parameter)
            if not _same_checksum(entry.checksum, stored):
                detail = f"stored {algo.name} is {stored or 'absent'}, the manifest's {entry.checksum}"
                return _check(entry, "checksum", detail, expected=entry.checksum, found=stored, checked=checked)
            note = ""
        if self._against_local:
            return await self._check_local(entry, algo, checked, note)
        return _check(entry, "ok", note, checked=checked)

    async def _head(self, key: str, **extra: Any) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            response: dict[str, Any] = await self._s3.head_object(
                Bucket=self._bucket, Key=key, ChecksumMode="ENABLED", **extra
            )
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return None
            raise
        return response

    async def _composite_part_size(self, entry: ManifestFile) -> tuple[int | None, str]:
        """The part size of a composite-checksum object, and where it came from."""
        if entry.part_size is not None:
            return entry.part_size, "the manifest"

        try:
            first = await self._head(entry.key, PartNumber=1)
        except expected_errors():
            first = None
        if first is not None and first.get("PartsCount") == entry.parts and first.get("ContentLength"):
            return int(first["ContentLength"]), "S3's first part"
        # As the planner cuts it, from the configured part size; right if the run used the same one.
        part_size = adjust_part_size(entry.size, self._part_size)
        if math.ceil(entry.size / part_size) == entry.parts:
            return part_size, "the configured part size"
        return None, ""

    async def _check_local(
        self, entry: ManifestFile, algo: Algorithm | None, checked: tuple[str, ...], note: str
    ) -> ObjectCheck:
        part_size = None
        if algo is not None and entry.checksum is not None and "-" in entry.checksum:
            part_size, origin = await self._composite_part_size(entry)
            if part_size is None:
                algo = None
                note = "local checksum not compared: the run's part size is unknown (set --part-size)"
        try:
            size, checksum = await anyio.to_thread.run_sync(
                _local_state, entry.source, algo, part_size, limiter=self._readers
            )
        except OSError as exc:
            return _check(entry, "local-missing", f"{entry.source}: {exc.strerror or exc}", checked=checked)
        checked += ("local size",)
        if size != entry.size:
            detail = f"{entry.source} has {size} bytes, the manifest {entry.size}"
            return _check(entry, "local-changed", detail, expected=str(entry.size), found=str(size), checked=checked)
        if algo is not None and entry.checksum is not None:
            checked += (f"local {algo.name}",)
            if checksum is None or not _same_checksum(entry.checksum, checksum):
                detail = f"{entry.source}: {algo.name} {checksum}, the manifest's {entry.checksum}"
                if part_size:
                    detail += f" (parts of {part_size} bytes, from {origin})"
                return _check(entry, "local-changed", detail, expected=entry.checksum, found=checksum, checked=checked)
        return _check(entry, "ok", note, checked=checked)


async def verify_manifest(
    client: Any,
    *,
    bucket: str,
    manifest_key: str,
    against_local: bool = False,
    concurrency: int = 8,
    part_size: int = IngestConfig.part_size,
) -> VerifyReport:
    """Check every object the manifest at s3://*bucket*/*manifest_key* lists; raises ManifestError.

    The objects are looked up in the bucket the manifest names.  *part_size* is the run's,
    needed only to recompute a local file's composite (multipart SHA-256) checksum when
    neither the manifest nor S3 says how the object was cut.
    """
    if concurrency < 1:
        raise ConfigError(f"concurrency must be at least 1, got {concurrency}")
    manifest = await read_manifest(client, bucket=bucket, key=manifest_key)
    checker = _Checker(client, manifest.bucket, against_local=against_local, part_size=part_size)
    checks: list[ObjectCheck | None] = [None] * len(manifest.files)
    pending: Iterator[tuple[int, ManifestFile]] = iter(enumerate(manifest.files))

    async def work() -> None:
        for index, entry in pending:
            checks[index] = await checker.check(entry)

    async with anyio.create_task_group() as tg:
        for _ in range(min(concurrency, len(manifest.files))):
            tg.start_soon(work)
    return VerifyReport(
        manifest_key=manifest_key,
        bucket=manifest.bucket,
        run_id=manifest.run_id,
        date=manifest.date,
        against_local=against_local,
        checks=tuple(check for check in checks if check is not None),
    )
