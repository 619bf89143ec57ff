"""Canned ACLs, object tags and the bandwidth limit: parsing, checks, and what the test server stores."""

from __future__ import annotations

import argparse
import io
import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import async_ingest
from async_ingest import ConfigError, IngestConfig, Ingestor
from async_ingest._bandwidth import CHUNK, ThrottledBody, TokenBucket, process_share
from async_ingest._buffers import PartBody
from async_ingest._display import ProgressDisplay
from async_ingest._object_options import tagging
from async_ingest._parse import RATE, format_rate, parse_rate
from async_ingest._settings import resolve_settings
from async_ingest._workers import worker_config

from .conftest import DAY, SMALL, MiB, objects, run_cli
from .faultproxy import Fault, FaultProxy, reset_mid_body
from .test_display import FakeClock, advanced, live, started

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


# -- rates ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        pytest.param("50MiB/s", 50 * MiB, id="binary"),
        pytest.param("10MB/s", 10_000_000, id="decimal"),
        pytest.param("200Mbit/s", 25_000_000, id="bits"),
        pytest.param("200Mbps", 25_000_000, id="bps"),
        pytest.param("1.5MiB/s", 3 * MiB // 2, id="fraction"),
        pytest.param("1048576", MiB, id="plain"),
        pytest.param("1KiB", 1024, id="no-per-second"),
        pytest.param("123457", 123457, id="odd"),
    ],
)
def test_rates_read_and_show_back(text: str, rate: int) -> None:
    """A rate is bytes per second; the way it is shown reads back to the same number."""
    assert parse_rate(text) == rate
    assert parse_rate(format_rate(rate)) == rate
    assert RATE.parse(RATE.show(rate)) == rate


def test_rates_are_shown_in_the_largest_exact_unit() -> None:
    assert [format_rate(rate) for rate in (50 * MiB, 25_000_000, 1000, 3)] == ["50MiB/s", "25MB/s", "1KB/s", "3B/s"]


@pytest.mark.parametrize("text", ["0", "fast", "-1", "5Mb/s", "1bit/s", "0.5"])
def test_bad_rates(text: str) -> None:
    """Zero, words, negative numbers, an ambiguous 'Mb' and less than a byte a second are refused."""
    with pytest.raises(argparse.ArgumentTypeError, match=f"invalid rate '{text}'"):
        parse_rate(text)


# -- the token bucket -------------------------------------------------------------------------------------------------


class Sleeper:
    """A fake sleep that moves a FakeClock on by the time asked for."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.slept: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.clock.now += seconds


@pytest.mark.anyio
async def test_token_bucket_lets_through_rate_times_time() -> None:
    """Each body waits until the bytes before it and its own are paid for at the rate; idle time is not saved up."""
    clock = FakeClock()
    sleep = Sleeper(clock)
    bucket = TokenBucket(100, clock=clock, sleep=sleep)
    await bucket.acquire(50)
    assert sleep.slept == [0.5]
    assert bucket.take(100) == pytest.approx(1.0)  # taken at once: 100 more bytes in debt
    assert bucket.take(100) == pytest.approx(2.0)
    clock.now += 10  # idle for long: the debt is paid, and no credit is kept
    await bucket.acquire(100)
    assert sleep.slept[-1] == pytest.approx(1.0)


@pytest.mark.anyio
async def test_token_bucket_capacity_and_refund() -> None:
    """Saved-up tokens (up to the capacity) pass at once; a cancelled wait gives its tokens back."""
    clock = FakeClock()
    bucket = TokenBucket(10, capacity=20, clock=clock)
    assert bucket.take(0) == 0
    clock.now = 100
    assert bucket.take(20) == 0
    assert bucket.take(10) == pytest.approx(1.0)

    async def cancelled(seconds: float) -> None:
        raise KeyboardInterrupt

    bucket = TokenBucket(10, clock=clock, sleep=cancelled)
    with pytest.raises(KeyboardInterrupt):
        await bucket.acquire(30)
    assert bucket.take(10) == pytest.approx(1.0)


@pytest.mark.anyio
async def test_throttled_body_lets_each_chunk_through_and_restarts_on_a_retry() -> None:
    """aiohttp gets the bytes exactly, chunk by chunk, each paid for; after a seek back (a retry) all again."""
    clock = FakeClock()
    sleep = Sleeper(clock)
    data = bytes(range(256)) * 1000  # 256,000 bytes: 3 full chunks and a short one
    body = ThrottledBody(PartBody(memoryview(data)), len(data), TokenBucket(CHUNK, clock=clock, sleep=sleep))
    assert len(body) == len(data)
    assert body.read(10) == data[:10]  # botocore reading it to sign: no tokens taken
    body.seek(0)
    chunks = [chunk async for chunk in body]
    assert b"".join(chunks) == data
    assert [len(chunk) for chunk in chunks] == [CHUNK] * 3 + [len(data) - 3 * CHUNK]
    assert clock.now == pytest.approx(len(data) / CHUNK)
    assert body.seek(0) == 0
    assert b"".join([chunk async for chunk in body]) == data
    assert clock.now == pytest.approx(2 * len(data) / CHUNK)


def test_workers_share_the_limit() -> None:
    """Each of N processes, the parent included, sends under the limit divided by N."""
    assert process_share(None, 4) is None
    assert process_share(100 * MiB, 4) == 25 * MiB
    assert process_share(3, 4) == 1
    config = IngestConfig(bucket="lake", workers=4, max_bandwidth=100 * MiB)
    assert worker_config(config).max_bandwidth == 25 * MiB
    assert worker_config(replace(config, max_bandwidth=None)).max_bandwidth is None
    bucket = Ingestor(config)._bandwidth
    assert bucket is not None
    assert bucket.rate == 25 * MiB


# -- checks -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        pytest.param({"acl": "public"}, "invalid ACL 'public': .* \\(did you mean 'public-read'\\?\\)", id="acl"),
        pytest.param({"tags": {f"k{n}": "v" for n in range(11)}}, "11 tags given: S3 allows at most 10", id="count"),
        pytest.param({"tags": {"k" * 129: "v"}}, "the key is 129 characters long", id="key-long"),
        pytest.param({"tags": {"team": "v" * 257}}, "the value is 257 characters long", id="value-long"),
        pytest.param({"tags": {"team": "a;b"}}, "';' is not allowed", id="character"),
        pytest.param({"tags": {"aws:team": "x"}}, "reserved by AWS", id="reserved"),
        pytest.param({"max_bandwidth": 0}, "max bandwidth must be at least 1 byte per second", id="bandwidth"),
        pytest.param(
            {"max_bandwidth": MiB, "checksum": "none", "request_checksum_calculation": "when_supported"},
            "max bandwidth cannot be kept while botocore computes the checksum",
            id="bandwidth-botocore-checksum",
        ),
    ],
)
def test_library_refuses_what_s3_would(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        IngestConfig(bucket="lake", **settings)


def test_bandwidth_with_botocore_checksums_of_its_own() -> None:
    """botocore's own checksums keep the limit when async_ingest sends one too (botocore then adds none)."""
    config = IngestConfig(bucket="lake", max_bandwidth=MiB, request_checksum_calculation="when_supported")
    assert (config.max_bandwidth, config.checksum) == (MiB, "crc64nvme")


def test_tags_at_the_limits_pass() -> None:
    """Ten tags, 128-character keys, 256-character and empty values, Unicode letters and every allowed sign."""
    tags = {f"{n}" + "k" * 127: "v" * 256 for n in range(9)} | {"Équipe +-=._:/@ 1": ""}
    assert IngestConfig(bucket="lake", tags=tags).tags == tags


def test_tagging_is_url_encoded() -> None:
    assert tagging({"team": "data lake", "é": "a/b"}) == {"Tagging": "team=data%20lake&%C3%A9=a%2Fb"}
    assert tagging({}) == {}


def test_environment_gives_acl_tags_and_bandwidth() -> None:
    environ = {
        "ASYNC_INGEST_ACL": "bucket-owner-full-control",
        "ASYNC_INGEST_TAGS": "team=data, stage=",
        "ASYNC_INGEST_MAX_BANDWIDTH": "200Mbit/s",
    }
    config = resolve_settings({}, environ).config(bucket="lake")
    assert (config.acl, config.tags, config.max_bandwidth) == (
        "bucket-owner-full-control",
        {"team": "data", "stage": ""},
        25_000_000,
    )
    with pytest.raises(ConfigError, match="ASYNC_INGEST_TAGS: invalid tags: key 'a' is given twice"):
        resolve_settings({}, {"ASYNC_INGEST_TAGS": "a=1,a=2"})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--acl", "public"], "argument --acl: invalid ACL 'public'", id="acl"),
        pytest.param(["--tag", "novalue"], "argument --tag: invalid tag 'novalue': use KEY=VALUE", id="tag-form"),
        pytest.param(
            [arg for n in range(11) for arg in ("--tag", f"k{n}=v")], "11 tags given: S3 allows at most 10", id="tags"
        ),
        pytest.param(["--tag", "k" * 129 + "=v"], "the key is 129 characters long; S3 takes 1 to 128", id="key"),
        pytest.param(["--tag", "team=a|b"], "invalid tag 'team': '|' is not allowed", id="character"),
        pytest.param(["--tag", "a=1", "--tag", "a=2"], "--tag: invalid tags: key 'a' is given twice", id="twice"),
        pytest.param(["--max-bandwidth", "0"], "argument --max-bandwidth: invalid rate '0'", id="bandwidth-zero"),
        pytest.param(["--max-bandwidth", "fast"], "argument --max-bandwidth: invalid rate 'fast'", id="bandwidth"),
    ],
)
def test_bad_values_are_one_line_and_send_nothing(
    endpoint_env: dict[str, str], bucket: str, s3: Any, make_file: Callable[..., Path], args: list[str], message: str
) -> None:
    """Each bad value is a one-line error naming it, exit 2, and the bucket stays empty."""
    done = run_cli("--bucket", bucket, *args, make_file("movies.csv", 100), env=endpoint_env)
    assert done.returncode == 2
    first = done.stderr.splitlines()[0]
    assert first.startswith("async-ingest: error: "), done.stderr
    assert message in first
    assert "Traceback" not in done.stderr
    assert objects(s3, bucket, manifests=True) == {}


def test_acl_suggestion_on_the_command_line() -> None:
    done = run_cli("--bucket", "lake", "--acl", "bucket-owner-full", "movies.csv")
    assert done.returncode == 2
    assert "(did you mean 'bucket-owner-full-control'?)" in done.stderr


# -- against the test server ------------------------------------------------------------------------------------------


def public_read(s3: Any, bucket: str, key: str) -> bool:
    grants = s3.get_object_acl(Bucket=bucket, Key=key)["Grants"]
    return any(g["Grantee"].get("URI") == ALL_USERS and g["Permission"] == "READ" for g in grants)


#: A cross-account landing: everyone may read, the objects carry tags; markers and manifest are written.
SHARED = IngestConfig(
    bucket="placeholder",
    acl="public-read",
    tags={"team": "data lake", "Équipe": "données", "stage": ""},
    success_marker=True,
    **SMALL,  # type: ignore[arg-type]
)


@pytest.mark.anyio
@pytest.mark.parametrize("size", [1000, 12 * MiB], ids=["single", "multipart"])
async def test_acl_and_tags_are_stored(
    s3_endpoint: str, bucket: str, s3: Any, make_file: Callable[..., Path], size: int
) -> None:
    """The file's object gets the ACL and the tags; the manifest and the _SUCCESS marker the ACL only."""
    config = replace(SHARED, bucket=bucket, endpoint_url=s3_endpoint)
    async with Ingestor(config) as ingestor:
        report = await ingestor.ingest([make_file("movies.csv", size)], date=DAY)
    assert report.ok, report.files
    key = report.files[0].key
    stored = s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    assert {tag["Key"]: tag["Value"] for tag in stored} == SHARED.tags
    assert report.manifest_key is not None
    marker = key.rpartition("/")[0] + "/_SUCCESS"
    for written in (key, report.manifest_key, marker):
        assert public_read(s3, bucket, written), written
    for own in (report.manifest_key, marker):
        assert s3.get_object_tagging(Bucket=bucket, Key=own)["TagSet"] == []


@pytest.mark.anyio
async def test_no_acl_leaves_the_bucket_rules(
    s3_endpoint: str, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    report = await async_ingest.ingest(
        [make_file("movies.csv", 10)], bucket=bucket, endpoint_url=s3_endpoint, date=DAY, **SMALL
    )
    assert not public_read(s3, bucket, report.files[0].key)
    assert s3.get_object_tagging(Bucket=bucket, Key=report.files[0].key)["TagSet"] == []


@pytest.mark.anyio
async def test_bandwidth_limit_holds_over_all_files(
    s3_endpoint: str, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """3 MiB in three files at 2 MiB/s takes at least 1.5 s: the limit is the run's, not each file's.

    (A lower bound that follows from the limit: it cannot fail on a slow machine.)
    """
    files = [make_file(f"part{n}.csv", MiB) for n in range(3)]
    started_at = time.monotonic()
    report = await async_ingest.ingest(
        files, bucket=bucket, endpoint_url=s3_endpoint, date=DAY, max_bandwidth=2 * MiB, concurrency=3, **SMALL
    )
    elapsed = time.monotonic() - started_at
    assert report.ok
    assert elapsed >= 1.45
    assert len(objects(s3, bucket)) == 3


@pytest.mark.anyio
async def test_bandwidth_limit_holds_for_multipart_parts(
    s3_endpoint: str, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """12 MiB in three parts sent at once at 8 MiB/s takes at least 1.5 s, and lands byte-exact."""
    movies = make_file("movies.csv", 12 * MiB)
    started_at = time.monotonic()
    report = await async_ingest.ingest(
        [movies], bucket=bucket, endpoint_url=s3_endpoint, date=DAY, max_bandwidth=8 * MiB, **SMALL
    )
    elapsed = time.monotonic() - started_at
    assert report.ok
    assert report.files[0].parts == 3
    assert objects(s3, bucket) == {report.files[0].key: movies.read_bytes()}
    assert elapsed >= 1.45


@pytest.mark.anyio
async def test_throttled_part_reset_mid_body_is_sent_again_whole(
    proxy: FaultProxy, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """botocore's retry of a throttled part seeks its body back and aiohttp iterates it again from the start."""
    reset = proxy.add(Fault(reset_mid_body(), path="partNumber=1", times=1))
    movies = make_file("movies.csv", 12 * MiB)
    report = await async_ingest.ingest(
        [movies], bucket=bucket, endpoint_url=proxy.url, date=DAY, max_bandwidth=64 * MiB, **SMALL
    )
    assert report.ok, report.failed
    assert reset.applied == 1
    parts = [r for r in proxy.requests if r.method == "PUT" and "partNumber=1" in r.path]
    assert parts[-1].body_length == 5 * MiB
    assert objects(s3, bucket) == {report.files[0].key: movies.read_bytes()}


@pytest.mark.anyio
async def test_bandwidth_limit_holds_across_worker_processes(
    s3_endpoint: str, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """128 files of 8 KiB (1 MiB) in two processes at 512 KiB/s: each sends its half at its half of the limit."""
    files = [make_file(f"data/f{n:03d}.csv", 8 * 1024) for n in range(128)]
    started_at = time.monotonic()
    report = await async_ingest.ingest(
        files, bucket=bucket, endpoint_url=s3_endpoint, date=DAY, max_bandwidth=512 * 1024, workers=2
    )
    elapsed = time.monotonic() - started_at
    assert report.ok
    assert len(objects(s3, bucket)) == 128
    assert elapsed >= 1.95


def test_command_line_bandwidth_limit(
    endpoint_env: dict[str, str], bucket: str, make_file: Callable[..., Path]
) -> None:
    """--max-bandwidth slows a run down to the limit (3 MiB at 2 MiB/s: at least 1.5 s by the run's own clock)."""
    done = run_cli(
        "--bucket", bucket, "--max-bandwidth", "2MiB/s", "--json", make_file("movies.csv", 3 * MiB), env=endpoint_env
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["duration"] >= 1.45


# -- the display ------------------------------------------------------------------------------------------------------


def test_plain_lines_show_the_limit() -> None:
    clock, out = FakeClock(), io.StringIO()
    a = ("Raw/a.csv", 100 * MiB)
    with ProgressDisplay(
        stream=out, mode="plain", total_files=1, total_bytes=100 * MiB, clock=clock, limit=50 * MiB
    ) as display:
        display(started(*a))
        clock.now = 6
        display(advanced(*a, done=20 * MiB, advance=20 * MiB))
    assert out.getvalue().splitlines()[0].endswith(", limit 50 MiB/s")


def test_live_total_row_shows_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    a = ("Raw/a.csv", 100 * MiB)
    shown = live(1, 100 * MiB, started(*a), advanced(*a, done=20 * MiB, advance=20 * MiB), limit=25_000_000)
    assert shown[-1][0].startswith("total 0/1 files, limit 23.8 MiB/s")
