"""Log output for the command line: text or one JSON object per line, each carrying run id and key.

The library only logs (through ``logging.getLogger("async_ingest")``, with
``run_id`` and ``key`` in each upload record's extra); deciding where and how
records are written is the application's job, here the command line's.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from typing import TextIO

__all__ = ["configure_logging"]

_CONTEXT = ("run_id", "key")


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(f"{name}={getattr(record, name)}" for name in _CONTEXT if getattr(record, name, None))
        return f"{line} [{context}]" if context else line


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _CONTEXT:
            value = getattr(record, name, None)
            if value is not None:
                document[name] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False)


def configure_logging(level: str, fmt: str, stream: TextIO | None = None) -> None:
    """Send log records at *level* and above to *stream* (stderr) as ``text`` or ``json``."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(_TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper()))
    # moto's HTTP server (behind --local) logs every request at INFO.
    logging.getLogger("werkzeug").setLevel(max(logging.WARNING, root.level))
