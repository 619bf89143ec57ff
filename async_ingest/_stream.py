"""A report written as JSON one file at a time: the manifest, ``--json`` and ``--report`` of a large run.

:func:`write_report_json` writes exactly what ``json.dumps(report.to_dict(), indent=2)`` gives,
without building the document: only one file's dict exists at a time, so writing the report of a
million files costs no more memory than writing one of ten.  :func:`spool_report` writes it to an
anonymous temporary file (blocking: call it in a worker thread) for the manifest's upload.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from typing import IO, Any, TextIO

from ._results import IngestReport

__all__ = ["SPOOL_CHUNK", "spool_report", "write_report_json"]

_INDENT = 2
#: Bytes of a spooled report read at a time for its checksum before its upload: what that costs in memory.
SPOOL_CHUNK = 1024 * 1024


def _nested(value: Any, depth: int) -> str:
    """*value* as ``json.dumps(indent=2)`` writes it *depth* levels deep."""
    return json.dumps(value, indent=_INDENT).replace("\n", "\n" + " " * (_INDENT * depth))


def write_report_json(report: IngestReport, out: TextIO, extra: Mapping[str, Any] | None = None) -> None:
    """Write ``report.to_dict()`` (and *extra*'s keys after its ``files``) to *out* as indented JSON, file by file."""
    head = report.to_dict(files=False)
    out.write(json.dumps(head, indent=_INDENT)[:-2])
    out.write(',\n  "files": [')
    first = True
    for result in report.files:
        out.write("\n    " if first else ",\n    ")
        out.write(_nested(result.to_dict(), 2))
        first = False
    out.write("]" if first else "\n  ]")
    for name, value in (extra or {}).items():
        out.write(f",\n  {json.dumps(name)}: {_nested(value, 1)}")
    out.write("\n}")


def spool_report(report: IngestReport, extra: Mapping[str, Any] | None = None) -> tuple[IO[bytes], int]:
    """The report as UTF-8 JSON in an anonymous temporary file, rewound, and its size (blocks: run it in a thread)."""
    spool = tempfile.TemporaryFile()  # noqa: SIM115 -- the caller closes it after the upload
    try:
        with open(spool.fileno(), "w", encoding="utf-8", closefd=False) as text:
            write_report_json(report, text, extra)
        size = spool.seek(0, 2)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool, size
