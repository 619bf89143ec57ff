"""One file's transfer over HTTP: what S3 or the file does in the middle of it, and what the run reports."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .conftest import MiB, open_uploads
from .faultproxy import Fault, FaultProxy, hold_until


def test_changed_file_error_names_its_path_once(
    proxy: FaultProxy, bucket: str, s3: Any, tmp_path: Path, make_file: Callable[..., Path]
) -> None:
    """A file that grows while its parts are in flight fails with one error line naming its path once."""
    source = make_file("d/f.csv", 11 * MiB)
    release = threading.Event()
    held = proxy.add(Fault(hold_until(release, timeout=60), path="partNumber=1"))
    process = subprocess.Popen(
        [sys.executable, "-m", "async_ingest", "--bucket", bucket, "--part-size", "5MiB", "d/f.csv"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "AWS_ENDPOINT_URL": proxy.url},
    )
    try:
        assert held.wait(timeout=60), "no part was sent"
        with source.open("ab") as stream:
            stream.write(b"late rows\n")
    finally:
        release.set()
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("async-ingest: error:")]
    assert len(errors) == 1, stderr
    assert errors[0].startswith("async-ingest: error: d/f.csv: changed while being ingested"), errors
    assert errors[0].count("d/f.csv") == 1, errors
    assert open_uploads(s3, bucket) == []
