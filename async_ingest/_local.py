"""A trial S3-compatible endpoint in this process (moto's server mode), for ``--local``.

It is a test endpoint: everything written to it lives in memory and is gone
when the run ends.  It serves real HTTP on 127.0.0.1, so the upload path is
the same one a real bucket gets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import anyio

from ._client import open_client
from ._config import IngestConfig
from ._exceptions import ConfigError

__all__ = ["LocalEndpoint", "list_objects", "local_endpoint"]


@dataclass(frozen=True)
class LocalEndpoint:
    """The running trial endpoint and a client for it."""

    url: str
    client: Any


@asynccontextmanager
async def local_endpoint(config: IngestConfig) -> AsyncIterator[LocalEndpoint]:
    """Start moto on 127.0.0.1, create ``config.bucket`` there and yield a client for it."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise ConfigError("--local needs the 'local' extra: pip install 'async-ingest[local]'") from None

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    await anyio.to_thread.run_sync(server.start)
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        trial = replace(config, endpoint_url=url, region="us-east-1", profile=None, addressing_style="path")
        # The trial endpoint accepts any credentials; these fixed ones are not secrets.
        credentials = {"aws_access_key_id": "local-trial", "aws_secret_access_key": "local-trial"}
        async with AsyncExitStack() as stack:
            client = await open_client(trial, stack, **credentials)
            await client.create_bucket(Bucket=config.bucket)
            yield LocalEndpoint(url=url, client=client)
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(server.stop)


async def list_objects(client: Any, bucket: str) -> list[tuple[str, int]]:
    """Every (key, size) in *bucket*, in key order."""
    found: list[tuple[str, int]] = []
    paginator = client.get_paginator("list_objects_v2")
    async for page in paginator.paginate(Bucket=bucket):
        found.extend((item["Key"], item["Size"]) for item in page.get("Contents", []))
    return found
