"""botocore's handlers that async_ingest's own client drops: why each is idle, and the wire unchanged without them."""

from __future__ import annotations

import contextlib
import datetime
import re
import uuid
from contextlib import AsyncExitStack
from typing import Any

import aioboto3
import botocore.session
import pytest
from botocore import handlers, xform_name
from botocore.config import Config
from botocore.exceptions import ClientError

import async_ingest
from async_ingest import IngestConfig
from async_ingest._client import open_client, open_full_client
from async_ingest._exceptions import ConfigError
from async_ingest._hooks import IDLE_HANDLERS, idle_handlers
from async_ingest._limits import validate_bucket_name
from async_ingest._types import S3Client

from .conftest import DAY, NO_RETRIES, SMALL, MiB
from .faultproxy import Fault, FaultProxy, RecordedRequest, status

#: Headers that differ between any two requests whatever the handlers: the time, the signature, retry bookkeeping.
VARYING = {"x-amz-date", "authorization", "amz-sdk-invocation-id", "amz-sdk-request"}
#: The operations async_ingest calls: the client Protocol's, those it pages through, the local trial's bucket.
OPERATIONS = (
    *(name for name in dir(S3Client) if not name.startswith("_") and name not in {"meta", "get_paginator"}),
    "list_objects_v2",
    "create_bucket",
)
#: Object settings that reach the requests (fields of PutObject and CreateMultipartUpload).
OBJECT_SETTINGS: dict[str, Any] = {
    "metadata": {"team": "data"},
    "tags": {"source": "events"},
    "sse": "AES256",
    "acl": "bucket-owner-full-control",
    "storage_class": "STANDARD_IA",
    "content_type": "text/csv",
}


def operation_models() -> list[Any]:
    """The models of the operations async_ingest calls."""
    service = botocore.session.Session().get_service_model("s3")
    by_method = {xform_name(name): name for name in service.operation_names}
    return [service.operation_model(by_method[method]) for method in OPERATIONS]


def client_config() -> Any:
    """The botocore settings of an S3 client made from the environment, as the own client's are."""
    return botocore.session.Session().create_client("s3", region_name="us-east-1").meta.config


def test_every_idle_handler_is_botocores() -> None:
    """Each name is a handler botocore registers (a renamed one would silently stay registered)."""
    registered = {getattr(entry[1], "__name__", "") for entry in handlers.BUILTIN_HANDLERS}
    assert set(IDLE_HANDLERS) <= registered
    assert {handler.__name__ for _, handler in idle_handlers(client_config())} == {
        *IDLE_HANDLERS,
        "add_recursion_detection_header",
        "_set_auth_scheme_preference_signer",
    }


def test_operations_have_no_tokens_discovery_or_unsigned_auth() -> None:
    """None of async_ingest's operations has an idempotency token, endpoint discovery or the 'none' auth type."""
    models = operation_models()
    assert len(models) == len(OPERATIONS) >= 10
    for model in models:
        assert model.idempotent_members == [], model.name
        assert not model.is_endpoint_discovery_operation, model.name
        assert model.auth_type != "none", model.name
        assert "none" not in (model.auth or []), model.name


@pytest.mark.parametrize("name", ["lake", "data-lake-do-fulano", "a.b-c", "x" * 63])
def test_valid_buckets_pass_botocores_check_and_are_no_arn(name: str) -> None:
    """A bucket async_ingest accepts matches botocore's own bucket pattern and is not an ARN."""
    validate_bucket_name(name)
    assert handlers.VALID_BUCKET.search(name)
    assert not handlers.VALID_S3_ARN.search(name)


@pytest.mark.parametrize("name", ["arn:aws:s3:us-east-1:123456789012:accesspoint/ap", "lake/raw", "é" * 5])
def test_arns_and_botocores_rejects_are_refused_first(name: str) -> None:
    """What botocore's bucket handlers act on (ARNs, names outside its pattern) never gets past the config."""
    with pytest.raises(ConfigError):
        validate_bucket_name(name)


def test_metadata_is_ascii_before_any_request() -> None:
    """Metadata that botocore's ASCII check would refuse is refused by IngestConfig first."""
    with pytest.raises(ConfigError, match="metadata"):
        IngestConfig(bucket="lake", metadata={"team": "dáta"})


def test_lambda_and_an_auth_scheme_preference_keep_their_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    """On AWS Lambda the recursion-detection header handler stays; so does an auth scheme preference's handler."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "ingest")
    monkeypatch.setenv("AWS_AUTH_SCHEME_PREFERENCE", "sigv4")
    config = client_config()
    kept = {"add_recursion_detection_header", "_set_auth_scheme_preference_signer"}
    assert not kept & {handler.__name__ for _, handler in idle_handlers(config)}


def normalised(requests: list[RecordedRequest], bucket: str) -> list[tuple[Any, ...]]:
    """Each request with its bucket and upload ids replaced and the headers that always vary left out."""

    def path(target: str) -> str:
        return re.sub(r"uploadId=[^&]+", "uploadId=ID", target.replace(bucket, "BUCKET"))

    return [
        (
            r.method,
            path(r.path),
            {name: value for name, value in r.headers.items() if name not in VARYING},
            r.body,
        )
        for r in requests
    ]


async def traffic(proxy: FaultProxy, config: IngestConfig, files: list[Any], *, full: bool) -> list[tuple[Any, ...]]:
    """The requests of two runs of *files*, a GET, a DELETE, a listing of uploads and a failed multipart upload."""
    proxy.clear_requests()
    async with AsyncExitStack() as stack:
        client = await open_full_client(config, stack) if full else None
        async with async_ingest.Ingestor(config, client=client) as ingestor:
            first = await ingestor.ingest(files, date=DAY)  # a LIST, HEADs, PUTs and a multipart upload
            assert first.ok, first.failed
            await ingestor.ingest(files, date=DAY)  # a HEAD of each, and what the if-exists policy does next
            s3 = ingestor.client
            assert s3 is not None
            key = first.files[0].key
            await (await s3.get_object(Bucket=config.bucket, Key=key))["Body"].read()
            await s3.delete_object(Bucket=config.bucket, Key=key)
            await ingestor.abort_stale_uploads(older_than=datetime.timedelta(0), dry_run=True)
            proxy.add(Fault(status(500, "InternalError", "part refused"), method="PUT", path="partNumber=2"))
            failed = await ingestor.ingest([files[-1]], date=DAY + datetime.timedelta(days=1))
            assert not failed.ok  # ... and the upload aborted
    return normalised(proxy.requests, config.bucket)


@pytest.fixture
def recording(s3_endpoint: str) -> Any:
    """A proxy in front of the test server that keeps every request's body."""
    with FaultProxy(s3_endpoint, keep_bodies=True) as running:
        yield running


@pytest.mark.anyio
@pytest.mark.parametrize(
    "settings",
    [pytest.param({"checksum": name}, id=name) for name in ("crc64nvme", "crc32c", "crc32", "sha256", "none")]
    + [
        pytest.param({"checksum": "none", "request_checksum_calculation": "when_supported"}, id="botocore-checksum"),
        pytest.param({"if_exists": "fail", "sse": "aws:kms", "sse_kms_key_id": "alias/lake"}, id="conditional-kms"),
    ],
)
async def test_requests_on_the_wire_are_unchanged(
    recording: FaultProxy, s3: Any, settings: dict[str, Any], make_file: Any
) -> None:
    """Without the idle handlers every request is the same: method, path, query, headers and body."""
    make_file("clicks/b.json", 20_000)
    files: list[Any] = [
        f"Clicks={make_file('clicks/a.json', 10_000).parent}",  # two files in one partition: a LIST
        make_file("empty.csv", 0),
        make_file("series.csv", 2 * MiB + 7),  # one PUT with a file body
        make_file("movies.csv", 11 * MiB),  # three parts
    ]
    seen = []
    for full in (True, False):
        bucket = f"wire-{uuid.uuid4().hex[:16]}"
        s3.create_bucket(Bucket=bucket)
        config = IngestConfig(
            bucket=bucket,
            endpoint_url=recording.url,
            concurrency=1,
            manifest=False,
            success_marker=True,  # an empty object of the run's own, sent from bytes
            max_attempts=1,
            **SMALL,
            **(OBJECT_SETTINGS | settings),
        )
        seen.append(await traffic(recording, config, files, full=full))
    full_requests, pruned_requests = seen
    operations = {(method, re.sub(r"=[^&]*", "", path.partition("?")[2])) for method, path, *_ in full_requests}
    assert {("PUT", ""), ("POST", "uploads"), ("PUT", "uploadId&partNumber"), ("POST", "uploadId")} <= operations
    assert {("HEAD", ""), ("GET", ""), ("DELETE", ""), ("DELETE", "uploadId"), ("GET", "uploads&prefix")} <= operations
    assert any(method == "PUT" and path.endswith("/_SUCCESS") for method, path, *_ in full_requests)
    if "if_exists" not in settings:
        assert ("GET", "list-type&prefix&delimiter&encoding-type") in operations
    assert pruned_requests == full_requests


@pytest.mark.anyio
async def test_the_own_client_drops_them_a_lent_one_keeps_them(
    recording: FaultProxy, bucket: str, make_file: Any
) -> None:
    """The own client no longer adds an SSE-C key's MD5 (async_ingest sends none); a lent one, used by a run, does."""
    config = IngestConfig(bucket=bucket, endpoint_url=recording.url, max_attempts=1, manifest=False)

    async def sends_key_md5(client: Any) -> bool:
        recording.clear_requests()
        with contextlib.suppress(ClientError):  # what the server makes of it does not matter here
            await client.put_object(
                Bucket=bucket, Key="k", Body=b"x", SSECustomerAlgorithm="AES256", SSECustomerKey="k" * 32
            )
        [request] = recording.requests
        return "x-amz-server-side-encryption-customer-key-md5" in request.headers

    async with AsyncExitStack() as stack:
        own = await open_client(config, stack)
        # What two of the reasons rest on: the client's validation mode, and that it signs.
        assert own.meta.config.response_checksum_validation == "when_required"
        assert own.meta.config.signature_version is not botocore.UNSIGNED
        assert not await sends_key_md5(own)
        assert await sends_key_md5(await open_full_client(config, stack))
        session = aioboto3.Session()
        lent = await stack.enter_async_context(
            session.client("s3", endpoint_url=recording.url, config=Config(retries=NO_RETRIES))
        )
        async with async_ingest.Ingestor(config, client=lent) as ingestor:
            report = await ingestor.ingest([make_file("movies.csv", 10)], date=DAY)
        assert report.ok, report.failed
        assert await sends_key_md5(lent)
