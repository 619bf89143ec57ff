"""The S3 client async_ingest needs, as a Protocol: the calls it makes, and nothing else.

An aiobotocore (or aioboto3) S3 client satisfies it, and so does a wrapper around one
that keeps these methods; this module imports nothing from botocore.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["S3Client"]


class S3Client(Protocol):
    """An async S3 client: the operations async_ingest calls, keyword arguments as in botocore."""

    @property
    def meta(self) -> Any:
        """botocore's client metadata (``meta.endpoint_url`` names the endpoint in use)."""

    async def put_object(self, **kwargs: Any) -> dict[str, Any]: ...

    async def create_multipart_upload(self, **kwargs: Any) -> dict[str, Any]: ...

    async def upload_part(self, **kwargs: Any) -> dict[str, Any]: ...

    async def complete_multipart_upload(self, **kwargs: Any) -> dict[str, Any]: ...

    async def abort_multipart_upload(self, **kwargs: Any) -> dict[str, Any]: ...

    async def head_object(self, **kwargs: Any) -> dict[str, Any]: ...

    async def get_object(self, **kwargs: Any) -> dict[str, Any]: ...

    async def delete_object(self, **kwargs: Any) -> dict[str, Any]: ...

    async def list_multipart_uploads(self, **kwargs: Any) -> dict[str, Any]: ...

    def get_paginator(self, operation_name: str) -> Any: ...
