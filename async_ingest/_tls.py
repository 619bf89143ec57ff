"""aiobotocore's HTTP session with its TLS context made in a worker thread while the client opens.

aiobotocore makes the context when the first request needs a connection: on the
event loop, where creating it and loading the CA bundle (``load_verify_locations``,
about 150 certificates) stalls the host for tens of milliseconds.
"""

from __future__ import annotations

import functools
import importlib
import ssl
from typing import Any

import anyio

__all__ = ["prepared_tls_session"]


def _tls_context(session: Any) -> ssl.SSLContext:
    """The context aiobotocore would make for *session* (no proxy): blocking, so in a worker thread."""
    httpsession = importlib.import_module("aiobotocore.httpsession")
    context: ssl.SSLContext = session._get_ssl_context()
    if session._cert_file:
        context.load_cert_chain(session._cert_file, session._key_file)
    ca_certs = httpsession.get_cert_path(session._verify)
    if ca_certs:
        context.load_verify_locations(ca_certs, None, None)
    return context


@functools.cache
def prepared_tls_session() -> type[Any]:
    """The ``http_session_cls`` for AioConfig (one class per process)."""
    import aiohttp
    from aiobotocore.httpsession import AIOHTTPSession

    class PreparedTLSSession(AIOHTTPSession):  # type: ignore[misc]
        """AIOHTTPSession whose direct (unproxied) connections use a context made off the loop."""

        _prepared: ssl.SSLContext | None = None

        async def __aenter__(self) -> Any:
            entered = await super().__aenter__()
            if self._verify:
                self._prepared = await anyio.to_thread.run_sync(_tls_context, self)
            return entered

        def _create_connector(self, proxy_url: str | None) -> Any:
            if proxy_url or self._prepared is None:
                return super()._create_connector(proxy_url)
            return aiohttp.TCPConnector(limit=self._max_pool_connections, ssl=self._prepared, **self._connector_args)

    return PreparedTLSSession
