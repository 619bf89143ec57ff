"""Landing each file once across days: what earlier runs landed, read from their manifests in the bucket.

With ``once`` set, a run reads the manifests of the same zone and origin whose processing
date falls in the window (the run's processing date back to that date minus ``once``, in
whole days) before it uploads anything: one LIST per day of the window (the day's manifest
folder) and one GET per manifest found.  The files those runs uploaded or skipped make an
in-memory index of (file name, size, checksum algorithm, checksum) -> the key where the
file is.  A file of this run whose name, size and checksum (computed now, with the run's
algorithm) match an entry is skipped and reported with ``landed_at``.  No local state: any
machine, and every shard of a sharded run, sees the same bucket.
"""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

import anyio

from ._once import window_days
from ._results import FileResult, FileStatus

if TYPE_CHECKING:
    from ._checksum import Algorithm
    from ._config import IngestConfig
    from ._plan import RunPlan, UploadSpec
    from ._types import S3Client

__all__ = ["LandedIndex", "find_landed", "load_landed", "skip_landed"]

log = logging.getLogger("async_ingest")

#: The statuses of a manifest's files that mean the file is in the lake.
LANDED = ("uploaded", "skipped")


@dataclass
class LandedIndex:
    """Files earlier runs landed: (name, size, algorithm, checksum) -> the key where the file is."""

    entries: dict[tuple[str, int, str, str], str] = field(default_factory=dict)
    #: The names in ``entries``, so that a file no earlier run had needs no checksum.
    names: set[str] = field(default_factory=set)
    manifests: int = 0

    def add_manifest(self, document: Mapping[str, Any], days: Container[str] | None = None) -> None:
        """Index the landed files of one run manifest (if its processing date is one of *days*, ISO)."""
        if days is not None and document.get("date") not in days:
            return
        self.manifests += 1
        for item in document.get("files", ()):
            if not isinstance(item, Mapping) or item.get("status") not in LANDED:
                continue
            algo, checksum, size = item.get("checksum_algorithm"), item.get("checksum"), item.get("size")
            where = item.get("landed_at") or item.get("key")
            source = item.get("source")
            if not (algo and checksum and isinstance(size, int) and where and source):
                continue
            name = PurePath(str(source)).name
            self.entries.setdefault((name, size, str(algo), str(checksum)), str(where))
            self.names.add(name)

    def lookup(self, spec: UploadSpec, algo: Algorithm, checksum: str) -> str | None:
        """The key where the file of *spec* with *checksum* already is, or None."""
        return self.entries.get((spec.name, spec.size, algo.name, checksum))

    def composite_counts(self, spec: UploadSpec, algo: Algorithm) -> set[int]:
        """The part counts of composite checksums (``value-N``) recorded for a file of this name and size."""
        counts = set()
        for name, size, algorithm, checksum in self.entries:
            suffix = checksum.rpartition("-")[2] if "-" in checksum else ""
            if name == spec.name and size == spec.size and algorithm == algo.name and suffix.isdigit():
                counts.add(int(suffix))
        return counts


async def load_landed(client: S3Client, bucket: str, config: IngestConfig, date: datetime.date) -> LandedIndex:
    """The files landed by the runs of the window: one LIST per day, one GET per manifest (concurrently)."""
    from ._errors import http_status

    assert config.once is not None
    days = window_days(date, config.once)
    prefixes = dict.fromkeys(config.manifest_key(day, "x").rpartition("/")[0] + "/" for day in days)
    keys: list[str] = []
    paginator = client.get_paginator("list_objects_v2")
    for prefix in prefixes:
        async for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
            keys.extend(item["Key"] for item in page.get("Contents", ()) if item["Key"].endswith(".json"))
    documents: dict[str, Any] = {}
    limiter = anyio.CapacityLimiter(config.concurrency)

    async def read(key: str) -> None:
        from botocore.exceptions import ClientError

        async with limiter:
            try:
                response = await client.get_object(Bucket=bucket, Key=key)
            except ClientError as exc:
                if http_status(exc) == 404:
                    return  # deleted since the listing
                raise
            async with response["Body"] as body:
                data = await body.read()
        try:
            documents[key] = await anyio.to_thread.run_sync(json.loads, data)
        except ValueError:
            log.warning("s3://%s/%s is not a run manifest (not JSON); its files do not count for --once", bucket, key)

    async with anyio.create_task_group() as tg:
        for key in keys:
            tg.start_soon(read, key)
    index = LandedIndex()
    window = {day.isoformat() for day in days}
    for key in sorted(documents):  # the earliest landing of a file wins, whatever order the GETs ended in
        if isinstance(documents[key], Mapping):
            index.add_manifest(documents[key], window)
    log.info("--once: %d manifests, %d landed files in the window", index.manifests, len(index.entries))
    return index


async def find_landed(
    index: LandedIndex, spec: UploadSpec, algo: Algorithm, readers: anyio.CapacityLimiter
) -> tuple[str, str] | None:
    """(key where it is, its checksum) if an earlier run landed this file's name and content, else None.

    The file's full checksum is computed first; a multipart SHA-256 object's checksum is
    composite (of its parts'), so that is compared as well when an entry of the same part
    count exists, computed with this run's part size: a different part size gives a
    different value, and the file is uploaded again (identity not proven).
    """
    from ._source import file_checksum

    if spec.name not in index.names:
        return None
    checksum = await anyio.to_thread.run_sync(file_checksum, spec, algo, None, limiter=readers)
    where = index.lookup(spec, algo, checksum)
    if where is None and algo.combine is None and spec.part_count in index.composite_counts(spec, algo):
        checksum = await anyio.to_thread.run_sync(file_checksum, spec, algo, spec.part_size, limiter=readers)
        where = index.lookup(spec, algo, checksum)
    return None if where is None else (where, checksum)


async def skip_landed(
    client: S3Client,
    plan: RunPlan,
    config: IngestConfig,
    readers: anyio.CapacityLimiter,
    record: Callable[[UploadSpec, FileResult], None],
) -> Sequence[UploadSpec]:
    """Record the files earlier runs of the window landed as skipped; the files still to upload.

    Manifests that cannot be read fail every file (nothing is uploaded: what landed is
    unknown); a file that cannot be read fails alone.
    """
    from ._checksum import algorithm
    from ._errors import describe_error, expected_errors

    algo = algorithm(config.checksum)
    assert algo is not None
    failure: BaseException | None = None
    try:
        index = await load_landed(client, plan.bucket, config, plan.date)
    except* expected_errors() as group:  # the listing's error, or the first of the GETs'
        failure = group.exceptions[0]
        while isinstance(failure, BaseExceptionGroup):
            failure = failure.exceptions[0]
    if failure is not None:
        folder = config.manifest_key(plan.date, "x").rpartition("/")[0] + "/"
        message, code = describe_error(failure, bucket=plan.bucket, key=folder)
        error = f"could not read the run manifests that --once needs: {message}"
        for spec in plan.uploads:
            record(spec, plan.result(spec, FileStatus.FAILED, error=error, error_code=code))
        return ()
    keep: set[str] = set()
    limiter = anyio.CapacityLimiter(config.concurrency)

    async def decide(spec: UploadSpec) -> None:
        async with limiter:
            try:
                found = await find_landed(index, spec, algo, readers)
            except expected_errors() as exc:
                message, code = describe_error(exc, bucket=plan.bucket, key=spec.key)
                record(spec, plan.result(spec, FileStatus.FAILED, error=message, error_code=code))
                return
        if found is None:
            keep.add(spec.key)
            return
        where, checksum = found
        log.info("skipped %s: already landed at %s", spec.key, where, extra={"run_id": plan.run_id, "key": spec.key})
        landed = plan.result(spec, FileStatus.SKIPPED, checksum_algorithm=algo.name, checksum=checksum, landed_at=where)
        record(spec, landed)

    async with anyio.create_task_group() as tg:
        for spec in plan.uploads:
            tg.start_soon(decide, spec)
    return [spec for spec in plan.uploads if spec.key in keep]
