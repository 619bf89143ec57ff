"""botocore's S3 data: decoded in slices to the same values, parsed once per process."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore
import pytest

import async_ingest
from async_ingest._loader import decode_sliced, shared_loader

from .conftest import DAY

DATA = Path(botocore.__file__).parent / "data"


#: The files a client of S3 needs, as botocore ships them.
FILES = (
    "s3/2006-03-01/service-2.json.gz",
    "s3/2006-03-01/endpoint-rule-set-1.json.gz",
    "endpoints.json",
    "partitions.json",
)


@pytest.mark.parametrize("name", FILES)
def test_sliced_decoding_equals_json_loads(name: str) -> None:
    """botocore's own files decode to what json.loads gives, key order and types included."""
    opener = gzip.open if name.endswith(".gz") else open
    with opener(DATA / name, "rb") as fp:
        text = fp.read().decode("utf-8")
    sliced = decode_sliced(text)
    expected = json.loads(text, object_pairs_hook=OrderedDict)
    assert sliced == expected
    assert list(sliced) == list(expected)
    assert type(sliced) is OrderedDict


SMALL = (
    '{"a": [1, {"b": null}, "c"], "d": {}, "e": []}',
    ' \n{ "a" : [ ] , "b" : { "c" : [ 1 , 2 ] } }\n ',
    "[]",
    '"text"',
)


@pytest.mark.parametrize("text", SMALL, ids=["nested", "whitespace", "empty-list", "scalar"])
def test_sliced_decoding_of_small_documents(text: str) -> None:
    """Whitespace anywhere, empty containers and a bare scalar decode as json.loads decodes them."""
    assert decode_sliced(text) == json.loads(text)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('{"a": 1 "b": 2}', id="missing-comma"),
        pytest.param('{"a" 1}', id="missing-colon"),
        pytest.param('{"a": 1} x', id="extra-data"),
    ],
)
def test_sliced_decoding_rejects_bad_json(text: str) -> None:
    """Malformed JSON is a JSONDecodeError, as with json.loads."""
    with pytest.raises(json.JSONDecodeError):
        decode_sliced(text)


@pytest.mark.anyio
async def test_a_second_opening_parses_nothing(
    s3_endpoint: str, bucket: str, make_file: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second Ingestor in a process reads no botocore data file: the first one's are kept."""
    settings: dict[str, Any] = {"bucket": bucket, "endpoint_url": s3_endpoint, "manifest": False}
    async with async_ingest.Ingestor(**settings) as first:
        report = await first.ingest([make_file("movies.csv", 10)], date=DAY)
        assert report.ok, report.failed
    loader = shared_loader(None)
    read: list[str] = []
    load_file = loader.file_loader.load_file

    def recorded(path: str) -> Any:
        data = load_file(path)
        if data is not None:  # botocore also looks for optional files that do not exist
            read.append(path)
        return data

    monkeypatch.setattr(loader.file_loader, "load_file", recorded)
    async with async_ingest.Ingestor(**settings) as second:
        report = await second.ingest([make_file("series.csv", 10)], date=DAY)
        assert report.ok, report.failed
    assert read == []


def test_after_warm_up_opening_imports_and_parses_nothing(tmp_path: Path) -> None:
    """A host that calls warm_up() at start-up: its first Ingestor imports no S3 module and reads no data file."""
    script = """
import asyncio, sys
import async_ingest
from async_ingest._loader import shared_loader
async_ingest.warm_up()
found, read = [], []
class Watch:
    def find_spec(self, name, path=None, target=None):
        found.append(name)
sys.meta_path.insert(0, Watch())
loader = shared_loader(None)
load_file = loader.file_loader.load_file
def recorded(path):
    data = load_file(path)
    if data is not None:
        read.append(path)
    return data
loader.file_loader.load_file = recorded
async def main():
    async with async_ingest.Ingestor(bucket="lake", endpoint_url="http://127.0.0.1:9"):
        pass
asyncio.run(main())
stack = {"aioboto3", "aiobotocore", "aiohttp", "awscrt", "botocore"}
print(sorted({name.split(".")[0] for name in found} & stack), read)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert done.stdout.strip() == "[] []", done.stderr


def test_ingestors_opening_at_once_in_a_fresh_process(tmp_path: Path) -> None:
    """Several Ingestors opening at once, the first in their process, all open (one model, pruned once)."""
    script = """
import asyncio
import async_ingest
async def open_one():
    async with async_ingest.Ingestor(bucket="lake", endpoint_url="http://127.0.0.1:9"):
        pass
async def main():
    await asyncio.gather(*(open_one() for _ in range(4)))
asyncio.run(main())
print("opened")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert done.stdout.strip() == "opened", done.stderr
