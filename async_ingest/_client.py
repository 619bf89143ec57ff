"""Creating the aioboto3 S3 client; botocore is imported here, when an upload starts, not before."""

from __future__ import annotations

import importlib
from contextlib import AsyncExitStack
from typing import Any

import anyio

from ._config import IngestConfig
from ._exceptions import ConfigError

__all__ = ["open_client"]


def _import_s3_stack() -> None:
    # ~0.6 s of module loading: done in a worker thread so a host's event loop keeps running.
    importlib.import_module("aioboto3")
    importlib.import_module("aiobotocore.config")


async def open_client(config: IngestConfig, stack: AsyncExitStack, **credentials: str) -> Any:
    """An S3 client configured for *config*, closed when *stack* closes.

    Credentials come from the standard AWS chain unless given here (only the
    local trial endpoint does that, with throwaway values).  A missing profile
    or no credentials at all is a ConfigError, raised before any upload.
    """
    await anyio.to_thread.run_sync(_import_s3_stack)
    import aioboto3
    from aiobotocore.config import AioConfig
    from botocore.exceptions import BotoCoreError

    s3_settings: dict[str, Any] = {"addressing_style": config.addressing_style}
    if config.checksum != "none":
        # Every body carries a checksum that S3 verifies; SHA-256-signing it again
        # (botocore does so over plain HTTP) would cost CPU on the event loop for nothing.
        s3_settings["payload_signing_enabled"] = False
    botocore_config = AioConfig(
        retries={"mode": "standard", "total_max_attempts": config.max_attempts},
        max_pool_connections=config.concurrency,
        request_checksum_calculation=config.request_checksum_calculation,
        response_checksum_validation="when_required",
        connect_timeout=10,
        read_timeout=120,
        s3=s3_settings,
    )
    try:
        session = aioboto3.Session(profile_name=config.profile, region_name=config.region, **credentials)
        if await session.get_credentials() is None:
            raise ConfigError(
                "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                "or run where an instance or task role is available"
            )
        # Plain-HTTP endpoints need no TLS context; building one (loading the CA bundle) would
        # block the event loop for 30-170 ms on the first request.
        plain_http = (config.endpoint_url or "").startswith("http://")
        return await stack.enter_async_context(
            session.client(
                "s3",
                endpoint_url=config.endpoint_url,
                config=botocore_config,
                **({"verify": False} if plain_http else {}),
            )
        )
    except BotoCoreError as exc:
        # ProfileNotFound, an unreadable or malformed config file, an invalid endpoint URL…
        raise ConfigError(f"AWS configuration: {exc}") from None
