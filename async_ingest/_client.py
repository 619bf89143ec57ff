"""Creating the aioboto3 S3 client; botocore is imported here, when an upload starts, not before."""

from __future__ import annotations

import asyncio
import importlib
import json
import platform
import re
import sys
import threading
from contextlib import AsyncExitStack
from typing import Any

import anyio

from ._config import IngestConfig
from ._endpoint import validate_endpoint_url
from ._exceptions import ConfigError
from ._hooks import drop_idle_handlers
from ._loader import shared_loader
from ._version import __version__

__all__ = ["UPLOAD_MODULES", "import_backend", "open_client", "open_full_client", "warm_up"]

#: Modules the client class imports lazily while it is being created.
LAZY_MODULES = ("aiobotocore.config", "aioboto3.s3.inject", "boto3.s3.inject")
#: async_ingest's upload machinery (awscrt's checksums, botocore's errors, the worker pool), kept
#: out of `import async_ingest` (and --help); imported when an Ingestor opens.
UPLOAD_MODULES = ("_transfer", "_workers", "_settle")

#: The S3 models (by id; the process's loader keeps them) whose unread context parameters are dropped.
_PRUNED: set[int] = set()
_PRUNING = threading.Lock()


async def import_backend() -> None:
    """Import anyio's asyncio backend in the loop's default executor, if the host has not already.

    An Ingestor's limiters need it, and an asyncio host that never used anyio would
    otherwise import it on its loop (tens of milliseconds) when the Ingestor is built.
    """
    name = "anyio._backends._asyncio"
    if name not in sys.modules:
        await asyncio.get_running_loop().run_in_executor(None, importlib.import_module, name)


def _prepare_session(profile: str | None, region: str | None, credentials: dict[str, str]) -> tuple[Any, str | None]:
    """Import the S3 stack and load botocore's S3 data; blocking (~0.8 s), so run in a worker thread.

    Creating the client afterwards finds the service model, endpoint rules and partitions
    already parsed in the session's loader cache, and so no longer blocks the host's loop.
    The loader is the process's (see _loader.py): a second opening parses nothing.
    Also returns the endpoint URL the AWS configuration sets for S3, if any.
    """
    aioboto3 = importlib.import_module("aioboto3")
    for module in LAZY_MODULES:
        importlib.import_module(module)
    core = importlib.import_module("aiobotocore.session").AioSession()
    loader = _load_s3_data(core)
    core.register_component("data_loader", loader)
    session = aioboto3.Session(botocore_session=core, profile_name=profile, region_name=region, **credentials)
    # The credential chain: building it makes a TLS context (the container-metadata fetcher's).
    core.get_component("credential_provider")
    return session, _configured_endpoint(core)


def _load_s3_data(core: Any) -> Any:
    """The process's loader for *core*'s data path, with S3's model, endpoint rules and partitions loaded."""
    loader = shared_loader(core.get_config_variable("data_path"))
    # Held while loading and pruning, so Ingestors opening at once never see a model being pruned.
    with _PRUNING:
        model = loader.load_service_model("s3", "service-2")
        ruleset = loader.load_service_model("s3", "endpoint-rule-set-1")
        for name in ("partitions", "endpoints", "sdk-default-configuration", "_retry"):
            loader.load_data(name)
        if id(model) not in _PRUNED:
            drop_unread_context_params(model, ruleset)
            _PRUNED.add(id(model))
    return loader


def warm_up() -> None:
    """Import and parse now what opening an Ingestor needs: for a host to call at start-up.

    Blocking (about a second), so call it before the event loop has work to do, or not
    at all: without it the first opening does the same in worker threads.  What it
    saves the loop is what threads cannot: importing a C extension (awscrt, aiohttp's
    parsers) holds the GIL throughout, stalling the host's loop for tens of milliseconds.
    """
    importlib.import_module("aioboto3")
    for module in (*LAZY_MODULES, "anyio._backends._asyncio"):
        importlib.import_module(module)
    for module in UPLOAD_MODULES:
        importlib.import_module(f"{__package__}.{module}")
    _load_s3_data(importlib.import_module("aiobotocore.session").AioSession())


def _configured_endpoint(core: Any) -> str | None:
    """The endpoint URL of ``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL`` or the profile, as botocore finds it."""
    if core.get_config_variable("ignore_configured_endpoint_urls"):
        return None
    provider = importlib.import_module("botocore.configprovider").ConfiguredEndpointProvider
    found = provider(full_config=core.full_config, scoped_config=core.get_scoped_config(), client_name="s3").provide()
    return found if isinstance(found, str) else None


def drop_unread_context_params(model: dict[str, Any], ruleset: dict[str, Any]) -> list[str]:
    """Stop passing the endpoint rules request fields they never read; the names dropped.

    S3's rules declare a ``Key`` parameter that no rule reads (as of botocore 1.40), yet
    botocore passes every request's key to the rules, so its endpoint cache, keyed on
    the parameters, misses once per key: 20-25% of the CPU of each small PUT.  Without
    the field, a run resolves its bucket's endpoint once.  *model* is this session's own
    copy (the loader is async_ingest's own, given only to its sessions), so no other client is affected;
    a parameter some rule does read (``{"ref": "Key"}`` or ``{Key}`` in a template) is kept.
    """
    rules = json.dumps(ruleset.get("rules", []))
    read = {ref or template for ref, template in re.findall(r'"ref": "(\w+)"|\{(\w+)[}#]', rules)}
    dropped = set()
    for shape in model.get("shapes", {}).values():
        for member in shape.get("members", {}).values():
            name = member.get("contextParam", {}).get("name")
            if name and name not in read:
                del member["contextParam"]
                dropped.add(name)
    return sorted(dropped)


def user_agent() -> str:
    """The User-Agent of every request: this tool, the stack under it and the platform.

    Given to botocore whole, it is sent as is (plus any ``user_agent_extra`` or app id
    from the AWS configuration); botocore's own, rebuilt from about a hundred
    components for every request, cost 15-20% of the CPU of a small PUT.
    """
    import aiobotocore
    import botocore

    return (
        f"async-ingest/{__version__} aiobotocore/{aiobotocore.__version__} botocore/{botocore.__version__} "
        f"Python/{platform.python_version()} {platform.system()}/{platform.release()}"
    )


async def open_client(config: IngestConfig, stack: AsyncExitStack, **credentials: str) -> Any:
    """An S3 client configured for *config*, closed when *stack* closes.

    Credentials come from the standard AWS chain unless given here (only the
    local trial endpoint does that, with throwaway values).  A missing profile
    or no credentials at all is a ConfigError, raised before any upload.
    The client runs none of botocore's handlers that do nothing for async_ingest's requests.
    """
    client = await open_full_client(config, stack, **credentials)
    drop_idle_handlers(client)
    return client


async def open_full_client(config: IngestConfig, stack: AsyncExitStack, **credentials: str) -> Any:
    """``open_client``'s client with all of botocore's handlers but ``add_expect_header`` (dropped, see below)."""
    from botocore.exceptions import BotoCoreError

    try:
        session, configured = await anyio.to_thread.run_sync(
            _prepare_session, config.profile, config.region, credentials
        )
    except BotoCoreError as exc:
        raise ConfigError(f"AWS configuration: {exc}") from None
    if config.endpoint_url is None and configured is not None:
        validate_endpoint_url(configured)
    from aiobotocore.config import AioConfig

    from ._tls import prepared_tls_session

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
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        s3=s3_settings,
        user_agent=user_agent(),
        http_session_cls=prepared_tls_session(),
    )
    try:
        if await session.get_credentials() is None:
            raise ConfigError(
                "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                "or run where an instance or task role is available"
            )
        # Plain-HTTP endpoints need no TLS context; building one (loading the CA bundle) would
        # block the event loop for 30-170 ms on the first request.
        plain_http = (config.endpoint_url or "").startswith("http://")
        client = await stack.enter_async_context(
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
    # botocore asks for "100 Continue" before each file-like body (parts, large files);
    # aiohttp waits for it with no timeout at all (botocore's own HTTP client sends the body
    # after 1 s), so a request to an endpoint that stopped answering would wait forever.
    # Without the header, the read timeout bounds the wait for the answer.
    from botocore.handlers import add_expect_header

    client.meta.events.unregister("before-call.s3", add_expect_header)
    return client
