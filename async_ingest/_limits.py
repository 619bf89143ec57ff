"""S3's limits and naming rules that a run is checked against before anything is sent."""

from __future__ import annotations

import ipaddress
import re

from ._exceptions import ConfigError

__all__ = [
    "MAX_OBJECT_SIZE",
    "MAX_PARTS",
    "MAX_PART_SIZE",
    "MAX_SINGLE_PUT",
    "MIN_PART_SIZE",
    "GiB",
    "KiB",
    "MiB",
    "TiB",
    "validate_bucket_name",
]

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
TiB = 1024 * GiB

#: S3's multipart limits.
MIN_PART_SIZE = 5 * MiB
MAX_PART_SIZE = 5 * GiB
MAX_PARTS = 10_000
MAX_OBJECT_SIZE = 5 * TiB
MAX_SINGLE_PUT = 5 * GiB

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def validate_bucket_name(bucket: str) -> str:
    """Return *bucket* if it follows S3's naming rules, else raise ConfigError naming the rule."""
    problem = None
    if not 3 <= len(bucket) <= 63:
        problem = "must be 3 to 63 characters long"
    elif not _BUCKET_RE.match(bucket):
        problem = "may hold only lowercase letters, digits, '.' and '-', and must start and end with a letter or digit"
    elif ".." in bucket or ".-" in bucket or "-." in bucket:
        problem = "may not hold '..', '.-' or '-.'"
    elif bucket.startswith(("xn--", "sthree-")) or bucket.endswith(("-s3alias", "--ol-s3", "--x-s3")):
        problem = "uses a prefix or suffix S3 reserves"
    else:
        try:
            ipaddress.IPv4Address(bucket)
        except ValueError:
            pass
        else:
            problem = "may not be formatted as an IP address"
    if problem:
        raise ConfigError(f"invalid bucket name {bucket!r}: a bucket name {problem}")
    return bucket
