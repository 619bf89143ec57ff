"""Finding and aborting stale multipart uploads: their parts are billed until they are aborted."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, replace
from typing import Any

from ._errors import describe_error, expected_errors, upload_is_gone

__all__ = ["StaleUpload", "sweep_uploads"]


@dataclass(frozen=True, kw_only=True)
class StaleUpload:
    """One multipart upload older than the cut-off, and what became of it."""

    key: str
    upload_id: str
    initiated: datetime.datetime
    #: True once aborted; False in a dry run or when the abort failed (see ``error``).
    aborted: bool = False
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "key": self.key,
            "upload_id": self.upload_id,
            "initiated": self.initiated.isoformat(),
            "aborted": self.aborted,
            "error": self.error,
        }


async def sweep_uploads(
    client: Any,
    bucket: str,
    *,
    prefix: str,
    older_than: datetime.timedelta,
    dry_run: bool,
    now: datetime.datetime,
) -> tuple[StaleUpload, ...]:
    """List the multipart uploads under *prefix* started before ``now - older_than``; abort them unless *dry_run*."""
    cutoff = now - older_than
    found: list[StaleUpload] = []
    paginator = client.get_paginator("list_multipart_uploads")
    async for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for upload in page.get("Uploads", []):
            initiated = upload["Initiated"]
            if initiated.tzinfo is None:
                initiated = initiated.replace(tzinfo=datetime.UTC)
            if initiated <= cutoff:
                found.append(StaleUpload(key=upload["Key"], upload_id=upload["UploadId"], initiated=initiated))
    if dry_run:
        return tuple(found)
    swept = []
    for stale in found:
        try:
            await client.abort_multipart_upload(Bucket=bucket, Key=stale.key, UploadId=stale.upload_id)
        except expected_errors() as exc:
            if upload_is_gone(exc):
                swept.append(replace(stale, aborted=True))
                continue
            error = describe_error(exc, bucket=bucket, key=stale.key)[0]
            swept.append(StaleUpload(key=stale.key, upload_id=stale.upload_id, initiated=stale.initiated, error=error))
        else:
            swept.append(StaleUpload(key=stale.key, upload_id=stale.upload_id, initiated=stale.initiated, aborted=True))
    return tuple(swept)
