#!/usr/bin/env python3
"""A discard S3 endpoint, FOR BENCHMARKING ONLY: it stores no object bytes and verifies nothing.

    python benchmarks/discard_server.py --port 0          # prints "listening on http://127.0.0.1:PORT"
    python benchmarks/discard_server.py --tls CERT.pem    # "listening on https://127.0.0.1:PORT"

``--tls PATH`` serves HTTPS with a self-signed certificate for 127.0.0.1 and
localhost made at start-up (with the ``cryptography`` package, else ``openssl
req``) and writes it to PATH, for the clients to trust (``AWS_CA_BUNDLE=PATH``,
``verify=PATH``).

It accepts any request, signed or not (SigV4 signatures are never checked),
reads every request body as fast as it can and throws the bytes away, and
answers just enough of the S3 API for boto3, aioboto3, async_ingest, obstore
and the aws CLI to believe their uploads landed:

* PutObject, UploadPart: ``ETag`` and every ``x-amz-checksum-*`` value sent
  (as a header or in an aws-chunked trailer) echoed back as a header;
* CreateMultipartUpload (``POST ?uploads``): an ``UploadId``;
* CompleteMultipartUpload (``POST ?uploadId=``): Location/Bucket/Key/ETag and
  each ``x-amz-checksum-*`` request header as an XML element such as
  ``<ChecksumCRC64NVME>``;
* HeadObject: the size, ETag and checksums of an object uploaded earlier (only its
  metadata is kept, in memory), else 404; GetObject: always 404;
* AbortMultipartUpload, DeleteObject: 204; ``If-None-Match: *`` is honoured (412);
* HeadBucket, CreateBucket, GetBucketLocation, ListObjectsV2 (always empty),
  ListBuckets.

Bodies framed by ``Content-Length``, ``Transfer-Encoding: chunked`` and
``Content-Encoding: aws-chunked`` are all handled, as are keep-alive,
pipelining and ``Expect: 100-continue``.  Requests are path-style
(``/bucket/key``), which is what every client uses for an IP endpoint.

``GET /_discard/stats`` answers a JSON document of what was received (requests,
object bytes, parts, ...), so a benchmark can check that a client sent every
byte.  The server is a raw asyncio BufferedProtocol over one reused receive
buffer (on uvloop when it is installed), so discarding costs almost nothing:
it is much faster than any client it measures, unlike moto's server (about
50 MB/s), which would hide the differences between clients.  Never point a
real workload at it: everything sent to it is lost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, cast
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import escape

__all__ = ["DiscardProtocol", "State", "Stats", "main", "serve"]

BANNER = "discard_server (BENCHMARK ONLY: keeps no object bytes, verifies no signature)"

#: Size of the one receive buffer every connection reads into.
RECV_BUFFER = 1 << 20
#: Longest request head accepted.
MAX_HEAD = 64 * 1024
#: Longest chunk-size or trailer line accepted.
MAX_LINE = 8 * 1024

#: x-amz-checksum-<suffix> -> the element name S3 uses in XML (Checksum<NAME>).
CHECKSUM_NAMES = {
    "crc32": "CRC32",
    "crc32c": "CRC32C",
    "crc64nvme": "CRC64NVME",
    "sha1": "SHA1",
    "sha256": "SHA256",
}
#: x-amz-checksum-* headers that are settings, not values.
CHECKSUM_SETTINGS = frozenset({"x-amz-checksum-algorithm", "x-amz-checksum-type", "x-amz-checksum-mode"})

REASONS = {
    100: "Continue",
    200: "OK",
    204: "No Content",
    400: "Bad Request",
    404: "Not Found",
    412: "Precondition Failed",
    501: "Not Implemented",
}
XML_HEADER = b'<?xml version="1.0" encoding="UTF-8"?>\n'
S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"


@dataclass
class Stats:
    """What the server has received since it started."""

    connections: int = 0
    requests: int = 0
    #: Bytes on the wire in request bodies (framing included).
    body_bytes: int = 0
    #: Object bytes of PutObject and UploadPart requests (chunk framing removed).
    object_bytes: int = 0
    put_objects: int = 0
    parts: int = 0
    multipart_created: int = 0
    multipart_completed: int = 0
    multipart_aborted: int = 0
    chunked_bodies: int = 0
    expect_continue: int = 0
    errors: int = 0


@dataclass
class ObjectInfo:
    """What is remembered of an object whose bytes were discarded: enough to answer HeadObject."""

    size: int
    etag: str
    #: x-amz-checksum-<algorithm> -> value, as sent by the client.
    checksums: dict[str, str]
    checksum_type: str | None = None


@dataclass
class State:
    """Everything the connections share: counters, the objects' metadata, open multipart uploads."""

    stats: Stats = field(default_factory=Stats)
    objects: dict[tuple[str, str], ObjectInfo] = field(default_factory=dict)
    #: upload id -> {part number: object bytes}.
    uploads: dict[str, dict[int, int]] = field(default_factory=dict)
    etags: int = 0
    #: Print every request (without its Authorization header) on stderr.
    log: bool = False

    def etag(self) -> str:
        """A fresh, unique, MD5-shaped ETag (the bytes are never hashed)."""
        self.etags += 1
        return f'"{self.etags:032x}"'


class ProtocolError(Exception):
    """The client sent something that is not HTTP/1.1 as this server reads it."""


class ChunkDecoder:
    """Incremental decoder of a chunked body (HTTP chunked or aws-chunked): counts data, keeps trailers."""

    __slots__ = ("_line", "_remaining", "_state", "data_bytes", "done", "trailers")

    SIZE, DATA, DATA_END, TRAILER = range(4)

    def __init__(self) -> None:
        self.data_bytes = 0
        self.done = False
        self.trailers: dict[str, str] = {}
        self._state = self.SIZE
        self._remaining = 0
        self._line = bytearray()

    def feed(self, data: memoryview, pos: int, end: int) -> int:
        """Consume ``data[pos:end]`` up to the end of the body; return the new position."""
        while pos < end and not self.done:
            if self._state == self.DATA:
                take = min(self._remaining, end - pos)
                pos += take
                self._remaining -= take
                self.data_bytes += take
                if not self._remaining:
                    self._state = self.DATA_END
                continue
            newline = _find(data, b"\n", pos, end)
            stop = end if newline < 0 else newline + 1
            self._line += data[pos:stop]
            pos = stop
            if len(self._line) > MAX_LINE:
                raise ProtocolError("chunk line too long")
            if newline < 0:
                break
            line = bytes(self._line).rstrip(b"\r\n")
            self._line.clear()
            self._line_done(line)
        return pos

    def _line_done(self, line: bytes) -> None:
        if self._state == self.DATA_END:
            if line:
                raise ProtocolError("chunk data longer than its size")
            self._state = self.SIZE
        elif self._state == self.SIZE:
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise ProtocolError(f"bad chunk size line {line[:40]!r}") from None
            if size:
                self._remaining = size
                self._state = self.DATA
            else:
                self._state = self.TRAILER
        elif not line:
            self.done = True
        else:
            name, _, value = line.decode("latin-1").partition(":")
            self.trailers[name.strip().lower()] = value.strip()


def _find(data: memoryview, needle: bytes, start: int, end: int) -> int:
    """``bytes.find`` over a memoryview slice, without copying it."""
    index: int = data.obj.find(needle, start, end)  # type: ignore[attr-defined]
    return index


class Request:
    """The head of one request, parsed, and what its body is turning out to be."""

    __slots__ = ("body_bytes", "chunks", "headers", "keep_alive", "length", "method", "path", "query", "target")

    def __init__(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        try:
            self.method, self.target, version = lines[0].split(" ", 2)
        except ValueError:
            raise ProtocolError(f"bad request line {lines[0][:80]!r}") from None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep:
                raise ProtocolError(f"bad header line {line[:80]!r}")
            headers[name.strip().lower()] = value.strip()
        self.headers = headers
        path, _, query = self.target.partition("?")
        self.path = unquote(path)
        self.query = parse_qs(query, keep_blank_values=True)
        connection = headers.get("connection", "").lower()
        self.keep_alive = "close" not in connection and (version == "HTTP/1.1" or "keep-alive" in connection)
        self.body_bytes = 0
        self.chunks: ChunkDecoder | None = None
        #: Bytes of body framed by Content-Length still to read; -1 when framed by chunked encoding.
        self.length = 0
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self.chunks = ChunkDecoder()
            self.length = -1
        else:
            try:
                self.length = int(headers.get("content-length", "0"))
            except ValueError:
                raise ProtocolError("bad Content-Length") from None
            if "aws-chunked" in headers.get("content-encoding", "").lower():
                self.chunks = ChunkDecoder()

    @property
    def object_bytes(self) -> int:
        """Bytes of content, chunk framing removed."""
        return self.chunks.data_bytes if self.chunks is not None else self.body_bytes

    def checksums(self) -> dict[str, str]:
        """Every x-amz-checksum-<algorithm> value sent, as a header or as a trailer."""
        found = {
            k: v for k, v in self.headers.items() if k.startswith("x-amz-checksum-") and k not in CHECKSUM_SETTINGS
        }
        if self.chunks is not None:
            found.update((k, v) for k, v in self.chunks.trailers.items() if k.startswith("x-amz-checksum-"))
        return found


def _response(
    status: int,
    *,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    keep_alive: bool = True,
    head: bool = False,
) -> bytes:
    """The bytes of a response; *headers* may set Content-Length (a HEAD of an object) and Content-Type."""
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}", "Server: discard-bench"]
    lines.append(f"x-amz-request-id: {uuid.uuid4().hex[:16].upper()}")
    headers = headers or {}
    for name, value in headers.items():
        lines.append(f"{name}: {value}")
    if body and "Content-Type" not in headers:
        lines.append("Content-Type: application/xml")
    if "Content-Length" not in headers:
        lines.append(f"Content-Length: {len(body)}")
    if not keep_alive:
        lines.append("Connection: close")
    out = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return out if head else out + body


def _xml(root: str, **elements: str) -> bytes:
    inner = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in elements.items())
    return XML_HEADER + f'<{root} xmlns="{S3_NS}">{inner}</{root}>'.encode()


def _error(code: str, message: str, status: int) -> tuple[int, dict[str, str], bytes]:
    return status, {}, _xml("Error", Code=code, Message=message)


def _precondition_failed() -> tuple[int, dict[str, str], bytes]:
    return _error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold", 412)


class DiscardProtocol(asyncio.BufferedProtocol):
    """One client connection: parse heads, discard bodies, answer as S3 would."""

    #: The receive buffer shared by every connection; data is handled before the next read fills it.
    _buffer = bytearray(RECV_BUFFER)
    _view = memoryview(_buffer)

    def __init__(self, state: State) -> None:
        self.state = state
        self.stats = state.stats
        self.transport: asyncio.Transport | None = None
        self._head = bytearray()
        self._request: Request | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)
        self.stats.connections += 1

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        try:
            self._consume(self._view, 0, nbytes)
        except ProtocolError as exc:
            self.stats.errors += 1
            assert self.transport is not None
            self.transport.write(
                _response(400, body=_xml("Error", Code="BadRequest", Message=str(exc)), keep_alive=False)
            )
            self.transport.close()

    def eof_received(self) -> bool:
        return False

    def _consume(self, data: memoryview, pos: int, end: int) -> None:
        while pos < end:
            request = self._request
            if request is None:
                pos = self._read_head(data, pos, end)
                continue
            if request.length >= 0:
                take = min(request.length, end - pos)
                if request.chunks is not None:
                    request.chunks.feed(data, pos, pos + take)
                pos += take
                request.length -= take
                request.body_bytes += take
                if request.length == 0:
                    self._finish(request)
            else:
                assert request.chunks is not None
                new = request.chunks.feed(data, pos, end)
                request.body_bytes += new - pos
                pos = new
                if request.chunks.done:
                    self._finish(request)

    def _read_head(self, data: memoryview, pos: int, end: int) -> int:
        start = max(0, len(self._head) - 3)
        self._head += data[pos:end]
        index = self._head.find(b"\r\n\r\n", start)
        if index < 0:
            if len(self._head) > MAX_HEAD:
                raise ProtocolError("request head too long")
            return end
        head = bytes(self._head[:index]).lstrip(b"\r\n")
        consumed = index + 4 - (len(self._head) - (end - pos))
        self._head.clear()
        if not head.strip():
            return pos + consumed
        request = Request(head)
        self.stats.requests += 1
        if request.chunks is not None:
            self.stats.chunked_bodies += 1
        if request.length and "100-continue" in request.headers.get("expect", "").lower():
            self.stats.expect_continue += 1
            assert self.transport is not None
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self._request = request
        if request.length == 0:
            self._finish(request)
        return pos + consumed

    def _finish(self, request: Request) -> None:
        self._request = None
        self.stats.body_bytes += request.body_bytes
        status, headers, body = self._answer(request)
        if self.state.log:
            shown = {k: v for k, v in request.headers.items() if k != "authorization"}
            print(f"{request.method} {request.target} -> {status} body={request.body_bytes} {shown}", file=sys.stderr)
        assert self.transport is not None
        self.transport.write(
            _response(status, headers=headers, body=body, keep_alive=request.keep_alive, head=request.method == "HEAD")
        )
        if not request.keep_alive:
            self.transport.close()

    def _answer(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body of the answer to *request*."""
        if request.path == "/_discard/stats":
            return 200, {"Content-Type": "application/json"}, json.dumps(asdict(self.stats)).encode()
        bucket, _, key = request.path.lstrip("/").partition("/")
        if not bucket:
            if request.method == "GET":
                buckets = "<Buckets><Bucket><Name>lake</Name><CreationDate>2022-05-02T00:00:00.000Z</CreationDate>"
                body = XML_HEADER + f'<ListAllMyBucketsResult xmlns="{S3_NS}">{buckets}</Bucket></Buckets>'.encode()
                return 200, {}, body + b"</ListAllMyBucketsResult>"
            return _error("NotImplemented", f"{request.method} / is not implemented by the discard server", 501)
        if not key:
            return self._bucket_op(request, bucket)
        return self._object_op(request, bucket, key)

    def _object_op(self, request: Request, bucket: str, key: str) -> tuple[int, dict[str, str], bytes]:
        method, query, state = request.method, request.query, self.state
        checksums = request.checksums()
        exists = (bucket, key) in state.objects
        if_none_match = request.headers.get("if-none-match") == "*"
        if method == "PUT" and "uploadId" in query:
            self.stats.object_bytes += request.object_bytes
            self.stats.parts += 1
            parts = state.uploads.get(query["uploadId"][0])
            if parts is None:
                return _error("NoSuchUpload", "The specified multipart upload does not exist.", 404)
            parts[int(query.get("partNumber", ["0"])[0])] = request.object_bytes
            return 200, {"ETag": state.etag(), **checksums}, b""
        if method == "PUT":
            self.stats.object_bytes += request.object_bytes
            self.stats.put_objects += 1
            if if_none_match and exists:
                return _error(
                    "PreconditionFailed", "At least one of the pre-conditions you specified did not hold", 412
                )
            etag = state.etag()
            state.objects[bucket, key] = ObjectInfo(request.object_bytes, etag, checksums, "FULL_OBJECT")
            return 200, {"ETag": etag, **checksums}, b""
        if method == "POST" and "uploads" in query:
            self.stats.multipart_created += 1
            upload_id = uuid.uuid4().hex
            state.uploads[upload_id] = {}
            settings = {k: v for k, v in request.headers.items() if k in CHECKSUM_SETTINGS}
            return 200, settings, _xml("InitiateMultipartUploadResult", Bucket=bucket, Key=key, UploadId=upload_id)
        if method == "POST" and "uploadId" in query:
            return self._complete(request, bucket, key, checksums)
        if method == "DELETE":
            if "uploadId" in query:
                self.stats.multipart_aborted += 1
                state.uploads.pop(query["uploadId"][0], None)
            else:
                state.objects.pop((bucket, key), None)
            return 204, {}, b""
        if method in ("HEAD", "GET"):
            info = state.objects.get((bucket, key))
            if info is None or method == "GET":
                message = "The discard server keeps no bytes." if info else "The specified key does not exist."
                return _error("NoSuchKey", message, 404)
            headers = {
                "Content-Length": str(info.size),
                "Content-Type": "binary/octet-stream",
                "ETag": info.etag,
                "Last-Modified": "Mon, 02 May 2022 00:00:00 GMT",
                **info.checksums,
            }
            if info.checksum_type and info.checksums:
                headers["x-amz-checksum-type"] = info.checksum_type
            return 200, headers, b""
        return _error("NotImplemented", f"{method} on an object is not implemented by the discard server", 501)

    def _complete(
        self, request: Request, bucket: str, key: str, checksums: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        """CompleteMultipartUpload: the parts' sizes make the object's; checksum headers are echoed in XML."""
        self.stats.multipart_completed += 1
        parts = self.state.uploads.pop(request.query["uploadId"][0], None)
        if parts is None:
            return _error("NoSuchUpload", "The specified multipart upload does not exist.", 404)
        if request.headers.get("if-none-match") == "*" and (bucket, key) in self.state.objects:
            return _precondition_failed()
        etag = self.state.etag().rstrip('"') + f'-{len(parts)}"'
        checksum_type = request.headers.get("x-amz-checksum-type")
        self.state.objects[bucket, key] = ObjectInfo(sum(parts.values()), etag, checksums, checksum_type)
        elements = {"Location": f"http://{request.headers.get('host', 'localhost')}/{bucket}/{key}"}
        elements.update(Bucket=bucket, Key=key, ETag=etag)
        for name, value in checksums.items():
            suffix = name.removeprefix("x-amz-checksum-")
            elements[f"Checksum{CHECKSUM_NAMES.get(suffix, suffix.upper())}"] = value
        if checksum_type:
            elements["ChecksumType"] = checksum_type
        return 200, {}, _xml("CompleteMultipartUploadResult", **elements)

    def _bucket_op(self, request: Request, bucket: str) -> tuple[int, dict[str, str], bytes]:
        method, query = request.method, request.query
        if method == "HEAD":
            return 200, {"x-amz-bucket-region": "us-east-1"}, b""
        if method == "PUT":
            return 200, {"Location": f"/{bucket}"}, b""
        if method == "GET" and "location" in query:
            return 200, {}, _xml("LocationConstraint")
        if method == "GET" and "uploads" in query:
            return 200, {}, _xml("ListMultipartUploadsResult", Bucket=bucket, IsTruncated="false")
        if method == "GET":
            prefix = query.get("prefix", [""])[0]
            return (
                200,
                {},
                _xml("ListBucketResult", Name=bucket, Prefix=prefix, KeyCount="0", MaxKeys="1000", IsTruncated="false"),
            )
        if method == "DELETE":
            return 204, {}, b""
        if method == "POST" and "delete" in query:
            return 200, {}, _xml("DeleteResult")
        return _error("NotImplemented", f"{method} on a bucket is not implemented by the discard server", 501)


def _self_signed_pem(directory: str) -> tuple[str, str, str]:
    """A certificate for 127.0.0.1 and localhost, valid for a day: the PEM files of it, its key and its issuer."""
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    try:
        import datetime
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        if shutil.which("openssl") is None:
            raise SystemExit("discard_server: --tls needs the cryptography package or openssl") from None
        subprocess.run(
            [
                *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
                *("-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1"),
                *("-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
            ],
            check=True,
            capture_output=True,
        )
        return cert, key, cert
    now = datetime.datetime.now(datetime.UTC)

    def issue(subject: str, key: ec.EllipticCurvePrivateKey, *, issuer: str, signer: ec.EllipticCurvePrivateKey) -> Any:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=key is signer, path_length=None), critical=True)
        )
        if key is not signer:
            names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(signer, hashes.SHA256())

    # A CA and a server certificate it signs: rustls (obstore) refuses a CA certificate as the server's.
    ca_key, private = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    authority = issue("discard_server CA", ca_key, issuer="discard_server CA", signer=ca_key)
    certificate = issue("127.0.0.1", private, issuer="discard_server CA", signer=ca_key)
    with open(os.path.join(directory, "ca.pem"), "wb") as out:
        out.write(authority.public_bytes(serialization.Encoding.PEM))
    with open(cert, "wb") as out:
        out.write(certificate.public_bytes(serialization.Encoding.PEM))
    with open(key, "wb") as out:
        out.write(
            private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return cert, key, os.path.join(directory, "ca.pem")


def tls_context(cert_out: str) -> ssl.SSLContext:
    """A server context with a fresh certificate; the one the clients must trust is written to *cert_out*."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as directory:
        cert, key, trusted = _self_signed_pem(directory)
        context.load_cert_chain(cert, key)
        shutil.copyfile(trusted, cert_out)
    return context


async def serve(
    host: str, port: int, *, announce: Callable[[str], None], log: bool = False, tls: ssl.SSLContext | None = None
) -> None:
    """Serve until cancelled or signalled, then print the stats."""
    loop = asyncio.get_running_loop()
    state = State(log=log)
    server = await loop.create_server(
        lambda: DiscardProtocol(state), host, port, backlog=1024, reuse_address=True, ssl=tls
    )
    bound = server.sockets[0].getsockname()
    announce(f"{BANNER} listening on {'https' if tls else 'http'}://{bound[0]}:{bound[1]}")
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()
    print(f"discard_server: stopped; {json.dumps(asdict(state.stats))}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the server (``--port 0`` picks a free port and prints it)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on [127.0.0.1]")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one and prints it [0]")
    parser.add_argument(
        "--no-uvloop", action="store_true", help="use the standard asyncio loop even if uvloop is there"
    )
    parser.add_argument("--log", action="store_true", help="print every request on stderr (slow: for debugging)")
    parser.add_argument(
        "--tls", metavar="CERT", help="serve HTTPS with a self-signed certificate made now, written to CERT"
    )
    args = parser.parse_args(argv)
    tls = tls_context(args.tls) if args.tls else None

    def announce(line: str) -> None:
        print(line, flush=True)

    runner: Callable[..., object] = asyncio.run
    if not args.no_uvloop:
        with contextlib.suppress(ImportError):
            import uvloop

            runner = uvloop.run
    runner(serve(args.host, args.port, announce=announce, log=args.log, tls=tls))
    return 0


if __name__ == "__main__":
    sys.exit(main())
