"""What S3 holds after a write: the outcome reported for a file, and the checks that it is the file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio

from ._errors import describe_error, expected_errors
from ._exceptions import ChecksumMismatchError
from ._plan import UploadSpec

__all__ = ["TransferOutcome", "check_part_answer", "strip_etag", "verify_stored"]


@dataclass(frozen=True)
class TransferOutcome:
    """What S3 answered for one file that is in place (uploaded, or found already there)."""

    etag: str | None
    parts: int
    checksum: str | None
    checksum_algorithm: str | None
    version_id: str | None
    skipped: bool = False


def strip_etag(etag: str | None) -> str | None:
    """An ETag without the quotes S3 puts around it."""
    return etag.strip('"') if etag else etag


def check_part_answer(spec: UploadSpec, number: int, sent: str, answered: str | None) -> None:
    """Raise if S3 reports a part checksum other than the one sent with the part."""
    if answered is not None and answered != sent:
        raise ChecksumMismatchError(
            f"part {number} of {spec.key}: S3 answered checksum {answered}, the part's is {sent}; not completed"
        )


async def verify_stored(
    client: Any,
    bucket: str,
    spec: UploadSpec,
    *,
    sent: str | None,
    answered: str | None,
    size: int | None,
    abort_timeout: float,
) -> None:
    """Fail, and remove the object, if what S3 reports storing is not the local file."""
    problem = None
    if size is not None and size != spec.size:
        problem = f"S3 stored {size} bytes, the file has {spec.size}"
    elif sent is not None and answered is not None and answered.split("-")[0] != sent.split("-")[0]:
        # (composite checksums end in -<parts>, which some stores leave out)
        problem = f"S3 answered checksum {answered}, the file's is {sent}"
    if problem is None:
        return
    with anyio.move_on_after(abort_timeout, shield=True):
        try:
            await client.delete_object(Bucket=bucket, Key=spec.key)
        except expected_errors() as exc:
            problem += f"; removing the object failed too: {describe_error(exc, bucket=bucket, key=spec.key)[0]}"
        else:
            problem += "; the object was removed"
    raise ChecksumMismatchError(f"s3://{bucket}/{spec.key} does not match {spec.path}: {problem}")
