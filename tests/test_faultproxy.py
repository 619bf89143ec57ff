"""The fault-injecting proxy itself: forwarding through it is faithful, and each fault does what it says."""

from __future__ import annotations

import http.client
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aioboto3
import anyio
import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionError,
    FlexibleChecksumError,
    HTTPClientError,
    ReadTimeoutError,
)

from .conftest import ACCESS_KEY, SECRET_KEY, objects
from .faultproxy import (
    Fault,
    FaultProxy,
    answer_after_forwarding,
    flip_request_bytes,
    hold_until,
    never_answer,
    reset_mid_body,
    rewrite_response_header,
    stall,
    stall_mid_response,
    status,
)

MiB = 2**20


@pytest.fixture
def proxy(s3_endpoint: str) -> Iterator[FaultProxy]:
    with FaultProxy(s3_endpoint) as running:
        yield running


def client(endpoint: str, *, attempts: int = 1, **settings: Any) -> Any:
    """A boto3 S3 client on *endpoint* with the test credentials; standard retries, off unless *attempts* > 1."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
        config=Config(retries={"mode": "standard", "total_max_attempts": attempts}, **settings),
    )


@pytest.fixture
def via(proxy: FaultProxy) -> Any:
    """A boto3 client talking through the proxy, retries off."""
    return client(proxy.url)


def test_forwards_requests_byte_exact(proxy: FaultProxy, via: Any, s3: Any, tmp_path: Path) -> None:
    name = f"through-{uuid.uuid4().hex[:12]}"
    via.create_bucket(Bucket=name)
    small = os.urandom(100_000)
    via.put_object(Bucket=name, Key="small", Body=small)
    assert via.get_object(Bucket=name, Key="small")["Body"].read() == small
    assert via.head_object(Bucket=name, Key="small")["ContentLength"] == len(small)
    assert via.list_objects_v2(Bucket=name)["KeyCount"] == 1
    with pytest.raises(ClientError) as missing:  # an error answer to HEAD: no body despite its headers
        via.head_object(Bucket=name, Key="missing")
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    big = os.urandom(12 * MiB + 123)
    path = tmp_path / "big"
    path.write_bytes(big)
    config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, max_concurrency=4)
    via.upload_file(str(path), name, "big", Config=config)
    assert s3.get_object(Bucket=name, Key="big")["Body"].read() == big  # straight from the server
    assert via.get_object(Bucket=name, Key="big")["Body"].read() == big  # and back through the proxy

    seen = proxy.requests
    parts = [r for r in seen if r.method == "PUT" and "partNumber=" in r.path]
    assert sorted(r.body_length for r in parts) == [12 * MiB + 123 - 10 * MiB, 5 * MiB, 5 * MiB]
    assert any(r.method == "POST" and r.path.endswith("?uploads") for r in seen)
    assert all(r.fault is None for r in seen)
    assert all("expect" not in r.headers or r.headers["expect"] == "100-continue" for r in seen)


def test_slowdown_is_retried_then_succeeds(proxy: FaultProxy, s3: Any, bucket: str) -> None:
    slow = proxy.add(Fault(status(503, "SlowDown", "Please reduce your request rate."), method="PUT", times=2))
    retrying = client(proxy.url, attempts=5)
    retrying.put_object(Bucket=bucket, Key="k", Body=b"payload")

    attempts = [r for r in proxy.requests if r.method == "PUT"]
    assert len(attempts) == 3
    assert [r.fault for r in attempts] == [slow, slow, None]
    assert slow.applied == 2
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"payload"


def test_status_is_an_s3_error(proxy: FaultProxy, via: Any, bucket: str) -> None:
    proxy.add(Fault(status(403, "AccessDenied", "Access Denied", headers={"x-test": "yes"}), path=re.compile(r"/k$")))
    with pytest.raises(ClientError) as caught:
        via.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert caught.value.response["Error"] == {"Code": "AccessDenied", "Message": "Access Denied"}
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert caught.value.response["ResponseMetadata"]["HTTPHeaders"]["x-test"] == "yes"
    via.put_object(Bucket=bucket, Key="k", Body=b"x")  # times=1: the next one passes

    proxy.add(Fault(status(500, "InternalError", "We encountered an internal error."), times=None))
    for _ in range(2):
        with pytest.raises(ClientError, match="InternalError"):
            via.get_object(Bucket=bucket, Key="k")
    proxy.clear()
    assert via.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def test_answer_after_forwarding_lets_the_request_take_effect(
    proxy: FaultProxy, via: Any, s3: Any, bucket: str
) -> None:
    """The request reaches the server and acts there; the client sees only the answer put in its place."""
    upload = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    proxy.add(Fault(answer_after_forwarding(status(500, "InternalError", "lost")), method="DELETE"))
    with pytest.raises(ClientError, match="InternalError"):
        via.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with pytest.raises(ClientError, match="NoSuchUpload"):  # what a retry gets
        via.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload)


def test_matching_by_method_path_and_headers(proxy: FaultProxy, via: Any, bucket: str) -> None:
    fault = proxy.add(
        Fault(
            status(503, "SlowDown", "slow"),
            method="put",
            path="/b-",
            headers=lambda h: h.get("content-length") == "3",
            times=None,
        )
    )
    via.put_object(Bucket=bucket, Key="a-1", Body=b"abc")  # path does not match
    via.put_object(Bucket=bucket, Key="b-1", Body=b"abcd")  # headers do not match
    via.get_object(Bucket=bucket, Key="b-1")  # method does not match
    with pytest.raises(ClientError, match="SlowDown"):
        via.put_object(Bucket=bucket, Key="b-2", Body=b"abc")
    assert fault.applied == 1
    assert [r.fault for r in proxy.requests] == [None, None, None, fault]


def test_reset_mid_body_is_a_connection_error(proxy: FaultProxy, via: Any, s3: Any, bucket: str) -> None:
    reset = proxy.add(Fault(reset_mid_body(), method="PUT"))
    with pytest.raises((ConnectionError, HTTPClientError)):
        via.put_object(Bucket=bucket, Key="k", Body=os.urandom(2 * MiB))
    assert reset.applied == 1
    [seen] = proxy.requests
    assert 0 < seen.body_length < 2 * MiB
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    via.put_object(Bucket=bucket, Key="k", Body=b"fine")  # the proxy carries on
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"fine"


def test_flipped_request_bytes_land_on_the_server(proxy: FaultProxy, via: Any, s3_endpoint: str, bucket: str) -> None:
    proxy.add(Fault(flip_request_bytes(), method="PUT"))
    data = os.urandom(64 * 1024)
    via.put_object(Bucket=bucket, Key="k", Body=data)  # moto does not verify the checksum
    # moto kept the CRC the client computed over the original bytes: read without checking it.
    direct = client(s3_endpoint, response_checksum_validation="when_required")
    with pytest.raises(FlexibleChecksumError):
        direct.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")["Body"].read()
    stored = direct.get_object(Bucket=bucket, Key="k")["Body"].read()
    assert len(stored) == len(data)
    assert stored != data
    assert sum(a != b for a, b in zip(stored, data, strict=True)) == 1


def test_rewritten_response_header_is_what_the_client_sees(proxy: FaultProxy, via: Any, bucket: str) -> None:
    via.put_object(Bucket=bucket, Key="k", Body=b"data", ChecksumAlgorithm="CRC64NVME")
    proxy.add(Fault(rewrite_response_header("ETag", '"0123456789abcdef0123456789abcdef"'), method="HEAD"))
    assert via.head_object(Bucket=bucket, Key="k")["ETag"] == '"0123456789abcdef0123456789abcdef"'
    assert via.head_object(Bucket=bucket, Key="k")["ETag"] != '"0123456789abcdef0123456789abcdef"'

    proxy.add(Fault(rewrite_response_header("x-amz-checksum-crc64nvme", "AAAAAAAAAAA="), method="GET"))
    with pytest.raises(FlexibleChecksumError):
        via.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")["Body"].read()
    assert via.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")["Body"].read() == b"data"


def test_stall_holds_the_request(proxy: FaultProxy, via: Any, bucket: str) -> None:
    via.put_object(Bucket=bucket, Key="k", Body=b"data")
    proxy.add(Fault(stall(0.6), method="GET"))
    start = time.monotonic()
    assert via.get_object(Bucket=bucket, Key="k")["Body"].read() == b"data"
    assert 0.6 <= time.monotonic() - start < 3


def test_hold_until_freezes_a_request_in_flight(proxy: FaultProxy, via: Any, s3: Any, bucket: str) -> None:
    release = threading.Event()
    held = proxy.add(Fault(hold_until(release), method="PUT"))
    worker = threading.Thread(target=via.put_object, kwargs={"Bucket": bucket, "Key": "k", "Body": b"late"})
    worker.start()
    try:
        assert held.wait(timeout=10)
        time.sleep(0.2)
        assert "Contents" not in s3.list_objects_v2(Bucket=bucket)  # received, not yet forwarded
    finally:
        release.set()
        worker.join(10)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"late"


def test_stop_cuts_stalls_short(s3_endpoint: str, bucket: str) -> None:
    proxy = FaultProxy(s3_endpoint).start()
    stalled = proxy.add(Fault(stall(60), method="PUT"))
    errors: list[BaseException] = []

    def put() -> None:
        try:
            client(proxy.url).put_object(Bucket=bucket, Key="k", Body=b"x")
        except Exception as error:
            errors.append(error)

    worker = threading.Thread(target=put)
    worker.start()
    assert stalled.wait(timeout=10)
    start = time.monotonic()
    proxy.stop()
    assert time.monotonic() - start < 2
    worker.join(10)
    assert len(errors) == 1
    assert isinstance(errors[0], (ConnectionError, HTTPClientError))
    with pytest.raises(RuntimeError):
        _ = proxy.url


@pytest.mark.anyio
async def test_aioboto3_client_through_the_proxy(proxy: FaultProxy, bucket: str) -> None:
    session = aioboto3.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name="us-east-1")
    data = os.urandom(3 * MiB)
    async with session.client("s3", endpoint_url=proxy.url) as aio:
        await aio.put_object(Bucket=bucket, Key="k", Body=data)
        response = await aio.get_object(Bucket=bucket, Key="k")
        async with response["Body"] as body:
            assert await body.read() == data
        held = proxy.add(Fault(hold_until(threading.Event(), timeout=0.3), method="GET"))
        with anyio.move_on_after(0.05) as waiting:
            await held.wait_async()
        assert waiting.cancelled_caught
        start = time.monotonic()
        response = await aio.get_object(Bucket=bucket, Key="k")  # held 0.3 s, then forwarded
        assert time.monotonic() - start >= 0.3
        with anyio.fail_after(1):
            await held.wait_async()
        async with response["Body"] as body:
            assert await body.read() == data
        proxy.add(Fault(status(503, "SlowDown", "slow"), method="HEAD", times=1))
        head = await aio.head_object(Bucket=bucket, Key="k")  # retried once by the default policy
        assert head["ContentLength"] == len(data)
    assert [r.method for r in proxy.requests] == ["PUT", "GET", "GET", "HEAD", "HEAD"]


@pytest.mark.anyio
async def test_aiohttp_retries_a_reset_put_once_by_itself(proxy: FaultProxy, bucket: str) -> None:
    """aiohttp resends an idempotent request (PUT too) once after a disconnect, unseen by botocore's retries."""
    session = aioboto3.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name="us-east-1")
    config = Config(retries={"mode": "standard", "total_max_attempts": 1})
    async with session.client("s3", endpoint_url=proxy.url, config=config) as aio:
        once = proxy.add(Fault(reset_mid_body(), method="PUT", path="/once"))
        await aio.put_object(Bucket=bucket, Key="once", Body=os.urandom(MiB))
        assert once.applied == 1
        assert len(proxy.requests) == 2

        twice = proxy.add(Fault(reset_mid_body(), method="PUT", path="/twice", times=2))
        with pytest.raises((ConnectionError, HTTPClientError)):
            await aio.put_object(Bucket=bucket, Key="twice", Body=os.urandom(MiB))
        assert twice.applied == 2


def test_raw_http_chunked_body_keep_alive_and_reset(proxy: FaultProxy, s3: Any, bucket: str) -> None:
    host, port = proxy.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("PUT", f"/{bucket}/chunked", body=iter([b"hello ", b"chunked ", b"world"]), encode_chunked=True)
        response = conn.getresponse()
        response.read()
        assert response.status == 200
        assert response.getheader("Connection") == "keep-alive"
        first = conn.sock
        conn.request("PUT", f"/{bucket}/plain", body=b"plain")  # unsigned: moto allows PUT, not GET
        response = conn.getresponse()
        response.read()
        assert response.status == 200
        assert conn.sock is first  # the same connection, kept alive
    finally:
        conn.close()
    assert objects(s3, bucket) == {"chunked": b"hello chunked world", "plain": b"plain"}
    chunked = proxy.requests[0]
    assert chunked.headers["transfer-encoding"] == "chunked"
    assert chunked.body_length == len(b"hello chunked world")

    proxy.add(Fault(reset_mid_body(after=500)))
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(f"PUT /{bucket}/reset HTTP/1.1\r\nHost: {host}\r\nContent-Length: 1000\r\n\r\n".encode())
        raw.sendall(b"x" * 500)
        with pytest.raises(ConnectionResetError):
            raw.recv(1024)
    assert proxy.requests[-1].body_length == 500


@pytest.mark.parametrize("action", [never_answer(), stall_mid_response()], ids=["never-answer", "stall-mid-response"])
@pytest.mark.timeout(20)
def test_silent_endpoints_leave_only_the_read_timeout(proxy: FaultProxy, s3: Any, action: Any) -> None:
    """never_answer reads the request and sends nothing (not even 100 Continue); stall_mid_response stops mid-head."""
    name = f"silent-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    silent = proxy.add(Fault(action, method="PUT"))
    with pytest.raises(ReadTimeoutError):
        client(proxy.url, read_timeout=0.5).put_object(Bucket=name, Key="k", Body=b"x" * 1000)
    assert silent.applied == 1
    assert proxy.requests[-1].headers["content-length"] == "1000"
    forwarded = action == stall_mid_response()
    assert objects(s3, name) == ({"k": b"x" * 1000} if forwarded else {})
