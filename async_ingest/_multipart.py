"""One file's multipart upload: create, parts in a task group, complete, verify; aborted on any exit but success.

Each part takes a slot of the run's shared request limit and a buffer from its memory
budget before its bytes are read (in a worker thread), so memory stays bounded.  The
abort is shielded and time-bounded, and a failed abort is reported on the file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel

from ._buffers import Limits
from ._checksum import Algorithm
from ._errors import describe_error, expected_errors, http_status, upload_is_gone
from ._outcome import TransferOutcome, check_part_answer, strip_etag, verify_stored
from ._plan import UploadSpec
from ._source import check_unchanged, read_part

__all__ = ["MultipartUploader"]

log = logging.getLogger("async_ingest")

#: A part's checksum as computed, with the part's length: what full-object checksums combine.
Digests = list[tuple[int | bytes, int]]


class MultipartUploader:
    """Sends files as multipart uploads to one bucket, sharing the run's limits with its other requests."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        *,
        limits: Limits,
        checksum: Algorithm | None,
        part_concurrency: int,
        abort_timeout: float,
        conditional_args: dict[str, str],
        on_bytes: Callable[[UploadSpec, int], None] | None = None,
        run_id: str | None = None,
    ) -> None:
        self._s3 = client
        self._bucket = bucket
        self._limits = limits
        self._checksum = checksum
        self._part_concurrency = part_concurrency
        self._abort_timeout = abort_timeout
        self._conditional_args = conditional_args
        self._on_bytes = on_bytes
        self._run_id = run_id

    def _log_extra(self, spec: UploadSpec) -> dict[str, Any]:
        return {"run_id": self._run_id, "key": spec.key}

    async def upload(self, spec: UploadSpec, fd: int, object_args: dict[str, Any]) -> TransferOutcome:
        """Upload the open file *fd* as *spec* plans; raise on failure, leaving no open upload."""
        algo = self._checksum
        upload_id = await self._create(spec, object_args)
        try:
            await anyio.lowlevel.checkpoint()
            parts, digests = await self._send_parts(spec, fd, upload_id)
            # A file that changed while its parts were read must not be completed.
            await anyio.to_thread.run_sync(check_unchanged, fd, spec)
            whole = algo.combine_all(digests) if algo is not None else None
            completed = await self._complete(spec, upload_id, parts, whole)
        except BaseException as exc:
            await self._abort(spec, upload_id, exc)
            raise
        checksum = None
        if algo is not None:
            checksum = algo.encode(whole) if whole is not None else algo.composite(digests)
        await self._verify(spec, checksum, completed)
        return TransferOutcome(
            etag=strip_etag(completed.get("ETag")),
            parts=spec.part_count,
            checksum=checksum,
            checksum_algorithm=algo.name if algo else None,
            version_id=completed.get("VersionId"),
        )

    async def _create(self, spec: UploadSpec, object_args: dict[str, Any]) -> str:
        algo = self._checksum
        create_args = dict(object_args)
        if algo is not None:
            create_args["ChecksumAlgorithm"] = algo.s3_name
            if algo.combine is not None:
                create_args["ChecksumType"] = "FULL_OBJECT"
        # Shielded: cancelled mid-request, the server could open an upload whose id we never learn
        # and so could never abort.  The cancellation is taken right after, inside upload's try.
        with anyio.CancelScope(shield=True):
            created = await self._s3.create_multipart_upload(Bucket=self._bucket, Key=spec.key, **create_args)
        log.debug("started multipart upload of %s (%d parts)", spec.key, spec.part_count, extra=self._log_extra(spec))
        upload_id: str = created["UploadId"]
        return upload_id

    async def _send_parts(self, spec: UploadSpec, fd: int, upload_id: str) -> tuple[list[dict[str, Any]], Digests]:
        """Send every part, at most part_concurrency at once; the completion's part list and the digests."""
        parts: list[dict[str, Any]] = [{} for _ in range(spec.part_count)]
        digests: Digests = [(0, 0)] * spec.part_count
        numbers = iter(range(1, spec.part_count + 1))

        async def send_parts() -> None:
            for number in numbers:
                parts[number - 1] = await self._send_part(spec, fd, upload_id, number, digests)

        async with anyio.create_task_group() as tg:
            for _ in range(min(spec.part_count, self._part_concurrency)):
                tg.start_soon(send_parts)
        return parts, digests

    async def _send_part(
        self, spec: UploadSpec, fd: int, upload_id: str, number: int, digests: Digests
    ) -> dict[str, Any]:
        """Read and send part *number* (its slot taken before its bytes are read); its entry in the part list."""
        algo = self._checksum
        limits = self._limits
        async with limits.slots:
            buffer = await limits.buffers.take(spec.part_size)
            try:
                data, digest = await anyio.to_thread.run_sync(
                    read_part, fd, spec, number, buffer, algo, False, limiter=limits.readers
                )
                extra = algo.fields(digest) if algo is not None and digest is not None else {}
                if digest is not None:
                    digests[number - 1] = (digest, len(data))
                response = await self._s3.upload_part(
                    Bucket=self._bucket,
                    Key=spec.key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=await limits.body(data),
                    ContentLength=len(data),
                    **extra,
                )
            finally:
                with anyio.CancelScope(shield=True):
                    await limits.buffers.give(buffer)
        entry = {"PartNumber": number, "ETag": response["ETag"]}
        if algo is not None:
            check_part_answer(spec, number, extra[algo.parameter], response.get(algo.parameter))
            entry[algo.parameter] = extra[algo.parameter]
        if self._on_bytes is not None:
            self._on_bytes(spec, spec.part_range(number)[1])
        return entry

    async def _complete(
        self, spec: UploadSpec, upload_id: str, parts: list[dict[str, Any]], whole: int | None
    ) -> dict[str, Any]:
        algo = self._checksum
        complete_args: dict[str, Any] = dict(self._conditional_args)
        if algo is not None and whole is not None:
            complete_args.update({"ChecksumType": "FULL_OBJECT", algo.parameter: algo.encode(whole)})
        completed: dict[str, Any] = await self._s3.complete_multipart_upload(
            Bucket=self._bucket,
            Key=spec.key,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
            **complete_args,
        )
        return completed

    async def _verify(self, spec: UploadSpec, checksum: str | None, completed: dict[str, Any]) -> None:
        """Check the assembled object once more: its size, and its checksum where S3 keeps a full-object one.

        Where HEAD is forbidden, the checksum S3 answered on completing is compared instead.
        """
        algo = self._checksum
        try:
            head = await self._s3.head_object(Bucket=self._bucket, Key=spec.key, ChecksumMode="ENABLED")
        except expected_errors() as exc:
            if http_status(exc) != 403:
                raise
            # A writer that may not read: the object is in place, and the completion's answer
            # (its checksum) is all there is to check.
            log.debug(
                "may not read s3://%s/%s back; checked the checksum S3 answered on completing it",
                self._bucket,
                spec.key,
                extra=self._log_extra(spec),
            )
            head = {}
        stored = head.get(algo.parameter) if algo is not None else None
        await verify_stored(
            self._s3,
            self._bucket,
            spec,
            sent=checksum,
            answered=stored if stored is not None else completed.get(algo.parameter) if algo else None,
            size=head.get("ContentLength"),
            abort_timeout=self._abort_timeout,
        )

    async def _abort(self, spec: UploadSpec, upload_id: str, cause: BaseException) -> None:
        """Abort an upload that will not be completed; shielded and time-bounded, failure reported."""
        failure: str | None = None
        with anyio.move_on_after(self._abort_timeout, shield=True) as scope:
            try:
                await self._s3.abort_multipart_upload(Bucket=self._bucket, Key=spec.key, UploadId=upload_id)
            except expected_errors() as exc:
                if not upload_is_gone(exc):
                    failure = describe_error(exc, bucket=self._bucket, key=spec.key)[0]
        if scope.cancelled_caught:
            failure = f"no answer within {self._abort_timeout:g} s"
        if failure is None:
            log.debug("aborted multipart upload of %s", spec.key, extra=self._log_extra(spec))
            return
        message = (
            f"could not abort multipart upload {upload_id} of s3://{self._bucket}/{spec.key}: {failure}; "
            "its parts are stored and billed until it is aborted"
        )
        log.warning(message, extra=self._log_extra(spec))
        cause.add_note(message)
