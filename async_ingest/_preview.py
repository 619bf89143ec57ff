"""A dry run that looks at the bucket: what a real run would skip or refuse, learnt by reading only.

Each file's key is checked as a real run's if-exists policy checks it (one listing per
partition where that is cheaper, else a HEAD; for ``skip``, the stored checksum against
the file's), so the report says ``skipped`` where identical content is already there
and ``failed`` where ``--if-exists fail`` would refuse; everything else is ``planned``.
Nothing is ever written: the requests are GETs (listings) and HEADs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import anyio

from ._errors import describe_error, expected_errors
from ._plan import RunPlan, UploadSpec
from ._results import FileResult, FileStatus

__all__ = ["check_bucket"]

log = logging.getLogger("async_ingest")


async def check_bucket(
    plan: RunPlan, client: Any, *, if_exists: str, readers: anyio.CapacityLimiter, concurrency: int
) -> dict[str, FileResult]:
    """The results a real run of *plan* would give without sending a byte: ``skipped``, ``failed``; by key.

    Files it would upload have no result here (they stay ``planned``).  After an error that
    every file would meet (no such bucket, bad credentials), the files not yet checked fail with it.
    """
    from ._errors import NOT_ATTEMPTED, RUN_WIDE_ERRORS
    from ._exists import ExistsPolicy

    policy = ExistsPolicy(client, plan.bucket, if_exists, readers=readers, run_id=plan.run_id)
    results: dict[str, FileResult] = {}
    run_wide: list[tuple[str, str]] = []
    try:
        absent = await policy.listed_absent(plan.uploads)
    except expected_errors() as exc:
        log.info("listing the run's partitions failed (%s); checking each key instead", exc)
        absent = set()

    async def check(spec: UploadSpec) -> None:
        if run_wide:
            message, code = run_wide[0]
            results[spec.key] = plan.result(spec, FileStatus.FAILED, error=NOT_ATTEMPTED + message, error_code=code)
            return
        try:
            outcome = await policy.check(spec, absent)
        except expected_errors() as exc:  # --if-exists fail and an object there, or S3's error
            message, code = describe_error(exc, bucket=plan.bucket, key=spec.key)
            if code in RUN_WIDE_ERRORS and not run_wide:
                run_wide.append((message, code or ""))
            results[spec.key] = plan.result(spec, FileStatus.FAILED, error=message, error_code=code)
            return
        if outcome is not None:
            results[spec.key] = plan.result(
                spec,
                FileStatus.SKIPPED,
                etag=outcome.etag,
                checksum_algorithm=outcome.checksum_algorithm,
                checksum=outcome.checksum,
                version_id=outcome.version_id,
            )

    async def lane(queue: Iterator[UploadSpec]) -> None:
        for spec in queue:  # shared by the lanes: each takes the next file
            await check(spec)

    queue = iter(plan.uploads)
    async with anyio.create_task_group() as tg:
        for _ in range(min(concurrency, len(plan.uploads))):
            tg.start_soon(lane, queue)
    return results
