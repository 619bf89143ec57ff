"""Content checksums in S3's wire form (base64 of the big-endian digest).

CRCs come from awscrt (the same code the AWS SDKs use); every function here
releases the GIL on large buffers, so they run in worker threads alongside the
read that feeds the upload.  CRCs of parts combine into the CRC of the whole
object, which is what lets a multipart upload carry a full-object checksum.
"""

from __future__ import annotations

import base64
import hashlib
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from awscrt import checksums

__all__ = ["ALGORITHMS", "Algorithm", "algorithm"]

#: What the checksum functions read: whole parts, or views of the part buffers.
Bytes = bytes | bytearray | memoryview


@dataclass(frozen=True)
class Algorithm:
    """One checksum algorithm: how to compute it and how S3 names it."""

    name: str
    #: S3's ChecksumAlgorithm value, e.g. ``CRC64NVME``.
    s3_name: str
    width: int
    compute: Callable[[Bytes], int | bytes]
    #: ``combine(crc_a, crc_b, len_b)``; None where parts cannot be combined (SHA-256).
    combine: Callable[[int, int, int], int] | None

    @property
    def parameter(self) -> str:
        """The request/response field that carries the value, e.g. ``ChecksumCRC64NVME``."""
        return f"Checksum{self.s3_name}"

    def digest(self, data: Bytes) -> int | bytes:
        """The raw checksum of *data*: an int for CRCs, bytes for SHA-256."""
        return self.compute(data)

    def encode(self, value: int | bytes) -> str:
        """The base64 wire form of a raw checksum."""
        raw = value if isinstance(value, bytes) else value.to_bytes(self.width, "big")
        return base64.b64encode(raw).decode("ascii")

    def fields(self, value: int | bytes) -> dict[str, str]:
        """The request fields that carry a raw checksum: the algorithm's name and the value."""
        return {"ChecksumAlgorithm": self.s3_name, self.parameter: self.encode(value)}

    def b64(self, data: Bytes) -> str:
        """The base64 wire form of the checksum of *data*."""
        return self.encode(self.compute(data))

    def file_b64(self, fd: int, size: int, chunk: int = 8 * 1024 * 1024) -> str:
        """The wire-form checksum of the first *size* bytes of open file *fd*, read *chunk* bytes at a time
        (blocking: run it in a thread)."""
        return self.encode(self.range_digest(fd, 0, size, chunk))

    def range_digest(self, fd: int, offset: int, length: int, chunk: int = 8 * 1024 * 1024) -> int | bytes:
        """The raw checksum of *length* bytes of open file *fd* from *offset*, read a chunk at a time (blocking)."""
        end = offset + length
        if self.combine is None:
            hasher = hashlib.sha256()
            for start in range(offset, end, chunk):
                hasher.update(os.pread(fd, min(chunk, end - start), start))
            return hasher.digest()
        total = self.compute(b"")
        for start in range(offset, end, chunk):
            data = os.pread(fd, min(chunk, end - start), start)
            value = self.compute(data)
            assert isinstance(total, int)
            assert isinstance(value, int)
            total = self.combine(total, value, len(data)) if start > offset else value
        return total

    def file_composite(self, fd: int, size: int, part_size: int) -> str:
        """S3's composite checksum of the first *size* bytes of *fd* sent in parts of *part_size* (blocking)."""
        parts = [
            (self.range_digest(fd, offset, min(part_size, size - offset)), min(part_size, size - offset))
            for offset in range(0, size, part_size)
        ]
        return self.composite(parts)

    def combine_all(self, parts: list[tuple[int | bytes, int]]) -> int | None:
        """The checksum of the concatenation of parts given as (checksum, length); None if not combinable."""
        if self.combine is None or not parts:
            return None
        total = parts[0][0]
        assert isinstance(total, int)
        for value, length in parts[1:]:
            assert isinstance(value, int)
            total = self.combine(total, value, length)
        return total

    def composite(self, parts: list[tuple[int | bytes, int]]) -> str:
        """S3's composite checksum of a multipart object: the checksum of the parts' checksums, then -N."""
        joined = b"".join(
            value if isinstance(value, bytes) else value.to_bytes(self.width, "big") for value, _ in parts
        )
        return f"{self.b64(joined)}-{len(parts)}"


def _sha256(data: Bytes) -> bytes:
    return hashlib.sha256(data).digest()


ALGORITHMS: dict[str, Algorithm] = {
    "crc64nvme": Algorithm("crc64nvme", "CRC64NVME", 8, checksums.crc64nvme, checksums.combine_crc64nvme),
    "crc32c": Algorithm("crc32c", "CRC32C", 4, checksums.crc32c, checksums.combine_crc32c),
    "crc32": Algorithm("crc32", "CRC32", 4, zlib.crc32, checksums.combine_crc32),
    "sha256": Algorithm("sha256", "SHA256", 32, _sha256, None),
}


def algorithm(name: str) -> Algorithm | None:
    """The algorithm called *name*, or None for ``none``."""
    return None if name == "none" else ALGORITHMS[name]
