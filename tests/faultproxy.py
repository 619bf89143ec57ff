"""A fault-injecting HTTP/1.1 proxy for the tests: sits between an S3 client and the moto server.

It runs its own asyncio event loop in its own thread, so sync (boto3) and async (aioboto3)
tests can both use it::

    with FaultProxy(s3_endpoint) as proxy:
        slow = proxy.add(Fault(status(503, "SlowDown", "Please reduce your request rate."), path="partNumber=2"))
        client = boto3.client("s3", endpoint_url=proxy.url, ...)
        ...
        assert slow.applied == 1
        assert [r.method for r in proxy.requests] == [...]

Each request is forwarded on a fresh upstream connection (moto closes every one anyway);
client connections are kept alive unless the client asks otherwise.  At most one fault
applies to a request: the first rule added that matches and has applications left.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import NamedTuple
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

__all__ = [
    "Action",
    "AnswerAfterForwarding",
    "Fault",
    "FaultProxy",
    "FlipRequestBytes",
    "HoldUntil",
    "NeverAnswer",
    "RecordedRequest",
    "ResetMidBody",
    "RewriteResponseHeader",
    "Stall",
    "StallMidResponse",
    "Status",
    "answer_after_forwarding",
    "flip_request_bytes",
    "hold_until",
    "never_answer",
    "reset_mid_body",
    "rewrite_response_header",
    "stall",
    "stall_mid_response",
    "status",
]

_READ_SIZE = 1 << 20  # large reads: tens of MB go through without per-chunk overhead dominating
_STREAM_LIMIT = 1 << 20  # longest header block / line accepted
# Hop-by-hop headers: never forwarded in either direction (framing is redone here).
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
    }
)

Headers = list[tuple[str, str]]


# --------------------------------------------------------------------------- actions


class Action:
    """What a matching :class:`Fault` does to a request; build one with the functions below."""


@dataclass(frozen=True)
class Status(Action):
    """Answer without forwarding, with an S3-style XML error body."""

    code: int
    s3_error_code: str
    message: str
    headers: Mapping[str, str] | None = None


@dataclass(frozen=True)
class ResetMidBody(Action):
    """Read *after* bytes of the request body (default: half of it), then reset the connection."""

    after: int | None = None


@dataclass(frozen=True)
class Stall(Action):
    """Hold the request (body fully received) for *seconds* before forwarding it."""

    seconds: float


@dataclass(frozen=True)
class FlipRequestBytes(Action):
    """Invert one byte of the request body before forwarding it.

    *offset* None picks the middle of the body, or for ``Content-Encoding: aws-chunked``
    the middle of the first chunk's payload (so the chunk framing stays intact).
    """

    offset: int | None = None


@dataclass(frozen=True)
class RewriteResponseHeader(Action):
    """Forward, then replace (or add) one header of the response."""

    name: str
    value: str


@dataclass(frozen=True)
class HoldUntil(Action):
    """Hold the request (body fully received) until *event* is set, or *timeout* passes; then forward it."""

    event: threading.Event
    timeout: float | None = None


@dataclass(frozen=True)
class AnswerAfterForwarding(Action):
    """Forward the request (so the server acts on it), drop the server's answer, and answer *answer* instead."""

    answer: Status


def answer_after_forwarding(answer: Status) -> AnswerAfterForwarding:
    """Let the request take effect upstream but report *answer*: the client retries something already done."""
    return AnswerAfterForwarding(answer)


@dataclass(frozen=True)
class NeverAnswer(Action):
    """Read the request, then send nothing back (not even ``100 Continue``) until the proxy stops."""


@dataclass(frozen=True)
class StallMidResponse(Action):
    """Forward, send the response's status line and headers but not the blank line ending them, then nothing."""


def status(code: int, s3_error_code: str, message: str, headers: Mapping[str, str] | None = None) -> Status:
    """Answer *code* with ``<Error><Code>s3_error_code</Code><Message>message</Message></Error>``."""
    return Status(code, s3_error_code, message, dict(headers) if headers else None)


def reset_mid_body(after: int | None = None) -> ResetMidBody:
    """Read part of the request body, then close abruptly (TCP RST) without answering."""
    return ResetMidBody(after)


def stall(seconds: float) -> Stall:
    """Delay the request before forwarding; cut short when the proxy stops."""
    return Stall(seconds)


def flip_request_bytes(offset: int | None = None) -> FlipRequestBytes:
    """Tamper with one byte of the request body in transit."""
    return FlipRequestBytes(offset)


def rewrite_response_header(name: str, value: str) -> RewriteResponseHeader:
    """Forward, then set response header *name* to *value*."""
    return RewriteResponseHeader(name, value)


def hold_until(event: threading.Event, timeout: float | None = None) -> HoldUntil:
    """Freeze the request in flight until *event* is set (or *timeout* passes, or the proxy stops)."""
    return HoldUntil(event, timeout)


def never_answer() -> NeverAnswer:
    """An endpoint that accepts and reads the request and never answers it."""
    return NeverAnswer()


def stall_mid_response() -> StallMidResponse:
    """An endpoint that starts its answer and stalls: the client's read timeout is all that ends the wait."""
    return StallMidResponse()


# --------------------------------------------------------------------------- rules and records


@dataclass(eq=False)
class Fault:
    """A rule: which requests (*method*, *path*, *headers*), how many of them (*times*), and what to do.

    *path* matches the request target (path and query, as sent): a ``str`` is a substring,
    a compiled pattern is searched.  *headers* gets the request headers with lower-case names.
    *times* None applies forever.
    """

    action: Action
    method: str | None = None
    path: str | re.Pattern[str] | None = None
    headers: Callable[[Mapping[str, str]], bool] | None = None
    times: int | None = 1
    _applied: int = field(default=0, init=False, repr=False)
    _cond: threading.Condition = field(default_factory=threading.Condition, init=False, repr=False)

    @property
    def applied(self) -> int:
        """How many requests this fault has been applied to so far."""
        with self._cond:
            return self._applied

    def wait(self, count: int = 1, timeout: float = 10.0) -> bool:
        """Block until the fault has been applied *count* times; False on timeout (sync code only)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._applied >= count, timeout)

    async def wait_async(self, count: int = 1) -> None:
        """:meth:`wait` for async tests (asyncio): polls, not blocking the loop; bound it with ``anyio.fail_after``."""
        while self.applied < count:  # noqa: ASYNC110 - bumped on the proxy thread, no event to await
            await asyncio.sleep(0.005)

    def _matches(self, method: str, target: str, headers: Mapping[str, str]) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if isinstance(self.path, str) and self.path not in target:
            return False
        if isinstance(self.path, re.Pattern) and self.path.search(target) is None:
            return False
        return self.headers is None or bool(self.headers(headers))

    def _take(self) -> bool:
        """Count one application if any are left."""
        with self._cond:
            if self.times is not None and self._applied >= self.times:
                return False
            self._applied += 1
            self._cond.notify_all()
            return True


class RecordedRequest(NamedTuple):
    """One request the proxy saw (recorded once its body was read, before the fault acted)."""

    method: str
    path: str
    headers: dict[str, str]
    body_length: int
    fault: Fault | None
    #: The body as received (de-chunked), kept only by a proxy made with ``keep_bodies=True``.
    body: bytes | None = None


class _Reset(Exception):
    """The connection is to be reset, not answered."""


# --------------------------------------------------------------------------- HTTP helpers


def _parse_head(block: bytes) -> tuple[str, Headers]:
    lines = block.decode("latin-1").split("\r\n")
    headers: Headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"malformed header line {line!r}")
        headers.append((name.strip(), value.strip()))
    return lines[0], headers


def _lower(headers: Headers) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        found[key] = f"{found[key]}, {value}" if key in found else value
    return found


def _head_bytes(first_line: str, headers: Headers) -> bytes:
    return "".join([first_line, "\r\n", *(f"{n}: {v}\r\n" for n, v in headers), "\r\n"]).encode("latin-1")


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    """A ``Transfer-Encoding: chunked`` body, de-chunked; trailers are dropped."""
    parts: list[bytes] = []
    while True:
        line = await reader.readuntil(b"\r\n")
        size = int(line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        if await reader.readexactly(2) != b"\r\n":
            raise ValueError("malformed chunk")


def _flip_at(body: bytes, headers: Mapping[str, str], offset: int | None) -> int:
    if offset is not None:
        return min(max(offset, 0), len(body) - 1)
    if "aws-chunked" in headers.get("content-encoding", ""):
        end = body.find(b"\r\n")
        with contextlib.suppress(ValueError):
            size = int(body[:end].split(b";", 1)[0], 16)
            if end > 0 and size > 0 and end + 2 + size <= len(body):
                return end + 2 + size // 2
    return len(body) // 2


def _error_body(action: Status) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(action.s3_error_code)}</Code><Message>{escape(action.message)}</Message>"
        f"<RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId></Error>"
    ).encode()


def _set_header(headers: Headers, name: str, value: str) -> Headers:
    kept = [(n, v) for n, v in headers if n.lower() != name.lower()]
    kept.append((name, value))
    return kept


# --------------------------------------------------------------------------- the proxy


class FaultProxy:
    """An HTTP/1.1 proxy on 127.0.0.1 (random port) to *upstream_url*, injecting :class:`Fault` rules.

    With *keep_bodies*, each recorded request keeps its body (for tests that compare bodies).
    """

    def __init__(self, upstream_url: str, *, keep_bodies: bool = False) -> None:
        parts = urlsplit(upstream_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"only plain http upstreams are supported, not {upstream_url!r}")
        self.upstream_url = upstream_url
        self._keep_bodies = keep_bodies
        self._upstream = (parts.hostname, parts.port or 80)
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._requests: list[RecordedRequest] = []
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._port: int | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._in_flight = 0
        self._peak_in_flight = 0

    # -- public API

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: the endpoint to give the client."""
        if self._port is None:
            raise RuntimeError("the proxy is not running")
        return f"http://127.0.0.1:{self._port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request seen so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def in_flight(self) -> int:
        """Requests whose head has arrived and whose answer has not been written yet."""
        with self._lock:
            return self._in_flight

    @property
    def peak_in_flight(self) -> int:
        """The most requests that were in flight at once, so far."""
        with self._lock:
            return self._peak_in_flight

    async def wait_received_async(self, fault: Fault) -> None:
        """Until a request *fault* applies to has arrived whole, body and all (asyncio; polls)."""
        while not any(r.fault is fault for r in self.requests):  # noqa: ASYNC110 - recorded on the proxy thread
            await asyncio.sleep(0.005)

    async def wait_idle_async(self) -> None:
        """Until no request is in flight (asyncio; polls): bound it with ``anyio.fail_after``."""
        while self.in_flight:  # noqa: ASYNC110 - counted on the proxy thread, no event to await
            await asyncio.sleep(0.005)

    def add(self, fault: Fault) -> Fault:
        """Add a rule (after the existing ones) and return it."""
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every rule; requests are forwarded untouched from now on."""
        with self._lock:
            self._faults.clear()

    def clear_requests(self) -> None:
        """Forget the requests recorded so far."""
        with self._lock:
            self._requests.clear()

    def start(self) -> FaultProxy:
        """Start serving (returns once the port is bound)."""
        if self._thread is not None:
            raise RuntimeError("the proxy was already started")
        self._thread = threading.Thread(target=self._run, name=f"FaultProxy->{self.upstream_url}", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            self._thread.join()
            raise RuntimeError("the proxy failed to start") from self._startup_error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Close the listener and every connection (cutting stalls and holds short), then join the thread."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None or not thread.is_alive():
            return
        if thread is threading.current_thread():
            raise RuntimeError("stop() called from the proxy's own thread")
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError("the proxy thread did not stop")
        self._port = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- the event loop thread

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # surfaced by start(); never let the thread die noisily
            if not self._ready.is_set():
                self._startup_error = error
                self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(self._accept, "127.0.0.1", 0, limit=_STREAM_LIMIT)
        try:
            self._port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stopping.wait()
        finally:
            server.close()
            for task, writer in list(self._connections.items()):
                writer.transport.abort()
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await server.wait_closed()
            for _ in range(3):  # let the transports' connection_lost callbacks run: sockets closed
                await asyncio.sleep(0)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        try:
            while await self._exchange(reader, writer):
                pass
        except _Reset:
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, OSError):
            writer.transport.abort()
        except asyncio.CancelledError:
            # Only stop() cancels these; ending normally keeps asyncio's streams callback from
            # logging the cancelled task (Python 3.11).
            writer.transport.abort()
        finally:
            self._connections.pop(task, None)
            if not writer.transport.is_closing():
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()

    def _match(self, method: str, target: str, headers: Mapping[str, str]) -> Fault | None:
        with self._lock:
            faults = list(self._faults)
        for fault in faults:
            if fault._matches(method, target, headers) and fault._take():
                return fault
        return None

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request from the client; True to keep the connection for another."""
        try:
            block = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as error:
            if error.partial.strip():
                raise
            return False  # the client closed between requests
        with self._lock:
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
        try:
            return await self._serve_request(block, reader, writer)
        finally:
            with self._lock:
                self._in_flight -= 1

    async def _serve_request(self, block: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve the request whose head is *block*; True to keep the connection for another."""
        request_line, headers = _parse_head(block)
        method, target, version = request_line.split(" ", 2)
        lower = _lower(headers)
        fault = self._match(method, target, lower)
        action = fault.action if fault is not None else None

        if "100-continue" in lower.get("expect", "").lower():
            if isinstance(action, NeverAnswer):  # not even "100 Continue": the body never comes
                self._record(method, target, lower, 0, fault)
                await self._hang()
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()

        chunked = "chunked" in lower.get("transfer-encoding", "").lower()
        length = 0 if chunked else int(lower.get("content-length", "0") or 0)
        if isinstance(action, ResetMidBody):
            got = 0
            if chunked:  # length unknown: take what has arrived, once
                got = len(await reader.read(_READ_SIZE))
            else:
                want = min(length, action.after if action.after is not None else length // 2)
                while got < want:
                    data = await reader.read(min(want - got, _READ_SIZE))
                    if not data:
                        break
                    got += len(data)
            self._record(method, target, lower, got, fault)
            raise _Reset
        body = await _read_chunked(reader) if chunked else await reader.readexactly(length)
        self._record(method, target, lower, len(body), fault, body if self._keep_bodies else None)

        keep_alive = version.upper() == "HTTP/1.1" and "close" not in lower.get("connection", "").lower()
        if isinstance(action, AnswerAfterForwarding):
            await self._forward_blind(method, target, headers, body)
            action = action.answer
        if isinstance(action, Status):
            payload = _error_body(action)
            reply: Headers = [
                ("Content-Type", "application/xml"),
                ("x-amz-request-id", uuid.uuid4().hex[:16].upper()),
                *(action.headers or {}).items(),
                ("Content-Length", str(len(payload))),
            ]
            await self._respond(writer, f"HTTP/1.1 {action.code} {action.s3_error_code}", reply, keep_alive)
            if method.upper() != "HEAD":
                writer.write(payload)
            await writer.drain()
            return keep_alive
        if isinstance(action, NeverAnswer):
            await self._hang()
        elif isinstance(action, Stall):
            await asyncio.sleep(action.seconds)
        elif isinstance(action, HoldUntil):
            deadline = None if action.timeout is None else time.monotonic() + action.timeout
            # A threading.Event cannot wake the loop: poll it (cancellation by stop() cuts this short).
            while not action.event.is_set() and (deadline is None or time.monotonic() < deadline):  # noqa: ASYNC110
                await asyncio.sleep(0.005)
        elif isinstance(action, FlipRequestBytes) and body:
            at = _flip_at(body, lower, action.offset)
            body = body[:at] + bytes([body[at] ^ 0xFF]) + body[at + 1 :]

        forwarded = [(n, v) for n, v in headers if n.lower() not in _HOP_BY_HOP and n.lower() != "content-length"]
        if body or "content-length" in lower or chunked or method.upper() in {"POST", "PUT", "PATCH"}:
            forwarded.append(("Content-Length", str(len(body))))
        forwarded.append(("Connection", "close"))
        if isinstance(action, StallMidResponse):
            return await self._forward(writer, method, target, forwarded, body, action, keep_alive)
        rewrite = action if isinstance(action, RewriteResponseHeader) else None
        return await self._forward(writer, method, target, forwarded, body, rewrite, keep_alive)

    async def _forward_blind(self, method: str, target: str, headers: Headers, body: bytes) -> None:
        """Send the request upstream and read its whole answer, which nobody sees."""
        forwarded = [(n, v) for n, v in headers if n.lower() not in _HOP_BY_HOP and n.lower() != "content-length"]
        forwarded += [("Content-Length", str(len(body))), ("Connection", "close")]
        up_reader, up_writer = await asyncio.open_connection(*self._upstream, limit=_STREAM_LIMIT)
        try:
            up_writer.write(_head_bytes(f"{method} {target} HTTP/1.1", forwarded) + body)
            await up_writer.drain()
            while await up_reader.read(_READ_SIZE):  # upstream closes once it has answered
                pass
        finally:
            up_writer.transport.abort()

    async def _forward(
        self,
        writer: asyncio.StreamWriter,
        method: str,
        target: str,
        headers: Headers,
        body: bytes,
        rewrite: RewriteResponseHeader | StallMidResponse | None,
        keep_alive: bool,
    ) -> bool:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream, limit=_STREAM_LIMIT)
        except OSError as error:
            payload = f"upstream unreachable: {error}".encode()
            reply = [("Content-Type", "text/plain"), ("Content-Length", str(len(payload)))]
            await self._respond(writer, "HTTP/1.1 502 Bad Gateway", reply, False)
            writer.write(payload)
            await writer.drain()
            return False
        try:
            up_writer.write(_head_bytes(f"{method} {target} HTTP/1.1", headers))
            if body:
                up_writer.write(body)
            await up_writer.drain()
            while True:  # skip interim responses
                status_line, reply = _parse_head(await up_reader.readuntil(b"\r\n\r\n"))
                code = int(status_line.split(" ", 2)[1])
                if code >= 200 or code == 101:
                    break
            reason = status_line.split(" ", 2)[2] if status_line.count(" ") >= 2 else ""
            upper = _lower(reply)
            if isinstance(rewrite, StallMidResponse):
                writer.write(_head_bytes(f"HTTP/1.1 {code} {reason}".rstrip(), reply)[:-2])
                await writer.drain()
                await self._hang()
            if isinstance(rewrite, RewriteResponseHeader):
                reply = _set_header(reply, rewrite.name, rewrite.value)
            passed = [(n, v) for n, v in reply if n.lower() not in _HOP_BY_HOP]
            first = f"HTTP/1.1 {code} {reason}".rstrip()
            if method.upper() == "HEAD" or code in {204, 304}:
                await self._respond(writer, first, passed, keep_alive)
                await writer.drain()
                return keep_alive
            if "chunked" not in upper.get("transfer-encoding", "").lower() and "content-length" in upper:
                remaining = int(upper["content-length"])
                await self._respond(writer, first, passed, keep_alive)
                while remaining:
                    data = await up_reader.read(min(remaining, _READ_SIZE))
                    if not data:
                        raise ConnectionError("upstream closed mid-body")
                    remaining -= len(data)
                    writer.write(data)
                    await writer.drain()
                return keep_alive
            if "chunked" in upper.get("transfer-encoding", "").lower():
                payload = await _read_chunked(up_reader)
            else:
                payload = await up_reader.read()
            passed = _set_header(passed, "Content-Length", str(len(payload)))
            await self._respond(writer, first, passed, keep_alive)
            writer.write(payload)
            await writer.drain()
            return keep_alive
        finally:
            up_writer.transport.abort()

    async def _hang(self) -> None:
        """Wait, sending nothing, until stop() cuts the connection."""
        assert self._stopping is not None
        await self._stopping.wait()
        raise ConnectionError("the proxy is stopping")

    @staticmethod
    async def _respond(writer: asyncio.StreamWriter, first_line: str, headers: Headers, keep_alive: bool) -> None:
        headers = [(n, v) for n, v in headers if n.lower() != "connection"]
        headers.append(("Connection", "keep-alive" if keep_alive else "close"))
        writer.write(_head_bytes(first_line, headers))

    def _record(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        length: int,
        fault: Fault | None,
        body: bytes | None = None,
    ) -> None:
        with self._lock:
            self._requests.append(RecordedRequest(method, target, headers, length, fault, body))
