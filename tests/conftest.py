"""Fixtures: real S3-compatible servers for the session (moto's server mode; LocalStack's S3 when
``LOCALSTACK_ENDPOINT`` is set), isolated AWS settings, test clients with retries off."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import aioboto3
import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from .faultproxy import FaultProxy

MiB = 2**20
#: The processing date of the tests that fix one.
DAY = datetime.date(2022, 5, 2)
#: Settings that make an 11 MiB file a 3-part multipart upload.
SMALL = {"part_size": 5 * MiB, "multipart_threshold": 5 * MiB}

ACCESS_KEY = "AKIAASYNCINGESTTEST"
SECRET_KEY = "async-ingest-test-secret-do-not-print"
#: The test clients' retries: none, so that a retry cannot hide a failure the test should see.
NO_RETRIES = {"mode": "standard", "total_max_attempts": 1}
#: Why the LocalStack half of the compatibility tests skips.
NO_LOCALSTACK = "LocalStack's S3 not available: run under ../shared/localstack/with-localstack.sh"


class S3Server(NamedTuple):
    """One S3 implementation the compatibility tests run against."""

    name: str
    url: str


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """The library runs on asyncio (aiohttp is asyncio-only)."""
    return "asyncio"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1, speaking real HTTP, for the whole session."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def s3_endpoint(moto_endpoint: str) -> str:
    """The endpoint of the test server: moto's (a module may override this, as the compatibility tests do)."""
    return moto_endpoint


@pytest.fixture(scope="session", params=["moto", "localstack"])
def s3_server(request: pytest.FixtureRequest, moto_endpoint: str) -> S3Server:
    """Each S3 implementation available: moto always, LocalStack's S3 at ``LOCALSTACK_ENDPOINT`` when set."""
    if request.param == "moto":
        return S3Server("moto", moto_endpoint)
    url = os.environ.get("LOCALSTACK_ENDPOINT")
    if not url:
        pytest.skip(NO_LOCALSTACK)
    return S3Server("localstack", url)


@pytest.fixture
def proxy(s3_endpoint: str) -> Iterator[FaultProxy]:
    """A fault-injecting proxy in front of the test server; point the client under test at proxy.url."""
    with FaultProxy(s3_endpoint) as running:
        yield running


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """No test sees the developer's AWS settings; every one gets fixed test credentials."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "ASYNC_INGEST_")):
            monkeypatch.delenv(name)
    empty = tmp_path_factory.getbasetemp() / "no-aws-config"
    env = {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(empty),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def s3(s3_endpoint: str) -> Any:
    """A plain boto3 client on the test server, to set up and to check what landed."""
    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
        # No checksums unless asked: objects written here look like another tool's.
        config=Config(retries=NO_RETRIES, request_checksum_calculation="when_required"),
    )


@pytest.fixture
async def client(s3_endpoint: str) -> Any:
    """An aioboto3 client the test owns, to lend to an Ingestor; retries off, so none hides a failure."""
    async with aioboto3.Session().client("s3", endpoint_url=s3_endpoint, config=Config(retries=NO_RETRIES)) as client:
        yield client


@pytest.fixture
def endpoint_env(s3_endpoint: str) -> dict[str, str]:
    """The endpoint given the standard AWS way."""
    return {"AWS_ENDPOINT_URL": s3_endpoint}


@pytest.fixture
def bucket(s3: Any) -> str:
    """A new, empty bucket for one test."""
    name = f"test-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def make_file(tmp_path: Path) -> Callable[..., Path]:
    """Write a file of random bytes (or given content) under the test's temporary directory."""

    def make(name: str, size: int = 0, content: bytes | None = None) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if content is not None else os.urandom(size))
        return path

    return make


def objects(s3: Any, bucket: str, *, manifests: bool = False) -> dict[str, bytes]:
    """Every object in *bucket*, key -> bytes; run manifests only when asked."""
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            if manifests or "/_manifests/" not in item["Key"]:
                found[item["Key"]] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return found


def open_uploads(s3: Any, bucket: str) -> list[dict[str, Any]]:
    """The multipart uploads still open in *bucket*."""
    return list(s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []))


def run_cli(
    *args: str | Path, env: dict[str, str] | None = None, timeout: float = 120, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m async_ingest ARGS` with the test's environment."""
    return subprocess.run(
        [sys.executable, "-m", "async_ingest", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
        cwd=cwd,
    )


def start_cli(args: list[str], env: dict[str, str], *, wrapper: tuple[str, ...] = ()) -> subprocess.Popen[str]:
    """Start the command line in the background with *env* added (through *wrapper*, a command that execs it)."""
    return subprocess.Popen(
        [*wrapper, sys.executable, "-m", "async_ingest", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


class RecordingClient:
    """Wraps the real aioboto3 client: records each call's interval and can inject a fault.

    Only the calls pass through here; every byte still goes over HTTP to the server.
    """

    def __init__(self, client: Any, *, fail: Callable[[str, dict[str, Any]], BaseException | None] | None = None):
        self._client = client
        self._fail = fail
        self.calls: list[tuple[str, str, float, float]] = []
        self.before: dict[str, Callable[[dict[str, Any]], Any]] = {}

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if name not in {
            "put_object",
            "create_multipart_upload",
            "upload_part",
            "complete_multipart_upload",
            "head_object",
        }:
            return method

        async def call(**kwargs: Any) -> Any:
            hook = self.before.get(name)
            if hook is not None:
                await hook(kwargs)
            if self._fail is not None:
                error = self._fail(name, kwargs)
                if error is not None:
                    raise error
            start = time.perf_counter()
            try:
                return await method(**kwargs)
            finally:
                self.calls.append((name, kwargs["Key"], start, time.perf_counter()))

        return call
