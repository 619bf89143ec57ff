"""Endpoint URLs are checked before anything is sent: one line naming the URL and the problem, exit 2."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from async_ingest import ConfigError, IngestConfig, Ingestor
from async_ingest._endpoint import validate_endpoint_url

from .conftest import objects, run_cli

INVALID = [
    pytest.param("http://[::1", "the host is not a valid IPv6 address in brackets", id="unbalanced-ipv6"),
    pytest.param("http://[::g]", "the host is not a valid IPv6 address in brackets", id="bad-ipv6"),
    pytest.param("htp://x", "the scheme must be http or https", id="scheme-typo"),
    pytest.param("s3://lake", "the scheme must be http or https", id="s3-scheme"),
    pytest.param("127.0.0.1:9000", "the scheme must be http or https", id="no-scheme"),
    pytest.param("http://", "it names no host", id="no-host"),
    pytest.param("http://:9000", "it names no host", id="port-only"),
    pytest.param("http://minio_1:9000", "'minio_1' is not a valid host name", id="underscore"),
    pytest.param("http://-minio:9000", "'-minio' is not a valid host name", id="leading-dash"),
    pytest.param("http://minio..lan", "'minio..lan' is not a valid host name", id="empty-label"),
    pytest.param("http://x:99999", "the port must be a number from 1 to 65535", id="port-range"),
    pytest.param("http://x:0", "the port must be a number from 1 to 65535", id="port-zero"),
    pytest.param("http://x:nine", "the port must be a number from 1 to 65535", id="port-word"),
    pytest.param("http://x?region=eu", "takes no query or fragment", id="query"),
    pytest.param("http://x/#top", "takes no query or fragment", id="fragment"),
    pytest.param("http://x ", "whitespace or control characters", id="trailing-space"),
    pytest.param("http://x\n", "whitespace or control characters", id="newline"),
    pytest.param("http://u:secret@x", "it holds credentials", id="credentials"),
]


@pytest.mark.parametrize(("url", "problem"), INVALID)
def test_invalid_endpoint_urls(url: str, problem: str) -> None:
    """Each URL S3 cannot be reached at is refused when the config is made, naming the problem."""
    with pytest.raises(ConfigError, match="invalid endpoint URL") as caught:
        IngestConfig(bucket="lake", endpoint_url=url)
    assert problem in str(caught.value)
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000",
        "https://s3.eu-west-1.amazonaws.com",
        "https://s3.eu-west-1.amazonaws.com/",
        "HTTPS://Storage.GoogleAPIs.com",
        "http://[::1]:9000",
        "http://[fe80::1%25eth0]:9000",
        "http://minio:9000",
        "http://minio.lan.:9000",
        "https://gateway.example.com/s3",  # botocore sends the requests under the path
    ],
)
def test_valid_endpoint_urls(url: str) -> None:
    """Host names, IP addresses, ports and path prefixes are accepted unchanged."""
    assert validate_endpoint_url(url) == url
    assert IngestConfig(bucket="lake", endpoint_url=url).endpoint_url == url


@pytest.mark.parametrize(("url", "problem"), [INVALID[0], INVALID[2]])
@pytest.mark.parametrize("given", ["flag", "env"])
def test_cli_invalid_endpoint_exits_2_before_sending(
    bucket: str, s3: Any, make_file: Callable[..., Path], url: str, problem: str, given: str
) -> None:
    """--endpoint-url or AWS_ENDPOINT_URL that is no endpoint: one line naming it, exit 2, nothing sent."""
    flags, env = (["--endpoint-url", url], {}) if given == "flag" else ([], {"AWS_ENDPOINT_URL": url})
    done = run_cli("--bucket", bucket, *flags, make_file("movies.csv", 10), env=env)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"async-ingest: error: invalid endpoint URL {url!r}: {problem}"]
    assert done.stdout == ""
    assert objects(s3, bucket, manifests=True) == {}


@pytest.mark.anyio
async def test_library_checks_endpoint_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """An Ingestor left to the AWS configuration checks the endpoint it finds there before sending."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "htp://x")
    with pytest.raises(ConfigError, match="invalid endpoint URL 'htp://x': the scheme must be http or https"):
        async with Ingestor(IngestConfig(bucket=bucket)) as ingestor:
            await ingestor.ingest([make_file("movies.csv", 10)])
    assert objects(s3, bucket, manifests=True) == {}
