"""Off the host's loop: TLS contexts are made in worker threads, anyio's backend is imported in one."""

from __future__ import annotations

import ssl
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

import async_ingest


def record_threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the threads that create TLS contexts or load CA bundles from now on."""
    threads: list[str] = []
    for name in ("__new__", "load_verify_locations"):
        original = getattr(ssl.SSLContext, name)

        def recorded(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            threads.append(threading.current_thread().name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(ssl.SSLContext, name, staticmethod(recorded) if name == "__new__" else recorded)
    return threads


@pytest.mark.anyio
async def test_https_context_is_made_off_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opening for an https endpoint loads the CA bundle in a worker; the first request makes none on the loop."""
    threads = record_threads(monkeypatch)
    loop_thread = threading.current_thread().name
    async with async_ingest.Ingestor(bucket="lake", endpoint_url="https://127.0.0.1:9", max_attempts=1) as ingestor:
        assert threads, "no TLS context was made while opening"
        opened = len(threads)
        client: Any = ingestor.client
        with pytest.raises(EndpointConnectionError):
            await client.head_bucket(Bucket="lake")  # nothing listens there: only the connector is made
    assert loop_thread not in threads
    assert len(threads) == opened


@pytest.mark.anyio
async def test_http_endpoint_makes_no_context(s3_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain-HTTP endpoint: no TLS context is made on the loop (the credential chain's is made in a worker)."""
    threads = record_threads(monkeypatch)
    loop_thread = threading.current_thread().name
    async with async_ingest.Ingestor(bucket=bucket, endpoint_url=s3_endpoint) as ingestor:
        client: Any = ingestor.client
        await client.head_bucket(Bucket=bucket)
    assert loop_thread not in threads


def test_one_shot_ingest_imports_the_backend_off_the_loop(tmp_path: Path) -> None:
    """In an asyncio host that never used anyio, ingest() imports anyio's backend in a worker thread."""
    script = """
import asyncio, sys, threading
import async_ingest
where = []
class Watch:
    def find_spec(self, name, path=None, target=None):
        if name == "anyio._backends._asyncio":
            where.append(threading.current_thread() is threading.main_thread())
sys.meta_path.insert(0, Watch())
async def main():
    try:
        await async_ingest.ingest([sys.argv[1]], bucket="lake", endpoint_url="http://127.0.0.1:9")
    except async_ingest.IngestError:
        pass
asyncio.run(main())
print(where)
"""
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "missing.csv")], capture_output=True, text=True)
    assert done.stdout.strip() == "[False]", done.stderr
