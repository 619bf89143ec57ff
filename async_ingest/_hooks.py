"""botocore's per-request event handlers that do nothing for the requests of async_ingest's own client.

botocore runs a few dozen handlers on every request.  The ones named here cannot
change a request or an answer of the client ``open_client`` makes, given its
settings and the buckets and fields async_ingest sends, so that client drops
them (each with the reason beside it).  tests/test_hooks.py checks the reasons
against the installed botocore, and that the requests on the wire are the same
with and without these handlers.  A borrowed client is never changed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["IDLE_HANDLERS", "drop_idle_handlers", "idle_handlers"]

#: Names in ``botocore.handlers`` of handlers that never act on async_ingest's requests.
IDLE_HANDLERS = (
    # Acts on SSECustomerKey (SSE-C), a field async_ingest never sends.
    "sse_md5",
    # Rejects non-ASCII metadata; the only metadata sent is IngestConfig's, checked to be printable ASCII.
    "validate_ascii_metadata",
    # Every bucket named has passed async_ingest's validate_bucket_name, stricter than this handler's pattern.
    "validate_bucket_name",
    # Fills idempotency-token fields; none of the operations async_ingest calls has one.
    "generate_idempotent_uuid",
    # Sets ChecksumMode under response_checksum_validation "when_supported"; the client has "when_required".
    "_handle_request_validation_mode_member",
    # Adds a header to endpoint-discovery operations; S3 has none.
    "inject_api_version_header_if_needed",
    # Rewrites the signing path of ARN buckets; validate_bucket_name accepts no ARN (no ':').
    "remove_arn_from_signing_path",
    # Acts on unsigned requests; the client signs every one (no UNSIGNED signature version, no 'none' auth type).
    "_set_extra_headers_for_unsigned_request",
)


def idle_handlers(config: Any) -> Iterator[tuple[str, Callable[..., Any]]]:
    """The (event, handler) pairs botocore registers that do nothing for the client with botocore *config*."""
    from botocore import handlers

    names = set(IDLE_HANDLERS)
    # Adds a trace header on AWS Lambda only, which sets AWS_LAMBDA_FUNCTION_NAME before the process starts.
    if "AWS_LAMBDA_FUNCTION_NAME" not in os.environ:
        names.add("add_recursion_detection_header")
    # With no auth scheme preference it keeps the configured signer, but for bearer tokens, which S3 does not take.
    if config.auth_scheme_preference is None:
        names.add("_set_auth_scheme_preference_signer")
    for event, handler, *_ in handlers.BUILTIN_HANDLERS:
        if getattr(handler, "__module__", None) == handlers.__name__ and getattr(handler, "__name__", "") in names:
            yield event, handler


def drop_idle_handlers(client: Any) -> None:
    """Unregister from *client*, async_ingest's own, the handlers that do nothing for its requests."""
    for event, handler in idle_handlers(client.meta.config):
        client.meta.events.unregister(event, handler)
