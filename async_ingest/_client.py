"""Creating the aioboto3 S3 client; botocore is imported here, when an upload starts, not before."""

from __future__ import annotations

from typing import Any

from ._config import IngestConfig

__all__ = ["client_context"]


def client_context(config: IngestConfig, **credentials: str) -> Any:
    """An ``async with`` context that yields an S3 client configured for *config*.

    Credentials come from the standard AWS chain unless given here (only the
    local trial endpoint does that, with throwaway values).
    """
    import aioboto3
    from aiobotocore.config import AioConfig

    session = aioboto3.Session(profile_name=config.profile, region_name=config.region, **credentials)
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
    return session.client("s3", endpoint_url=config.endpoint_url, config=botocore_config)
