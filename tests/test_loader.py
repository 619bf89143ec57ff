"""botocore's S3 data: decoded in slices to the same values, parsed once per process."""

from __future__ import annotations

import gzip
import json
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
    monkeypatch.setattr(loader.file_loader, "load_file", lambda path: read.append(path) or load_file(path))
    async with async_ingest.Ingestor(**settings) as second:
        report = await second.ingest([make_file("series.csv", 10)], date=DAY)
        assert report.ok, report.failed
    assert read == []
