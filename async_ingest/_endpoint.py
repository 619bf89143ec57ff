"""Endpoint URLs: checked before anything is sent, shown without the credentials they may hold.

Kept free of botocore: the configuration checks its endpoint when it is built.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from ._exceptions import ConfigError

__all__ = ["redact_url", "validate_endpoint_url"]

#: The user information of a URL (``scheme://user:password@``), up to the host's last ``@``.
_USERINFO_RE = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^\s/?#]*@")
#: One DNS label, as botocore accepts them in an endpoint's host name.
_LABEL_RE = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_BAD_IPV6 = "the host is not a valid IPv6 address in brackets"


def redact_url(text: str) -> str:
    """*text* with the user information of every URL in it replaced by ``***``."""
    return _USERINFO_RE.sub(r"\g<scheme>***@", text)


def _host_problem(host: str) -> str | None:
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1].partition("%")[0])
        except ValueError:
            return _BAD_IPV6
        return None
    name = host.removesuffix(".")
    if len(name) > 253 or not all(_LABEL_RE.fullmatch(label) for label in name.split(".")):
        return f"{host!r} is not a valid host name"
    return None


def _problem(url: str) -> str | None:
    """What makes *url* unusable as an S3 endpoint, or None."""
    if any(char.isspace() or not char.isprintable() for char in url):
        return "it holds whitespace or control characters"
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced or invalid [IPv6] host
        return _BAD_IPV6
    if parts.scheme.lower() not in ("http", "https"):
        return "the scheme must be http or https"
    host = parts.netloc.rpartition("@")[2]
    if parts.username is not None or parts.password is not None:
        return "it holds credentials ('user:password@'); S3 requests are signed with the AWS credentials instead"
    if not parts.hostname:
        return "it names no host"
    problem = _host_problem(host.rpartition(":")[0] if re.search(r":[^\]]*$", host) else host)
    if problem:
        return problem
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        return "the port must be a number from 1 to 65535"
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        return "an endpoint URL takes no query or fragment ('?', '#')"
    return None


def validate_endpoint_url(url: str) -> str:
    """Return *url* if it can serve as an S3 endpoint, else raise ConfigError naming the problem.

    An endpoint is ``http`` or ``https``, a host name or IP address, an optional port
    and an optional path prefix (botocore puts the request paths under it); a query,
    a fragment or credentials in the URL are refused.  The URL in the error is shown
    without its credentials.
    """
    problem = _problem(url)
    if problem:
        raise ConfigError(f"invalid endpoint URL {redact_url(url)!r}: {problem}")
    return url
