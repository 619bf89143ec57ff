"""Run settings: frozen, keyword-only, validated on construction."""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ._bandwidth import check_bandwidth
from ._dates import DATE_FROM, DateFrom, check_date_from, now_in, on_the_hour, require_hour
from ._endpoint import validate_endpoint_url
from ._exceptions import ConfigError
from ._keys import LAYOUTS, KeyBuilder
from ._landing import check_source_actions
from ._limits import MAX_PART_SIZE, MAX_SINGLE_PUT, MIN_PART_SIZE, MiB, validate_bucket_name
from ._object_options import ACL, TAGS, Acl, check_acl_and_tags
from ._once import check_once
from ._options import PATH, Setting, about
from ._parse import AGE, BOOL, COUNT, METADATA, PATTERNS, RATE, SECONDS, SIZE, TEXT, choice, format_size
from ._shard import RUN_ID, SHARD, Shard, shard_settings

__all__ = ["CHECKSUMS", "IngestConfig", "validate_bucket_name"]

Checksum = Literal["crc64nvme", "crc32c", "crc32", "sha256", "none"]
CHECKSUMS: tuple[Checksum, ...] = ("crc64nvme", "crc32c", "crc32", "sha256", "none")

IfExists = Literal["skip", "overwrite", "fail"]
IF_EXISTS: tuple[IfExists, ...] = ("skip", "overwrite", "fail")

#: Manifests go beside the data, under names Spark, Glue and Athena skip (leading underscore).
DEFAULT_MANIFEST_LAYOUT = "{zone}/{origin}/_manifests/{yyyy}/{mm}/{dd}/{filename}"


def _one_of(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _bytes(size: int) -> str:
    shown = format_size(size)
    return f"{shown} bytes" if shown.lstrip("-").isdigit() else shown


def _file_filter(what: str) -> dict[str, Setting]:
    help = f"{what}; repeatable (comma-separated in the environment)"
    return about(PATTERNS, help, "choosing files", metavar="GLOB")


@dataclass(frozen=True, kw_only=True)
class IngestConfig:
    """Everything a run needs to know besides its sources and its date.

    Sizes are in bytes.  ``endpoint_url``, ``region`` and ``profile`` default to
    the standard AWS configuration chain (``AWS_ENDPOINT_URL``, ``AWS_REGION``,
    ``AWS_PROFILE``, the shared config files, instance and task roles).  Each field
    declares its setting once (``about``): the command line, the environment and the
    config file are generated from these declarations.
    """

    bucket: str = field(metadata=about(TEXT, "bucket name", "where to"))
    endpoint_url: str | None = field(
        default=None,
        metadata=about(TEXT, "S3-compatible endpoint", "where to", env=("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")),
    )
    region: str | None = field(
        default=None, metadata=about(TEXT, "AWS region", "where to", env=("AWS_REGION", "AWS_DEFAULT_REGION"))
    )
    profile: str | None = field(
        default=None, metadata=about(TEXT, "AWS profile from the shared config files", "where to", env=("AWS_PROFILE",))
    )
    layout: str = field(
        default="default",
        metadata=about(TEXT, f"key template or one of {', '.join(LAYOUTS)} (hive: year=YYYY/month=MM/day=DD)", "keys"),
    )
    zone: str = field(default="Raw", metadata=about(TEXT, "zone piece", "keys"))
    origin: str = field(default="Local", metadata=about(TEXT, "origin piece", "keys"))
    format: str | None = field(
        default=None, metadata=about(TEXT, "format piece", "keys", default_text="the file's extension, upper-cased")
    )
    # Shared by every file of the run; with workers, each process has its own.
    concurrency: int = field(default=8, metadata=about(COUNT, "requests in flight at once, per process", "transfer"))
    # botocore spends CPU on every request, which caps how many small files one process can send;
    # more processes lift that cap.  1 keeps everything in this process (needed with a borrowed client).
    workers: int = field(
        default=1,
        metadata=about(COUNT, "processes sharing the small files of many-file runs, this one included", "transfer"),
    )
    # One run split between machines: each plans every file and uploads those whose key hashes to its index.
    shard: Shard | tuple[int, int] | None = field(
        default=None,
        metadata=about(
            SHARD,
            "upload only shard INDEX (from 0) of COUNT of the planned files; auto: the index from "
            "JOB_COMPLETION_INDEX, AWS_BATCH_JOB_ARRAY_INDEX or SLURM_ARRAY_TASK_ID",
            "transfer",
            metavar="INDEX/COUNT",
            default_text="all files",
        ),
    )
    run_id: str | None = field(
        default=None,
        metadata=about(RUN_ID, "the run's id, shared by all its shards", "transfer", default_text="generated"),
    )
    part_size: int = field(default=8 * MiB, metadata=about(SIZE, "multipart part size", "transfer"))
    multipart_threshold: int = field(
        default=8 * MiB, metadata=about(SIZE, "files larger than this are sent as multipart uploads", "transfer")
    )
    # Bounds the memory of the whole process, whatever the number of files.  The default holds a
    # few parts of the default size: enough to keep the transfer at full speed, no more.
    buffer_memory: int = field(
        default=40 * MiB,
        metadata=about(
            SIZE, "memory for the bytes of parts in flight, across all files; at least one part", "transfer"
        ),
    )
    # One token bucket per Ingestor, shared by every file and part; with workers, each process has an equal share.
    max_bandwidth: int | None = field(
        default=None,
        metadata=about(
            RATE,
            "upload rate limit of the whole run (50MiB/s, 10MB/s, 200Mbit/s, or bytes per second), "
            "split evenly between the processes of --workers",
            "transfer",
            metavar="RATE",
            default_text="no limit",
        ),
    )
    checksum: Checksum = field(
        default="crc64nvme", metadata=about(choice(*CHECKSUMS), "checksum S3 verifies on receipt", "transfer")
    )
    # when_required keeps botocore out of the way: async_ingest computes its checksum itself, off the event loop.
    request_checksum_calculation: Literal["when_supported", "when_required"] = field(
        default="when_required",
        metadata=about(
            choice("when_supported", "when_required"),
            "botocore's own checksums; keep when_required for stores that reject them",
            "transfer",
        ),
    )
    addressing_style: Literal["auto", "path", "virtual"] = field(
        default="auto", metadata=about(choice("auto", "path", "virtual"), "S3 addressing style", "transfer")
    )
    max_attempts: int = field(
        default=3, metadata=about(COUNT, "attempts per request, botocore's standard retry mode (1-20)", "transfer")
    )
    connect_timeout: float = field(
        default=10.0, metadata=about(SECONDS, "seconds to wait for a connection to the endpoint", "transfer")
    )
    # Between bytes, not for the whole answer: S3 keeps long requests such as
    # CompleteMultipartUpload alive by sending whitespace while it works.
    read_timeout: float = field(
        default=60.0,
        metadata=about(SECONDS, "seconds to wait for the next bytes of an answer, not the whole answer", "transfer"),
    )
    abort_timeout: float = field(
        default=10.0,
        metadata=about(SECONDS, "seconds the abort of an interrupted multipart upload may take", applies="library"),
    )
    timezone: str | None = field(
        default=None,
        metadata=about(
            TEXT,
            "IANA time zone whose today (and hour) is the default date, and of file times for --date-from mtime",
            "keys",
            name="tz",
            default_text="the local zone",
        ),
    )
    date_from: DateFrom = field(
        default="run",
        metadata=about(
            choice(*DATE_FROM),
            "each file's partition date: the run's (--date or today), the file's modification time in --tz, "
            "or the first date in its path",
            "keys",
        ),
    )
    if_exists: IfExists = field(
        default="skip",
        metadata=about(
            choice(*IF_EXISTS),
            "an object already at the key: skip it if its checksum matches the file (else upload), "
            "always overwrite, or fail without replacing it",
            "objects",
        ),
    )
    manifest: bool = field(
        default=True,
        metadata=about(BOOL, "do not write the run manifest (JSON, after the files) to the lake", "objects"),
    )
    manifest_layout: str = field(
        default=DEFAULT_MANIFEST_LAYOUT,
        metadata=about(TEXT, "where the run manifest goes; {filename} is <run_id>.json", "objects"),
    )
    success_marker: bool = field(
        default=False,
        metadata=about(BOOL, "write an empty _SUCCESS object into each partition whose files all landed", "objects"),
    )
    once: datetime.timedelta | None = field(
        default=None,
        metadata=about(
            AGE,
            "skip a file whose name and checksum a run of this zone and origin landed in the last WINDOW "
            "of processing dates (read from the run manifests); --once alone is 30d",
            "objects",
            const=datetime.timedelta(days=30),
            metavar="WINDOW",
            default_text="off",
        ),
    )
    content_type: str | None = field(
        default=None,
        metadata=about(TEXT, "Content-Type of every object", "objects", default_text="guessed from the extension"),
    )
    sse: Literal["AES256", "aws:kms"] | None = field(
        default=None,
        metadata=about(
            choice("AES256", "aws:kms"), "server-side encryption", "objects", default_text="the bucket's default"
        ),
    )
    sse_kms_key_id: str | None = field(default=None, metadata=about(TEXT, "KMS key for --sse aws:kms", "objects"))
    storage_class: str | None = field(
        default=None,
        metadata=about(TEXT, "S3 storage class, such as STANDARD_IA", "objects", default_text="STANDARD"),
    )
    acl: Acl | None = field(
        default=None,
        metadata=about(
            ACL,
            "canned ACL of every object, the manifest and the markers: private, public-read, public-read-write, "
            "authenticated-read, aws-exec-read, bucket-owner-read, bucket-owner-full-control",
            "objects",
            default_text="none sent: the bucket's rules",
        ),
    )
    tags: Mapping[str, str] = field(
        default_factory=dict,
        metadata=about(
            TAGS,
            "object tag of every file (not the manifest, markers); repeatable, at most 10; env KEY=VALUE,KEY2=VALUE2",
            "objects",
            flags=("--tag",),
            metavar="KEY=VALUE",
        ),
    )
    metadata: Mapping[str, str] = field(
        default_factory=dict,
        metadata=about(
            METADATA,
            "user metadata stored with every object (x-amz-meta-*); repeatable; "
            "in the environment KEY=VALUE,KEY2=VALUE2",
            "objects",
            metavar="KEY=VALUE",
        ),
    )
    follow_symlinks: bool = field(
        default=True,
        metadata=about(
            BOOL, "refuse sources that are symbolic links instead of uploading what they point to", "objects"
        ),
    )
    # Picking files out of directory and pattern sources, by relative path or name.
    include: tuple[str, ...] = field(default=(), metadata=_file_filter("only files matching"))
    exclude: tuple[str, ...] = field(default=(), metadata=_file_filter("leave out files matching"))
    recursive: bool = field(
        default=False, metadata=about(BOOL, "descend into subfolders of directory sources", "choosing files")
    )
    category_from_parent: bool = field(
        default=False,
        metadata=about(
            BOOL,
            "category from each file's folder name (data/Movies/a.csv -> Movies) unless CATEGORY=PATH",
            "choosing files",
        ),
    )
    # Landing-zone semantics: what becomes of a source once its object is in place and verified.
    move_source: Path | None = field(
        default=None,
        metadata=about(
            PATH,
            "move each file that landed into DIR, under its path relative to its source (created if its parent exists)",
            "choosing files",
            metavar="DIR",
        ),
    )
    delete_source: bool = field(
        default=False,
        metadata=about(BOOL, "delete each file that landed (uploaded, or skipped as identical)", "choosing files"),
    )

    def __post_init__(self) -> None:
        validate_bucket_name(self.bucket)
        if self.endpoint_url is not None:
            validate_endpoint_url(self.endpoint_url)
        if self.layout not in LAYOUTS and "{" not in self.layout:
            names = ", ".join(LAYOUTS)
            raise ConfigError(f"unknown layout {self.layout!r}: use one of {names} or a template with {{fields}}")
        self.key_builder(datetime.datetime(2000, 1, 1))  # validates layout, zone, origin and format now
        self.today()  # validates the time zone
        check_date_from(self.date_from)
        if not 1 <= self.concurrency <= 1000:
            raise ConfigError(f"concurrency must be between 1 and 1000, got {self.concurrency}")
        if not 1 <= self.workers <= 64:
            raise ConfigError(f"workers must be between 1 and 64, got {self.workers}")
        object.__setattr__(self, "shard", shard_settings(self.shard, self.run_id, self.manifest, self.success_marker))
        if not MIN_PART_SIZE <= self.part_size <= MAX_PART_SIZE:
            raise ConfigError(f"part size must be between 5 MiB and 5 GiB, got {self.part_size} bytes")
        if self.buffer_memory < self.part_size:
            raise ConfigError(
                f"buffer memory {_bytes(self.buffer_memory)} is smaller than one part "
                f"(part size {_bytes(self.part_size)}): give at least the part size"
            )
        check_bandwidth(
            self.max_bandwidth,
            checksum=self.checksum,
            request_checksum_calculation=self.request_checksum_calculation,
        )
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
        check_acl_and_tags(self.acl, self.tags)
        for name, value in self.metadata.items():
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or not value.isprintable() or not value.isascii():
                raise ConfigError(
                    f"invalid metadata {name}={value!r}: names are letters, digits, '-', '_', '.'; "
                    "values printable ASCII"
                )
        object.__setattr__(self, "include", tuple(self.include))
        object.__setattr__(self, "exclude", tuple(self.exclude))
        self.manifest_key(datetime.datetime(2000, 1, 1), "run")  # validates the manifest layout
        if not 1 <= self.max_attempts <= 20:
            raise ConfigError(f"max attempts must be between 1 and 20, got {self.max_attempts}")
        for name in ("connect_timeout", "read_timeout"):
            seconds = getattr(self, name)
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 < seconds < float("inf"):
                raise ConfigError(f"{name.replace('_', ' ')} must be a positive number of seconds, got {seconds!r}")
        if self.abort_timeout <= 0:
            raise ConfigError(f"abort timeout must be positive, got {self.abort_timeout}")
        check_source_actions(self.move_source, self.delete_source)
        check_once(self.once, checksum=self.checksum, manifest=self.manifest, layout=self.manifest_layout)

    def today(self) -> datetime.date:
        """Today's date in the configured time zone: the default processing date.

        A ``datetime`` on the current hour when the layout or the manifest layout uses ``{hh}``.
        """
        hourly = self.key_builder(datetime.datetime(2000, 1, 1)).hourly or "{hh}" in self.manifest_layout
        return on_the_hour(now_in(self.timezone), hourly=hourly)

    def run_date(self, date: datetime.date | None) -> datetime.date:
        """The processing date of a run asked for *date* (None: today); ConfigError if a layout lacks its hour."""
        if date is None:
            return self.today()
        if "{hh}" in self.manifest_layout:
            require_hour(date, "manifest layout")
        if self.date_from == "run" and self.key_builder(date).hourly:
            require_hour(date, "layout")
        return date

    def manifest_key(self, date: datetime.date, run_id: str, shard: Shard | tuple[int, int] | None = None) -> str:
        """Where the manifest of run *run_id* (of its *shard*: ``<run_id>.shard-0003-of-0008.json``) goes."""
        shard = Shard(*shard) if isinstance(shard, tuple) else shard
        keys = KeyBuilder(date=date, layout=self.manifest_layout, zone=self.zone, origin=self.origin)
        name = f"{run_id}.{shard.label}.json" if shard is not None else f"{run_id}.json"
        return keys.key_for(name, category="_manifests")

    def key_builder(self, date: datetime.date) -> KeyBuilder:
        """The key builder of a run on processing date *date*."""
        return KeyBuilder(date=date, layout=self.layout, zone=self.zone, origin=self.origin, format=self.format)
