"""``IngestSettings``: the settings of :class:`IngestConfig`, typed for keyword arguments.

A test holds it to ``IngestConfig``'s fields, name by name and type by type.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, TypedDict

from ._config import Checksum, IfExists
from ._dates import DateFrom
from ._object_options import Acl
from ._shard import Shard

__all__ = ["IngestSettings"]


class IngestSettings(TypedDict, total=False):
    """The settings of :class:`IngestConfig` but the bucket, as keyword arguments: ``Ingestor(bucket, **settings)``."""

    endpoint_url: str | None
    region: str | None
    profile: str | None
    layout: str
    zone: str
    origin: str
    format: str | None
    concurrency: int
    workers: int
    shard: Shard | tuple[int, int] | None
    run_id: str | None
    part_size: int
    multipart_threshold: int
    buffer_memory: int
    max_bandwidth: int | None
    checksum: Checksum
    request_checksum_calculation: Literal["when_supported", "when_required"]
    addressing_style: Literal["auto", "path", "virtual"]
    max_attempts: int
    connect_timeout: float
    read_timeout: float
    abort_timeout: float
    timezone: str | None
    date_from: DateFrom
    if_exists: IfExists
    manifest: bool
    manifest_layout: str
    success_marker: bool
    once: datetime.timedelta | None
    content_type: str | None
    sse: Literal["AES256", "aws:kms"] | None
    sse_kms_key_id: str | None
    storage_class: str | None
    acl: Acl | None
    tags: Mapping[str, str]
    metadata: Mapping[str, str]
    follow_symlinks: bool
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    recursive: bool
    category_from_parent: bool
    move_source: Path | None
    delete_source: bool
