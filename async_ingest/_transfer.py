"""The I/O of one file: a single PUT, or a multipart upload aborted on any exit but success.

File reads and checksums run in worker threads, one part at a time, after the
part has taken a request slot and a buffer from the Ingestor's memory budget;
so memory stays bounded and the event loop never touches file bytes.  What to do
about an object already at the key is the if-exists policy's (``_exists``); a
multipart upload is its own unit (``_multipart``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Container, Sequence
from typing import TYPE_CHECKING, Any

import anyio

from ._buffers import Buffer, BufferPool, Limits
from ._checksum import Algorithm
from ._errors import describe_error, expected_errors
from ._exists import ExistsPolicy
from ._multipart import MultipartUploader
from ._outcome import TransferOutcome, strip_etag, verify_stored
from ._plan import UploadSpec
from ._source import open_checked, read_part

if TYPE_CHECKING:
    from ._bandwidth import TokenBucket

__all__ = ["EXPECTED_ERRORS", "SMALL_BODY", "Transfer", "TransferOutcome", "describe_error"]

#: Kept for callers that still import them from here; they live in ``_errors``.
EXPECTED_ERRORS = expected_errors()

#: Files up to this size are sent as a bytearray body, without 100-continue (see Transfer._read_whole).
SMALL_BODY = 1 << 20


class Transfer:
    """Uploads files to one bucket through one client, sharing one limit on requests in flight.

    *part_concurrency* is how many parts of one file are sent at once (the *slots* bound
    the requests of every file together).
    """

    def __init__(
        self,
        client: Any,
        bucket: str,
        *,
        slots: anyio.Semaphore,
        buffers: BufferPool,
        readers: anyio.CapacityLimiter,
        bandwidth: TokenBucket | None = None,
        part_concurrency: int,
        checksum: Algorithm | None,
        abort_timeout: float,
        if_exists: str = "skip",
        object_args: Callable[[UploadSpec], dict[str, Any]] | None = None,
        on_bytes: Callable[[UploadSpec, int], None] | None = None,
        run_id: str | None = None,
    ) -> None:
        self._s3 = client
        self._bucket = bucket
        self._limits = Limits(slots, buffers, readers, bandwidth)
        self._checksum = checksum
        self._abort_timeout = abort_timeout
        self._object_args = object_args
        self._on_bytes = on_bytes
        self._exists = ExistsPolicy(client, bucket, if_exists, readers=readers, run_id=run_id)
        self._multipart = MultipartUploader(
            client,
            bucket,
            limits=self._limits,
            checksum=checksum,
            part_concurrency=part_concurrency,
            abort_timeout=abort_timeout,
            conditional_args=self._exists.conditional_args(),
            on_bytes=on_bytes,
            run_id=run_id,
        )

    async def upload(self, spec: UploadSpec, absent: Container[str] = ()) -> TransferOutcome:
        """Upload *spec*'s file to its key; raise on failure, leaving no partial object or open upload.

        With ``if_exists="skip"`` an object whose stored checksum equals the file's is left alone
        (``skipped``); with ``"fail"`` an existing object is an error and the write is conditional
        (``If-None-Match: *``), so a concurrent writer cannot be overwritten either.  A key in
        *absent* (a listing showed it missing) needs no HEAD first.
        """
        same = await self._exists.check(spec, absent)
        if same is not None:
            return same
        object_args = self._object_args(spec) if self._object_args is not None else {}
        if not spec.multipart:
            return await self._single(spec, object_args)
        fd = await anyio.to_thread.run_sync(open_checked, spec)
        try:
            return await self._multipart.upload(spec, fd, object_args)
        finally:
            os.close(fd)

    async def listed_absent(self, specs: Sequence[UploadSpec]) -> Container[str]:
        """Keys of *specs* that a listing shows absent, so they need no HEAD (see ``ExistsPolicy``)."""
        return await self._exists.listed_absent(specs)

    def _read_whole(self, spec: UploadSpec, buffer: Buffer) -> tuple[memoryview | bytearray, int | bytes | None]:
        """Open, read and checksum a file sent in one request, in one worker-thread call.

        Up to SMALL_BODY, the bytes are copied out of the buffer into a bytearray: botocore
        sends that at once, where it gives a file-like body (bytes too, which it wraps in one)
        an ``Expect: 100-continue`` header, and so a round trip before the body, which for a
        small file costs more than the copy.
        """
        fd = open_checked(spec)
        try:
            data, digest = read_part(fd, spec, 1, buffer, self._checksum, True)
        finally:
            os.close(fd)
        return (bytearray(data) if len(data) <= SMALL_BODY else data), digest

    async def _single(self, spec: UploadSpec, object_args: dict[str, Any]) -> TransferOutcome:
        algo = self._checksum
        limits = self._limits
        async with limits.slots:
            buffer = await limits.buffers.take(spec.size)
            try:
                data, digest = await anyio.to_thread.run_sync(self._read_whole, spec, buffer, limiter=limits.readers)
                extra = algo.fields(digest) if algo is not None and digest is not None else {}
                response = await self._s3.put_object(
                    Bucket=self._bucket,
                    Key=spec.key,
                    Body=await limits.body(data),
                    ContentLength=spec.size,
                    **extra,
                    **object_args,
                    **self._exists.conditional_args(),
                )
            finally:
                with anyio.CancelScope(shield=True):
                    await limits.buffers.give(buffer)
        sent = extra.get(algo.parameter) if algo else None
        if algo is not None:
            await verify_stored(
                self._s3,
                self._bucket,
                spec,
                sent=sent,
                answered=response.get(algo.parameter),
                size=None,
                abort_timeout=self._abort_timeout,
            )
        if self._on_bytes is not None:
            self._on_bytes(spec, spec.size)
        return TransferOutcome(
            etag=strip_etag(response.get("ETag")),
            parts=1,
            checksum=sent,
            checksum_algorithm=algo.name if algo else None,
            version_id=response.get("VersionId"),
        )
