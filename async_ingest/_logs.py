"""Log output for the command line: text or one JSON object per line, each carrying run id and key.

The library only logs (through ``logging.getLogger("async_ingest")``, with
``run_id`` and ``key`` in each upload record's extra); deciding where and how
records are written is the application's job, here the command line's.

No credential reaches the output at any level: botocore's debug records show the
signed headers of every request, and so the access key id (``Credential=``) and the
session token (``X-Amz-Security-Token``).  Each formatted record passes through
:class:`Redactor` on its way out.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
import sys
from collections.abc import Iterable
from typing import TextIO

from ._endpoint import redact_url

__all__ = ["Redactor", "configure_logging"]

_CONTEXT = ("run_id", "key")

#: The variables holding the current credentials, whose values are never shown.
_SECRET_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
#: Shorter values are not redacted wherever they appear (they would blank out ordinary words).
_MIN_SECRET_LENGTH = 8

#: Credentials in the shapes botocore and the AWS configuration print them: a prefix (kept)
#: and the value (replaced).  An access key id ends at the ``/`` of its credential scope.
_SECRET_PATTERNS = re.compile(
    r"""(?ix)
    (?P<key>(?:X-Amz-)?Credential=)[^\s'",&;}/]+                     # SigV4 header and query
    | (?P<value>
        (?:X-Amz-)?Signature=
        | X-Amz-Security-Token['"]?\s*[:=]\s*b?['"]?                # header (dict repr) or query
        | aws_(?:secret_access_key|session_token|security_token)['"]?\s*[:=]\s*['"]?
      )[^\s'",&;}]+
    | \b(?-i:(?:AKIA|ASIA)[A-Z0-9]{12,})\b                          # an access key id anywhere
    """
)


class Redactor:
    """Replaces credentials in text by ``***``: known values, the shapes of AWS credentials, URL passwords."""

    def __init__(self, values: Iterable[str] | None = None) -> None:
        """Redact *values* (default: those of the credential variables of the environment) and the patterns."""
        if values is None:
            values = (os.environ.get(name, "") for name in _SECRET_VARIABLES)
        known = sorted({value for value in values if len(value) >= _MIN_SECRET_LENGTH}, key=len, reverse=True)
        self._values = re.compile("|".join(map(re.escape, known))) if known else None

    def __call__(self, text: str) -> str:
        """*text* without credentials."""
        if self._values is not None:
            text = self._values.sub("***", text)
        text = _SECRET_PATTERNS.sub(lambda m: f"{m.group('key') or m.group('value') or ''}***", text)
        return redact_url(text)


class _TextFormatter(logging.Formatter):
    def __init__(self, fmt: str, redact: Redactor) -> None:
        super().__init__(fmt)
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(f"{name}={getattr(record, name)}" for name in _CONTEXT if getattr(record, name, None))
        return self._redact(f"{line} [{context}]" if context else line)


class _JsonFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        # Redacted field by field, before JSON escapes them.
        document = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": self._redact(record.getMessage()),
        }
        for name in _CONTEXT:
            value = getattr(record, name, None)
            if value is not None:
                document[name] = self._redact(str(value))
        if record.exc_info:
            document["exception"] = self._redact(self.formatException(record.exc_info))
        return json.dumps(document, ensure_ascii=False)


def configure_logging(level: str, fmt: str, stream: TextIO | None = None) -> None:
    """Send log records at *level* and above to *stream* (stderr) as ``text`` or ``json``, without credentials."""
    handler = logging.StreamHandler(stream or sys.stderr)
    redact = Redactor()
    if fmt == "json":
        handler.setFormatter(_JsonFormatter(redact))
    else:
        handler.setFormatter(_TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", redact))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper()))
    # moto's HTTP server (behind --local) logs every request at INFO.
    logging.getLogger("werkzeug").setLevel(max(logging.WARNING, root.level))
