"""Completing a sharded run's set: once every shard's manifest is written, the run's ``_SUCCESS`` markers.

Each shard, after writing its own manifest, lists the run's shard manifests (one LIST).
The shard that finds all of them reads the others (one GET each) and writes the marker of
each partition all of whose files landed, with ``If-None-Match: *``: if two shards finish
together, both may try, and S3 lets exactly one create the marker; the other's 412
(PreconditionFailed) only says it was already written.  A shard that fails and is run
again under the same run id rewrites its manifest, and so completes the set in its turn.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from ._errors import describe_error, error_code, expected_errors
from ._results import FileResult, FileStatus
from ._shard import Shard

if TYPE_CHECKING:
    from ._config import IngestConfig
    from ._plan import RunPlan
    from ._types import S3Client

__all__ = ["complete_partitions", "landed", "shard_manifest_keys", "write_set_markers"]

log = logging.getLogger("async_ingest")

#: How many times a marker's conditional create is tried while S3 answers 409 (a concurrent conditional write).
CONFLICT_ATTEMPTS = 3


def landed(files: Iterable[FileResult]) -> Iterator[tuple[str, bool]]:
    """Each file's key and whether it landed (uploaded, or skipped as there already), one at a time."""
    return ((result.key, result.status in (FileStatus.UPLOADED, FileStatus.SKIPPED)) for result in files)


def complete_partitions(files: Iterable[tuple[str, bool]]) -> list[str]:
    """The partitions (key prefixes) all of whose files landed, from (key, landed) pairs, in order of appearance."""
    partitions: dict[str, bool] = {}
    for key, landed in files:
        partition = key.rpartition("/")[0]
        partitions[partition] = partitions.get(partition, True) and landed
    return [partition for partition, complete in partitions.items() if complete and partition]


def shard_manifest_keys(config: IngestConfig, plan: RunPlan) -> list[str]:
    """The manifest keys of every shard of *plan*'s run, by index."""
    assert plan.shard is not None
    count = plan.shard.count
    return [config.manifest_key(plan.date, plan.run_id, Shard(index, count)) for index in range(count)]


async def _listed(client: S3Client, bucket: str, prefix: str) -> set[str]:
    keys: set[str] = set()
    paginator = client.get_paginator("list_objects_v2")
    async for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        keys.update(item["Key"] for item in page.get("Contents", ()))
    return keys


async def _create(client: S3Client, bucket: str, key: str, args: dict[str, object]) -> bool:
    """Create the empty object *key* unless it exists; False if another writer created it first."""
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        try:
            await client.put_object(Bucket=bucket, Key=key, Body=b"", IfNoneMatch="*", **args)
        except expected_errors() as exc:
            code = error_code(exc)
            if code in ("PreconditionFailed", "412"):
                return False
            if code == "ConditionalRequestConflict" and attempt < CONFLICT_ATTEMPTS:
                continue
            raise
        return True
    return False  # pragma: no cover - the loop returns or raises


async def write_set_markers(
    client: S3Client,
    config: IngestConfig,
    plan: RunPlan,
    own: Iterable[tuple[str, bool]],
    args: dict[str, object],
    errors: list[str],
) -> list[str]:
    """If every shard of the run has written its manifest, create the markers of its complete partitions.

    *own* is this shard's files as (key, landed); *args* the fields of every object the run
    writes.  Returns the markers this shard created; failures go in *errors*.
    """
    from ._verify import ManifestError, read_manifest

    assert plan.shard is not None
    bucket, keys = plan.bucket, shard_manifest_keys(config, plan)
    head = f"{plan.run_id}.shard-"
    prefix = keys[0][: keys[0].rindex(head) + len(head)]  # one LIST: the run's shard manifests only
    try:
        found = await _listed(client, bucket, prefix)
    except expected_errors() as exc:
        errors.append(f"could not list the run's shard manifests: {describe_error(exc, bucket=bucket, key=keys[0])[0]}")
        return []
    missing = [key for key in keys if key not in found]
    if missing:
        log.info("run %s: %d of %d shard manifests written", plan.run_id, len(keys) - len(missing), len(keys))
        return []
    files = list(own)
    for index, key in enumerate(keys):
        if index == plan.shard.index:
            continue
        try:
            manifest = await read_manifest(client, bucket=bucket, key=key)
        except ManifestError as exc:
            errors.append(f"could not complete the run's markers: {exc}")
            return []
        files.extend((entry.key, entry.landed) for entry in manifest.files)
    created = []
    for partition in complete_partitions(files):
        marker = f"{partition}/_SUCCESS"
        try:
            if await _create(client, bucket, marker, args):
                log.info("run %s: wrote marker %s", plan.run_id, marker, extra={"run_id": plan.run_id})
                created.append(marker)
            else:
                log.info("run %s: marker %s was already written", plan.run_id, marker, extra={"run_id": plan.run_id})
        except expected_errors() as exc:
            errors.append(
                f"could not write s3://{bucket}/{marker}: {describe_error(exc, bucket=bucket, key=marker)[0]}"
            )
    return created
