"""The local side of a transfer: the source opened, read part by part, and checked unchanged.

Everything here blocks (it reads files): run it in a worker thread.
"""

from __future__ import annotations

import os

from ._buffers import Buffer, read_into
from ._checksum import Algorithm
from ._exceptions import SourceChangedError
from ._plan import UploadSpec

__all__ = ["check_unchanged", "file_checksum", "open_checked", "read_part"]


def open_checked(spec: UploadSpec) -> int:
    """Open the source and make sure it is still the file that was planned."""
    fd = os.open(spec.path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        check_unchanged(fd, spec)
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_unchanged(fd: int, spec: UploadSpec) -> None:
    """Raise if the open file's size, modification time or inode is not what was planned."""
    st = os.fstat(fd)
    if st.st_size != spec.size or st.st_mtime_ns != spec.mtime_ns or st.st_ino != spec.inode:
        shown = spec.path
        raise SourceChangedError(
            f"{shown}: changed while being ingested (size {spec.size} -> {st.st_size}); "
            "nothing was landed, run again once it is complete",
            path=shown,
        )


def read_part(
    fd: int, spec: UploadSpec, number: int, buffer: Buffer, algo: Algorithm | None, verify: bool
) -> tuple[memoryview, int | bytes | None]:
    """Read part *number* into *buffer* and checksum it; *verify*: then check the file is unchanged.

    After the last part the file must end: one byte more (a file appended to since it was
    planned, or one whose size its stat does not tell, as in /proc) means it changed, rather
    than landing a truncated copy.
    """
    offset, length = spec.part_range(number)
    data = read_into(fd, buffer, offset, length)
    shown = spec.path
    if data is None:
        raise SourceChangedError(f"{shown}: shrank while being ingested; nothing was landed", path=shown)
    if number == spec.part_count and os.pread(fd, 1, spec.size):
        raise SourceChangedError(
            f"{shown}: changed while being ingested: it holds more than the {spec.size} bytes planned "
            "(it grew, or its size is not known in advance); nothing was landed",
            path=shown,
        )
    if verify:
        check_unchanged(fd, spec)
    return data, (algo.digest(data) if algo is not None else None)


def file_checksum(spec: UploadSpec, algo: Algorithm, part_size: int | None = None) -> str:
    """The whole file's checksum, for comparing with a stored object.

    With *part_size*, S3's composite checksum of the file sent in parts of that size.
    """
    fd = open_checked(spec)
    try:
        value = algo.file_b64(fd, spec.size) if part_size is None else algo.file_composite(fd, spec.size, part_size)
        check_unchanged(fd, spec)
    finally:
        os.close(fd)
    return value
