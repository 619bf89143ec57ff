"""The I/O of one file: a single PUT, or a multipart upload aborted on any exit but success.

File reads and checksums run in worker threads, one part at a time, after the
part has taken a request slot and a buffer from the Ingestor's memory budget;
so memory stays bounded and the event loop never touches file bytes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.lowlevel
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

from ._buffers import Buffer, BufferPool, PartBody, read_into
from ._checksum import ALGORITHMS, Algorithm
from ._exceptions import ChecksumMismatchError, IngestError, ObjectExistsError, SourceChangedError
from ._plan import UploadSpec

__all__ = ["EXPECTED_ERRORS", "Transfer", "TransferOutcome", "describe_error"]

log = logging.getLogger("async_ingest")

#: Failures that belong to one file; anything else is a bug and propagates.
EXPECTED_ERRORS: tuple[type[Exception], ...] = (IngestError, ClientError, BotoCoreError, OSError)

#: Files up to this size are sent as a bytearray body, without 100-continue (see Transfer._read_whole).
SMALL_BODY = 1 << 20


@dataclass(frozen=True)
class TransferOutcome:
    """What S3 answered for one file that is in place (uploaded, or found already there)."""

    etag: str | None
    parts: int
    checksum: str | None
    checksum_algorithm: str | None
    version_id: str | None
    skipped: bool = False


def _multipart_checksum(
    algo: Algorithm | None, whole: int | None, digests: list[tuple[int | bytes, int]]
) -> str | None:
    """The checksum S3 keeps for a multipart object: full-object where parts combine, else composite."""
    if algo is None:
        return None
    return algo.encode(whole) if whole is not None else algo.composite(digests)


def _strip_etag(etag: str | None) -> str | None:
    return etag.strip('"') if etag else etag


def _open_checked(spec: UploadSpec) -> int:
    """Open the source and make sure it is still the file that was planned."""
    fd = os.open(spec.source, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check_unchanged(fd, spec)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _file_checksum(spec: UploadSpec, algo: Algorithm) -> str:
    """The whole file's checksum, for comparing with a stored object (blocking: run it in a thread)."""
    fd = _open_checked(spec)
    try:
        value = algo.file_b64(fd, spec.size)
        _check_unchanged(fd, spec)
    finally:
        os.close(fd)
    return value


def _check_unchanged(fd: int, spec: UploadSpec) -> None:
    st = os.fstat(fd)
    if st.st_size != spec.size or st.st_mtime_ns != spec.mtime_ns or st.st_ino != spec.inode:
        shown = os.fsdecode(spec.source)
        raise SourceChangedError(
            f"{shown}: changed while being ingested (size {spec.size} -> {st.st_size}); "
            "nothing was landed, run again once it is complete",
            path=shown,
        )


def _check_answer(spec: UploadSpec, number: int, sent: str, answered: str | None) -> None:
    """Raise if S3 reports a part checksum other than the one sent with the part."""
    if answered is not None and answered != sent:
        raise ChecksumMismatchError(
            f"part {number} of {spec.key}: S3 answered checksum {answered}, the part's is {sent}; not completed"
        )


class Transfer:
    """Uploads files to one bucket through one client, sharing one limit on requests in flight."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        *,
        slots: anyio.Semaphore,
        buffers: BufferPool,
        readers: anyio.CapacityLimiter,
        workers: int,
        checksum: Algorithm | None,
        abort_timeout: float,
        if_exists: str = "skip",
        object_args: Callable[[UploadSpec], dict[str, Any]] | None = None,
        on_bytes: Callable[[UploadSpec, int], None] | None = None,
        run_id: str | None = None,
    ) -> None:
        self._s3 = client
        self._bucket = bucket
        self._slots = slots
        self._buffers = buffers
        self._readers = readers
        self._workers = workers
        self._checksum = checksum
        self._abort_timeout = abort_timeout
        self._if_exists = if_exists
        self._object_args = object_args
        self._on_bytes = on_bytes
        self._run_id = run_id

    def _log_context(self, key: str) -> dict[str, Any]:
        return {"run_id": self._run_id, "key": key}

    async def upload(self, spec: UploadSpec, absent: Container[str] = ()) -> TransferOutcome:
        """Upload *spec*'s file to its key; raise on failure, leaving no partial object or open upload.

        With ``if_exists="skip"`` an object whose stored checksum equals the file's is left alone
        (``skipped``); with ``"fail"`` an existing object is an error and the write is conditional
        (``If-None-Match: *``), so a concurrent writer cannot be overwritten either.  A key in
        *absent* (a listing showed it missing) needs no HEAD first.
        """
        if self._if_exists != "overwrite" and spec.key not in absent:
            head = await self._head(spec.key)
            if head is not None:
                if self._if_exists == "fail":
                    raise ObjectExistsError(
                        f"s3://{self._bucket}/{spec.key} already exists; "
                        "use --if-exists overwrite to replace it or skip to keep it"
                    )
                same = await self._same_content(head, spec)
                if same is not None:
                    return same
        if not spec.multipart:
            return await self._single(spec)
        fd = await anyio.to_thread.run_sync(_open_checked, spec)
        try:
            return await self._multipart(spec, fd)
        finally:
            os.close(fd)

    async def listed_absent(self, specs: Sequence[UploadSpec]) -> set[str]:
        """Keys of *specs* that a listing shows absent, so they need no HEAD before their upload.

        Only partitions holding two or more of the files are listed (one LIST instead of a HEAD
        each); a daily partition is usually empty.  Where listing is forbidden, nothing is known
        absent and every file gets its HEAD.
        """
        if self._if_exists == "overwrite":
            return set()
        by_prefix: dict[str, set[str]] = {}
        for spec in specs:
            by_prefix.setdefault(spec.key.rpartition("/")[0] + "/", set()).add(spec.key)
        absent: set[str] = set()
        try:
            for prefix, keys in by_prefix.items():
                if len(keys) < 2:
                    continue
                present: set[str] = set()
                paginator = self._s3.get_paginator("list_objects_v2")
                async for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix, Delimiter="/"):
                    present.update(item["Key"] for item in page.get("Contents", ()))
                absent |= keys - present
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 403:
                return set()  # may write but not list: a HEAD per file instead
            raise
        return absent

    async def _head(self, key: str) -> dict[str, Any] | None:
        """The object's HEAD with its checksum, or None if there is none (or we may not look)."""
        try:
            response: dict[str, Any] = await self._s3.head_object(Bucket=self._bucket, Key=key, ChecksumMode="ENABLED")
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 404:
                return None
            if status == 403:
                # Writers often may PUT but not read; then existence cannot be checked and the
                # upload goes ahead (a conditional write still guards --if-exists fail).
                log.info(
                    "may not read s3://%s/%s; uploading without checking it",
                    self._bucket,
                    key,
                    extra=self._log_context(key),
                )
                return None
            raise
        return response

    async def _same_content(self, head: dict[str, Any], spec: UploadSpec) -> TransferOutcome | None:
        """A skipped outcome if the stored object provably holds the file's bytes, else None."""
        if head.get("ContentLength") != spec.size:
            return None
        if head.get("ChecksumType") == "COMPOSITE":
            return None  # a checksum of part checksums: not comparable without the part layout
        for algo in ALGORITHMS.values():
            stored = head.get(algo.parameter)
            if stored and "-" not in stored:
                local = await anyio.to_thread.run_sync(_file_checksum, spec, algo, limiter=self._readers)
                if local != stored:
                    return None
                return TransferOutcome(
                    etag=_strip_etag(head.get("ETag")),
                    parts=0,
                    checksum=stored,
                    checksum_algorithm=algo.name,
                    version_id=head.get("VersionId"),
                    skipped=True,
                )
        return None  # no checksum stored: identity cannot be proven, so upload

    def _read(
        self, fd: int, spec: UploadSpec, number: int, buffer: Buffer, verify: bool
    ) -> tuple[memoryview, int | bytes | None]:
        """Read part *number* into *buffer* and checksum it, in a worker thread; *verify*: then check the file."""
        offset, length = spec.part_range(number)
        data = read_into(fd, buffer, offset, length)
        if data is None:
            shown = os.fsdecode(spec.source)
            raise SourceChangedError(f"{shown}: shrank while being ingested; nothing was landed", path=shown)
        if verify:
            _check_unchanged(fd, spec)
        return data, (self._checksum.digest(data) if self._checksum else None)

    def _progress(self, spec: UploadSpec, nbytes: int) -> None:
        if self._on_bytes is not None:
            self._on_bytes(spec, nbytes)

    def _write_args(self, spec: UploadSpec) -> dict[str, Any]:
        args = self._object_args(spec) if self._object_args is not None else {}
        if self._if_exists == "fail":
            args["IfNoneMatch"] = "*"
        return args

    def _checksum_args(self, digest: int | bytes | None) -> dict[str, str]:
        """The request fields that carry a part's (or a small file's) checksum."""
        if self._checksum is None or digest is None:
            return {}
        return {"ChecksumAlgorithm": self._checksum.s3_name, self._checksum.parameter: self._checksum.encode(digest)}

    def _read_whole(self, spec: UploadSpec, buffer: Buffer) -> tuple[memoryview | bytearray, int | bytes | None]:
        """Open, read and checksum a file sent in one request, in one worker-thread call.

        Up to SMALL_BODY, the bytes are copied out of the buffer into a bytearray: botocore
        sends that at once, where it gives a file-like body (bytes too, which it wraps in one)
        an ``Expect: 100-continue`` header, and so a round trip before the body, which for a
        small file costs more than the copy.
        """
        fd = _open_checked(spec)
        try:
            data, digest = self._read(fd, spec, 1, buffer, True)
        finally:
            os.close(fd)
        return (bytearray(data) if len(data) <= SMALL_BODY else data), digest

    async def _single(self, spec: UploadSpec) -> TransferOutcome:
        algo = self._checksum
        async with self._slots:
            buffer = await self._buffers.take(spec.size)
            try:
                data, digest = await anyio.to_thread.run_sync(self._read_whole, spec, buffer, limiter=self._readers)
                extra = self._checksum_args(digest)
                response = await self._s3.put_object(
                    Bucket=self._bucket,
                    Key=spec.key,
                    Body=data if isinstance(data, bytearray) else PartBody(data),
                    ContentLength=spec.size,
                    **extra,
                    **self._write_args(spec),
                )
            finally:
                with anyio.CancelScope(shield=True):
                    await self._buffers.give(buffer)
        sent = extra.get(algo.parameter) if algo else None
        if algo is not None:
            await self._verify(spec, sent, response.get(algo.parameter), None)
        self._progress(spec, spec.size)
        return TransferOutcome(
            etag=_strip_etag(response.get("ETag")),
            parts=1,
            checksum=sent,
            checksum_algorithm=algo.name if algo else None,
            version_id=response.get("VersionId"),
        )

    async def _verify(self, spec: UploadSpec, sent: str | None, answered: str | None, size: int | None) -> None:
        """Fail, and remove the object, if what S3 reports storing is not the local file."""
        problem = None
        if size is not None and size != spec.size:
            problem = f"S3 stored {size} bytes, the file has {spec.size}"
        elif sent is not None and answered is not None and answered.split("-")[0] != sent.split("-")[0]:
            # (composite checksums end in -<parts>, which some stores leave out)
            problem = f"S3 answered checksum {answered}, the file's is {sent}"
        if problem is None:
            return
        with anyio.move_on_after(self._abort_timeout, shield=True):
            try:
                await self._s3.delete_object(Bucket=self._bucket, Key=spec.key)
            except EXPECTED_ERRORS as exc:
                problem += (
                    f"; removing the object failed too: {describe_error(exc, bucket=self._bucket, key=spec.key)[0]}"
                )
            else:
                problem += "; the object was removed"
        raise ChecksumMismatchError(
            f"s3://{self._bucket}/{spec.key} does not match {os.fsdecode(spec.source)}: {problem}"
        )

    async def _multipart(self, spec: UploadSpec, fd: int) -> TransferOutcome:
        algo = self._checksum
        create_args: dict[str, Any] = self._object_args(spec) if self._object_args is not None else {}
        if algo is not None:
            create_args["ChecksumAlgorithm"] = algo.s3_name
            if algo.combine is not None:
                create_args["ChecksumType"] = "FULL_OBJECT"
        # Shielded: cancelled mid-request, the server could open an upload whose id we never learn
        # and so could never abort.  The cancellation is taken right after, inside the try below.
        with anyio.CancelScope(shield=True):
            created = await self._s3.create_multipart_upload(Bucket=self._bucket, Key=spec.key, **create_args)
        upload_id = created["UploadId"]
        log.debug(
            "started multipart upload of %s (%d parts)", spec.key, spec.part_count, extra=self._log_context(spec.key)
        )
        try:
            await anyio.lowlevel.checkpoint()
            parts: list[dict[str, Any]] = [{} for _ in range(spec.part_count)]
            digests: list[tuple[int | bytes, int]] = [(0, 0)] * spec.part_count
            numbers = iter(range(1, spec.part_count + 1))

            async def send_parts() -> None:
                # Each part takes a slot of the run's shared limit before its bytes are read.
                for number in numbers:
                    async with self._slots:
                        buffer = await self._buffers.take(spec.part_size)
                        try:
                            data, digest = await anyio.to_thread.run_sync(
                                self._read, fd, spec, number, buffer, False, limiter=self._readers
                            )
                            extra = self._checksum_args(digest)
                            if digest is not None:
                                digests[number - 1] = (digest, len(data))
                            response = await self._s3.upload_part(
                                Bucket=self._bucket,
                                Key=spec.key,
                                UploadId=upload_id,
                                PartNumber=number,
                                Body=PartBody(data),
                                ContentLength=len(data),
                                **extra,
                            )
                        finally:
                            with anyio.CancelScope(shield=True):
                                await self._buffers.give(buffer)
                    if algo is not None:
                        _check_answer(spec, number, extra[algo.parameter], response.get(algo.parameter))
                    parts[number - 1] = {"PartNumber": number, "ETag": response["ETag"]}
                    if algo is not None:
                        parts[number - 1][algo.parameter] = extra[algo.parameter]
                    self._progress(spec, spec.part_range(number)[1])

            async with anyio.create_task_group() as tg:
                for _ in range(min(spec.part_count, self._workers)):
                    tg.start_soon(send_parts)

            # A file that changed while its parts were read must not be completed.
            await anyio.to_thread.run_sync(_check_unchanged, fd, spec)
            complete_args: dict[str, Any] = {}
            if self._if_exists == "fail":
                complete_args["IfNoneMatch"] = "*"
            whole = algo.combine_all(digests) if algo is not None else None
            if algo is not None and whole is not None:
                complete_args.update({"ChecksumType": "FULL_OBJECT", algo.parameter: algo.encode(whole)})
            completed = await self._s3.complete_multipart_upload(
                Bucket=self._bucket,
                Key=spec.key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                **complete_args,
            )
        except BaseException as exc:
            await self._abort(spec, upload_id, exc)
            raise
        checksum = _multipart_checksum(algo, whole, digests)
        # The assembled object is checked once more: its size, and its checksum where S3 keeps a
        # full-object one.
        head = await self._s3.head_object(Bucket=self._bucket, Key=spec.key, ChecksumMode="ENABLED")
        stored = head.get(algo.parameter) if algo is not None else None
        await self._verify(
            spec,
            checksum,
            stored if stored is not None else completed.get(algo.parameter) if algo else None,
            head.get("ContentLength"),
        )
        return TransferOutcome(
            etag=_strip_etag(completed.get("ETag")),
            parts=spec.part_count,
            checksum=checksum,
            checksum_algorithm=algo.name if algo else None,
            version_id=completed.get("VersionId"),
        )

    async def _abort(self, spec: UploadSpec, upload_id: str, cause: BaseException) -> None:
        """Abort an upload that will not be completed; shielded and time-bounded, failure reported."""
        failure: str | None = None
        with anyio.move_on_after(self._abort_timeout, shield=True) as scope:
            try:
                await self._s3.abort_multipart_upload(Bucket=self._bucket, Key=spec.key, UploadId=upload_id)
            except EXPECTED_ERRORS as exc:
                failure = describe_error(exc, bucket=self._bucket, key=spec.key)[0]
        if scope.cancelled_caught:
            failure = f"no answer within {self._abort_timeout:g} s"
        if failure is None:
            log.debug("aborted multipart upload of %s", spec.key, extra=self._log_context(spec.key))
            return
        message = (
            f"could not abort multipart upload {upload_id} of s3://{self._bucket}/{spec.key}: {failure}; "
            "its parts are stored and billed until it is aborted"
        )
        log.warning(message, extra=self._log_context(spec.key))
        cause.add_note(message)


_CODE_MESSAGES = {
    "NoSuchBucket": "bucket {bucket!r} does not exist",
    "AccessDenied": "access denied to s3://{bucket}/{key}; check the credentials' permissions",
    "AllAccessDisabled": "access to bucket {bucket!r} is disabled",
    "InvalidAccessKeyId": "the AWS access key id is not known to the endpoint; check the credentials",
    "SignatureDoesNotMatch": "the request signature does not match; check the secret access key",
    "ExpiredToken": "the AWS session token has expired; refresh the credentials",
    "InvalidToken": "the AWS session token is invalid; refresh the credentials",
    "BadDigest": "the bytes S3 received do not match their checksum; nothing was stored",
    "XAmzContentChecksumMismatch": "the bytes S3 received do not match their checksum; nothing was stored",
    "InvalidRequest": "the endpoint rejected the request: {detail}",
    "PreconditionFailed": "s3://{bucket}/{key} appeared while uploading and was kept (--if-exists fail)",
    "PermanentRedirect": "bucket {bucket!r} is in another region; set --region to the bucket's region",
    "AuthorizationHeaderMalformed": "the request was signed for the wrong region: {detail}",
}


def describe_error(exc: BaseException, *, bucket: str, key: str) -> tuple[str, str]:
    """A one-line message and a code for a failure of one file; the single place errors are translated."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "Unknown"))
        detail = str(error.get("Message") or code)
        if code in ("403", "Forbidden"):
            code = "AccessDenied"
        if code in ("404", "NotFound") and exc.operation_name in ("HeadBucket",):
            code = "NoSuchBucket"
        template = _CODE_MESSAGES.get(code)
        message = template.format(bucket=bucket, key=key, detail=detail) if template else f"{code}: {detail}"
        return message, code
    if isinstance(exc, NoCredentialsError):
        return (
            "no AWS credentials found; set AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
            "or run where an instance or task role is available",
            "NoCredentials",
        )
    if isinstance(exc, EndpointConnectionError):
        return (
            f"cannot connect to the S3 endpoint {exc.kwargs.get('endpoint_url', '')}".rstrip(),
            "EndpointConnectionError",
        )
    if isinstance(exc, BotoCoreError):
        return str(exc), type(exc).__name__
    if isinstance(exc, IngestError):
        return str(exc), type(exc).__name__
    if isinstance(exc, OSError):
        filename = exc.filename if exc.filename is not None else key
        return f"{os.fsdecode(filename)}: {exc.strerror or exc}", type(exc).__name__
    return f"{type(exc).__name__}: {exc}", type(exc).__name__
