"""The request fields of the objects a run writes: type, encryption, storage class, metadata, ACL, tags."""

from __future__ import annotations

import mimetypes
from typing import TYPE_CHECKING, Any

from ._object_options import acl_args, tagging

if TYPE_CHECKING:
    from ._config import IngestConfig
    from ._plan import UploadSpec

__all__ = ["encryption_args", "object_args"]


def _guess_type(name: str) -> str:
    """A Content-Type from a file name; CSV and friends are text, unknown is binary."""
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or "application/octet-stream"


def encryption_args(config: IngestConfig) -> dict[str, Any]:
    """The server-side encryption fields of every object the run writes."""
    args: dict[str, Any] = {}
    if config.sse:
        args["ServerSideEncryption"] = config.sse
    if config.sse_kms_key_id:
        args["SSEKMSKeyId"] = config.sse_kms_key_id
    return args


def object_args(config: IngestConfig, spec: UploadSpec) -> dict[str, Any]:
    """The object settings sent with every PutObject / CreateMultipartUpload of a file (tags only on files)."""
    args: dict[str, Any] = {"ContentType": config.content_type or _guess_type(spec.name)}
    args.update(encryption_args(config))
    if config.storage_class:
        args["StorageClass"] = config.storage_class
    if config.metadata:
        args["Metadata"] = dict(config.metadata)
    return args | acl_args(config.acl) | tagging(config.tags)
