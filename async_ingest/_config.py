"""Run settings: frozen, keyword-only, validated on construction."""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ._endpoint import validate_endpoint_url
from ._exceptions import ConfigError
from ._keys import LAYOUTS, KeyBuilder

__all__ = ["CHECKSUMS", "IngestConfig", "validate_bucket_name"]

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

Checksum = Literal["crc64nvme", "crc32c", "crc32", "sha256", "none"]
CHECKSUMS: tuple[Checksum, ...] = ("crc64nvme", "crc32c", "crc32", "sha256", "none")

IfExists = Literal["skip", "overwrite", "fail"]
IF_EXISTS: tuple[IfExists, ...] = ("skip", "overwrite", "fail")

#: Manifests go beside the data, under names Spark, Glue and Athena skip (leading underscore).
DEFAULT_MANIFEST_LAYOUT = "{zone}/{origin}/_manifests/{yyyy}/{mm}/{dd}/{filename}"

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _one_of(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


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


@dataclass(frozen=True, kw_only=True)
class IngestConfig:
    """Everything a run needs to know besides its sources and its date.

    Sizes are in bytes.  ``endpoint_url``, ``region`` and ``profile`` default to
    the standard AWS configuration chain (``AWS_ENDPOINT_URL``, ``AWS_REGION``,
    ``AWS_PROFILE``, the shared config files, instance and task roles).
    """

    bucket: str
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    layout: str = "default"
    zone: str = "Raw"
    origin: str = "Local"
    format: str | None = None
    #: Requests in flight at once, across every file of the run (per process, with ``workers``).
    concurrency: int = 8
    #: Processes sharing the single-request files of many-file runs (this one included):
    #: botocore spends 1-2 ms of CPU per request, which caps one process at a few hundred
    #: small files a second.  1 keeps everything in this process (needed with a borrowed client).
    workers: int = 1
    part_size: int = 8 * MiB
    #: Files larger than this are sent as multipart uploads.
    multipart_threshold: int = 8 * MiB
    #: Memory for the bytes of parts (and small files) in flight, across every file; with the
    #: defaults, 5 parts of 8 MiB.  Measured on movies/series: 40 MiB keeps the whole process
    #: under 120 MiB and the transfer within noise of 64 MiB.
    buffer_memory: int = 40 * MiB
    #: The content checksum sent with every request and verified by S3.
    checksum: Checksum = "crc64nvme"
    #: botocore's own checksum behaviour; ``when_required`` keeps it out of the
    #: way (async_ingest computes its checksum itself, off the event loop).
    request_checksum_calculation: Literal["when_supported", "when_required"] = "when_required"
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    #: Total attempts per request (botocore's standard retry mode).
    max_attempts: int = 3
    #: Seconds to wait for a connection to the endpoint.
    connect_timeout: float = 10.0
    #: Seconds to wait for the next bytes of a response (not for the whole response): S3 keeps
    #: long requests such as CompleteMultipartUpload alive by sending whitespace as it works.
    read_timeout: float = 60.0
    #: Seconds the abort of an interrupted multipart upload may take.
    abort_timeout: float = 10.0
    #: IANA time zone whose "today" is the default processing date (None: the local zone).
    timezone: str | None = None
    #: What to do when an object already sits at a file's key: ``skip`` it when its stored
    #: checksum equals the file's (else upload), ``overwrite`` always, ``fail`` never replace.
    if_exists: IfExists = "skip"
    #: Write a JSON manifest of the run to the lake (``manifest_layout``), after the files.
    manifest: bool = True
    manifest_layout: str = DEFAULT_MANIFEST_LAYOUT
    #: Write an empty ``_SUCCESS`` object into each partition whose files all landed.
    success_marker: bool = False
    #: Content-Type of every object; None guesses it from the file's extension.
    content_type: str | None = None
    #: Server-side encryption: ``AES256`` or ``aws:kms`` (with ``sse_kms_key_id``), None for the bucket's default.
    sse: Literal["AES256", "aws:kms"] | None = None
    sse_kms_key_id: str | None = None
    storage_class: str | None = None
    #: User metadata stored with every object (``x-amz-meta-*``).
    metadata: Mapping[str, str] = field(default_factory=dict)
    #: Upload what symbolic links point to (True) or refuse them as sources (False).
    follow_symlinks: bool = True
    #: Glob patterns picking files out of directory and pattern sources (relative path or name).
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    #: Descend into subfolders of directory sources.
    recursive: bool = False
    #: Category from each file's folder name (``data/Movies/a.csv`` -> ``Movies``) unless given.
    category_from_parent: bool = False

    def __post_init__(self) -> None:
        validate_bucket_name(self.bucket)
        if self.endpoint_url is not None:
            validate_endpoint_url(self.endpoint_url)
        if self.layout not in LAYOUTS and "{" not in self.layout:
            names = ", ".join(LAYOUTS)
            raise ConfigError(f"unknown layout {self.layout!r}: use one of {names} or a template with {{fields}}")
        self.key_builder(datetime.date(2000, 1, 1))  # validates layout, zone, origin and format now
        self.today()  # validates the time zone
        if not 1 <= self.concurrency <= 1000:
            raise ConfigError(f"concurrency must be between 1 and 1000, got {self.concurrency}")
        if not 1 <= self.workers <= 64:
            raise ConfigError(f"workers must be between 1 and 64, got {self.workers}")
        if not MIN_PART_SIZE <= self.part_size <= MAX_PART_SIZE:
            raise ConfigError(f"part size must be between 5 MiB and 5 GiB, got {self.part_size} bytes")
        if self.buffer_memory < 1:
            raise ConfigError(f"buffer memory must be positive, got {self.buffer_memory} bytes")
        if not 0 <= self.multipart_threshold <= MAX_SINGLE_PUT:
            raise ConfigError(f"multipart threshold must be between 0 and 5 GiB, got {self.multipart_threshold} bytes")
        if self.checksum not in CHECKSUMS:
            raise ConfigError(f"unknown checksum {self.checksum!r}: use one of {', '.join(CHECKSUMS)}")
        _one_of("request_checksum_calculation", self.request_checksum_calculation, ("when_supported", "when_required"))
        _one_of("addressing_style", self.addressing_style, ("auto", "path", "virtual"))
        _one_of("if_exists", self.if_exists, IF_EXISTS)
        if self.sse is not None:
            _one_of("sse", self.sse, ("AES256", "aws:kms"))
        if self.sse_kms_key_id and self.sse != "aws:kms":
            raise ConfigError("sse_kms_key_id needs sse='aws:kms'")
        if self.storage_class is not None and not re.fullmatch(r"[A-Z_]+", self.storage_class):
            raise ConfigError(f"invalid storage class {self.storage_class!r}: use S3's name, such as STANDARD_IA")
        for name, value in self.metadata.items():
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or not value.isprintable() or not value.isascii():
                raise ConfigError(
                    f"invalid metadata {name}={value!r}: names are letters, digits, '-', '_', '.'; "
                    "values printable ASCII"
                )
        object.__setattr__(self, "include", tuple(self.include))
        object.__setattr__(self, "exclude", tuple(self.exclude))
        KeyBuilder(date=datetime.date(2000, 1, 1), layout=self.manifest_layout, zone=self.zone, origin=self.origin)
        if not 1 <= self.max_attempts <= 20:
            raise ConfigError(f"max attempts must be between 1 and 20, got {self.max_attempts}")
        for name in ("connect_timeout", "read_timeout"):
            seconds = getattr(self, name)
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 < seconds < float("inf"):
                raise ConfigError(f"{name.replace('_', ' ')} must be a positive number of seconds, got {seconds!r}")
        if self.abort_timeout <= 0:
            raise ConfigError(f"abort timeout must be positive, got {self.abort_timeout}")

    def today(self) -> datetime.date:
        """Today's date in the configured time zone: the default processing date."""
        if self.timezone is None:
            return datetime.date.today()
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"unknown time zone {self.timezone!r}; use an IANA name such as 'Europe/Lisbon' or 'UTC'"
            ) from None
        return datetime.datetime.now(zone).date()

    def manifest_key(self, date: datetime.date, run_id: str) -> str:
        """Where the manifest of run *run_id* goes."""
        keys = KeyBuilder(date=date, layout=self.manifest_layout, zone=self.zone, origin=self.origin)
        return keys.key_for(f"{run_id}.json", category="_manifests")

    def key_builder(self, date: datetime.date) -> KeyBuilder:
        """The key builder of a run on processing date *date*."""
        return KeyBuilder(date=date, layout=self.layout, zone=self.zone, origin=self.origin, format=self.format)
