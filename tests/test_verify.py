"""``async-ingest verify``: a run's manifest checked against the lake (and the local files)."""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

import async_ingest
from async_ingest import IngestConfig, IngestReport
from async_ingest._exceptions import ConfigError
from async_ingest._verify import ManifestError, _same_checksum, manifest_key_for, parse_s3_uri, verify_manifest
from async_ingest._verify_output import is_verify_command, verify_main

from .conftest import DAY, SMALL, MiB
from .faultproxy import Fault, FaultProxy, status

MOVIES = "Raw/Local/CSV/Movies/2022/05/02/movies.csv"
SERIES = "Raw/Local/CSV/Series/2022/05/02/series.csv"


def _ingest(endpoint: str, bucket: str, paths: list[Path], **settings: Any) -> IngestReport:
    """A real run into the test server, with the 3-part multipart settings unless told otherwise."""

    async def run() -> IngestReport:
        return await async_ingest.ingest(paths, bucket=bucket, endpoint_url=endpoint, date=DAY, **{**SMALL, **settings})

    report = anyio.run(run)
    assert report.ok, report.failed
    assert report.manifest_key
    return report


@pytest.fixture
def landed(s3_endpoint: str, bucket: str, make_file: Callable[..., Path]) -> Callable[..., IngestReport]:
    """Ingest an 11 MiB (3-part) and a small file; the checksum is the test's."""

    def run(checksum: str = "crc64nvme") -> IngestReport:
        paths = [make_file("movies.csv", 11 * MiB), make_file("series.csv", 4000)]
        return _ingest(s3_endpoint, bucket, paths, checksum=checksum)

    return run


Verify = Callable[..., tuple[int, dict[str, Any] | None, str]]


@pytest.fixture
def verify(s3_endpoint: str, capsys: pytest.CaptureFixture[str]) -> Verify:
    """Run the command with --json; its exit code, its document (None if it printed none) and its stderr."""

    def run(*args: str, endpoint: str = s3_endpoint) -> tuple[int, dict[str, Any] | None, str]:
        code = verify_main([*args, "--endpoint-url", endpoint, "--json"])
        out, err = capsys.readouterr()
        return code, (json.loads(out) if out else None), err

    return run


def _statuses(document: dict[str, Any] | None) -> dict[str, str]:
    assert document is not None
    return {check["key"]: check["status"] for check in document["checks"]}


@pytest.mark.parametrize(
    ("checksum", "movies_checked"),
    [
        pytest.param("crc64nvme", ["present", "size", "crc64nvme", "local size", "local crc64nvme"], id="crc64nvme"),
        pytest.param("sha256", ["present", "size", "sha256", "local size", "local sha256"], id="sha256-composite"),
        pytest.param("none", ["present", "size", "local size"], id="none"),
    ],
)
def test_a_fresh_run_verifies(
    landed: Callable[..., IngestReport], verify: Verify, bucket: str, checksum: str, movies_checked: list[str]
) -> None:
    """Right after a run every object and local file matches: exit 0, each check named."""
    report = landed(checksum)
    uri = f"s3://{bucket}/{report.manifest_key}"
    code, document, err = verify(uri, "--against-local")
    assert code == 0, err
    assert document is not None
    assert document["ok"] is True
    assert document["run_id"] == report.run_id
    checks = {check["key"]: check for check in document["checks"]}
    assert {key: check["status"] for key, check in checks.items()} == {MOVIES: "ok", SERIES: "ok"}
    assert checks[MOVIES]["checked"] == movies_checked
    if checksum == "sha256":
        assert str(report.files[0].checksum).endswith("-3")  # composite: a checksum of the 3 parts' checksums
    if checksum == "none":
        assert "only presence and size" in checks[MOVIES]["detail"]


def test_run_id_and_date_find_the_manifest(
    landed: Callable[..., IngestReport], s3_endpoint: str, bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run id with --bucket and --date names the manifest the run wrote; the table names each key."""
    report = landed()
    code = verify_main([report.run_id, "--bucket", bucket, "--date", "2022-05-02", "--endpoint-url", s3_endpoint])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"run {report.run_id}" in out
    assert MOVIES in out
    assert SERIES in out
    assert "2 files: 2 ok; everything matches" in out


def test_deleted_and_overwritten_objects_are_named(
    landed: Callable[..., IngestReport], verify: Verify, bucket: str, s3: Any
) -> None:
    """A deleted object is missing, one overwritten with other bytes of the same size has another checksum: exit 1."""
    report = landed()
    s3.delete_object(Bucket=bucket, Key=MOVIES)
    s3.put_object(Bucket=bucket, Key=SERIES, Body=os.urandom(4000), ChecksumAlgorithm="CRC64NVME")
    code, document, err = verify(f"s3://{bucket}/{report.manifest_key}")
    assert code == 1
    assert _statuses(document) == {MOVIES: "missing", SERIES: "checksum"}
    assert f"missing: s3://{bucket}/{MOVIES}" in err
    assert f"checksum: s3://{bucket}/{SERIES}" in err


def test_an_object_of_another_size_is_named(
    landed: Callable[..., IngestReport], verify: Verify, bucket: str, s3: Any
) -> None:
    """An object rewritten with another length fails on its size, even without a checksum."""
    report = landed("none")
    s3.put_object(Bucket=bucket, Key=SERIES, Body=b"shorter")
    code, document, _ = verify(f"s3://{bucket}/{report.manifest_key}")
    assert code == 1
    assert _statuses(document) == {MOVIES: "ok", SERIES: "size"}
    assert document is not None
    series = next(check for check in document["checks"] if check["key"] == SERIES)
    assert (series["expected"], series["found"]) == ("4000", "7")


@pytest.mark.parametrize("checksum", ["crc64nvme", "sha256"])
def test_changed_local_files_fail_only_against_local(
    landed: Callable[..., IngestReport], verify: Verify, bucket: str, checksum: str
) -> None:
    """A local file rewritten in place (same size) or removed is named with --against-local, ignored without."""
    report = landed(checksum)
    by_key = {result.key: Path(result.source) for result in report.files}
    movies = by_key[MOVIES]
    with movies.open("r+b") as handle:
        handle.seek(6 * MiB)  # the second part: only a part-wise composite or a whole-file CRC sees it
        handle.write(b"changed")
    by_key[SERIES].unlink()
    uri = f"s3://{bucket}/{report.manifest_key}"
    code, document, err = verify(uri)
    assert code == 0, err
    code, document, err = verify(uri, "--against-local")
    assert code == 1
    assert _statuses(document) == {MOVIES: "local-changed", SERIES: "local-missing"}
    assert str(movies) in err


def test_composite_part_size_from_the_configured_one(
    landed: Callable[..., IngestReport], verify: Verify, s3_endpoint: str, bucket: str
) -> None:
    """Where S3 does not tell a part's size, the planner's part size is used; unknown, the local checksum is skipped."""
    report = landed("sha256")
    uri = f"s3://{bucket}/{report.manifest_key}"
    with FaultProxy(s3_endpoint) as proxy:
        refused = Fault(status(400, "InvalidArgument", "no parts here"), method="HEAD", path="partNumber=", times=None)
        proxy.add(refused)
        code, document, err = verify(uri, "--against-local", "--part-size", "5MiB", endpoint=proxy.url)
        assert code == 0, err
        assert document is not None
        assert document["checks"][0]["checked"][-1] == "local sha256"
        assert refused.applied >= 1  # botocore's region redirector asks a refused HEAD twice
        # The default 8 MiB would cut 11 MiB in 2 parts, not the manifest's 3: not comparable.
        code, document, err = verify(uri, "--against-local", endpoint=proxy.url)
        assert code == 0, err
        assert document is not None
        assert document["checks"][0]["checked"][-1] == "local size"
        assert "part size is unknown" in document["checks"][0]["detail"]


def test_a_rerun_that_skipped_everything_verifies(
    s3_endpoint: str, verify: Verify, bucket: str, make_file: Callable[..., Path]
) -> None:
    """A second run's manifest lists its files as skipped, with the stored checksums; they verify."""
    paths = [make_file("movies.csv", 11 * MiB), make_file("series.csv", 4000)]
    _ingest(s3_endpoint, bucket, paths, checksum="crc32c")
    again = _ingest(s3_endpoint, bucket, paths, checksum="crc32c")
    assert [result.status.value for result in again.files] == ["skipped", "skipped"]
    code, document, err = verify(f"s3://{bucket}/{again.manifest_key}", "--against-local")
    assert code == 0, err
    assert document is not None
    assert [check["checked"][-1] for check in document["checks"]] == ["local crc32c", "local crc32c"]


def test_files_the_run_did_not_land_are_shown_not_failed(
    landed: Callable[..., IngestReport], verify: Verify, bucket: str, s3: Any
) -> None:
    """A manifest's failed file is listed as not landed and its object is not looked for."""
    report = landed()
    document = json.loads(s3.get_object(Bucket=bucket, Key=report.manifest_key)["Body"].read())
    document["files"][0]["status"] = "failed"
    s3.delete_object(Bucket=bucket, Key=MOVIES)
    s3.put_object(Bucket=bucket, Key="edited.json", Body=json.dumps(document).encode())
    code, result, err = verify(f"s3://{bucket}/edited.json")
    assert code == 0, err
    assert _statuses(result) == {MOVIES: "not-landed", SERIES: "ok"}


@pytest.mark.anyio
async def test_library_call_with_a_borrowed_client(
    s3_endpoint: str, bucket: str, client: Any, make_file: Callable[..., Path]
) -> None:
    """verify_manifest works on a host's own client and returns a frozen, JSON-ready report."""
    report = await async_ingest.ingest(
        [make_file("series.csv", 100)], bucket=bucket, endpoint_url=s3_endpoint, date=DAY
    )
    assert report.manifest_key is not None
    verified = await verify_manifest(client, bucket=bucket, manifest_key=report.manifest_key, against_local=True)
    assert verified.ok
    assert verified.to_dict()["summary"] == {"files": 1, "ok": 1}
    with pytest.raises(ManifestError, match="no such object"):
        await verify_manifest(client, bucket=bucket, manifest_key="Raw/Local/_manifests/nope.json")
    with pytest.raises(ConfigError, match="concurrency must be at least 1"):
        await verify_manifest(client, bucket=bucket, manifest_key=report.manifest_key, concurrency=0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["s3://"], "invalid manifest URI 's3://'", id="empty-uri"),
        pytest.param(["s3://lake"], "invalid manifest URI 's3://lake'", id="no-key"),
        pytest.param(["s3://Bad_Bucket/k.json"], "invalid bucket name 'Bad_Bucket'", id="bad-bucket"),
        pytest.param(["lake/k.json"], "invalid MANIFEST 'lake/k.json'", id="not-a-uri"),
        pytest.param(["run id", "--bucket", "lake"], "invalid run id 'run id'", id="run-id-space"),
        pytest.param(["..", "--bucket", "lake"], "would escape the prefix", id="run-id-dots"),
        pytest.param(["run1", "--bucket", "lake", "--date", "2022-13-01"], "invalid date '2022-13-01'", id="bad-date"),
        pytest.param(["run1"], "no bucket given", id="run-id-no-bucket"),
        pytest.param(["s3://lake/k.json", "--date", "2022-05-02"], "--date goes with a run id", id="uri-and-date"),
        pytest.param(["s3://lake/k.json", "--bucket", "other"], "differs from the manifest URI", id="two-buckets"),
        pytest.param([], "the following arguments are required: MANIFEST", id="nothing"),
    ],
)
def test_bad_inputs_are_one_line_usage_errors(
    s3_endpoint: str, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    """Each bad input: exit 2, one line naming it, and not one request sent."""
    with FaultProxy(s3_endpoint) as proxy:
        code = verify_main([*args, "--endpoint-url", proxy.url])
        assert proxy.requests == []
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith("async-ingest verify: error: ")
    assert message in err


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(None, "no such object", id="missing"),
        pytest.param(b"hello", "not JSON", id="not-json"),
        pytest.param(b'{"files": []}', "'bucket' is missing", id="no-bucket"),
        pytest.param(b'{"run_id": "r", "bucket": "b", "date": "d", "files": [{"key": 1}]}', "'key'", id="bad-file"),
    ],
)
def test_a_missing_or_foreign_manifest_is_a_usage_error(
    s3_endpoint: str, bucket: str, s3: Any, capsys: pytest.CaptureFixture[str], body: bytes | None, message: str
) -> None:
    """A manifest that is not there, or not a manifest: exit 2 with one line, nothing checked."""
    if body is not None:
        s3.put_object(Bucket=bucket, Key="m.json", Body=body)
    code = verify_main([f"s3://{bucket}/m.json", "--endpoint-url", s3_endpoint])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert f"s3://{bucket}/m.json" in err
    assert message in err


def test_a_missing_bucket_is_named(s3_endpoint: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A bucket that does not exist is said so in one line."""
    code = verify_main(["s3://no-such-bucket-here/m.json", "--endpoint-url", s3_endpoint])
    _, err = capsys.readouterr()
    assert code == 2
    assert "bucket 'no-such-bucket-here' does not exist" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(["verify", "s3://lake/m.json"], True, id="subcommand"),
        pytest.param(["verify"], True, id="subcommand-alone"),
        pytest.param(["./verify"], False, id="source-path"),
        pytest.param(["--bucket", "lake", "verify"], False, id="source-after-options"),
        pytest.param(["--", "verify"], False, id="source-after-dashes"),
        pytest.param([], False, id="nothing"),
    ],
)
def test_which_arguments_mean_verify(argv: list[str], expected: bool) -> None:
    """Only a first argument of exactly 'verify' is the subcommand; a path to a file called verify is a source."""
    assert is_verify_command(argv) is expected


#: expected (the manifest's), stored (S3's), and whether they are the same checksum.
CHECKSUM_PAIRS = {
    "equal": ("abc=", "abc=", True),
    "composite": ("abc=-3", "abc=-3", True),
    "store-drops-suffix": ("abc=-3", "abc=", True),
    "manifest-without-suffix": ("abc=", "abc=-3", True),
    "other-part-count": ("abc=-3", "abc=-4", False),
    "other-value": ("abc=", "abd=", False),
    "none-stored": ("abc=", None, False),
}


@pytest.mark.parametrize(("expected", "stored", "same"), CHECKSUM_PAIRS.values(), ids=CHECKSUM_PAIRS)
def test_checksum_comparison(expected: str, stored: str | None, same: bool) -> None:
    """Checksums compare as stored; a composite's -N suffix counts only where both sides have one."""
    assert _same_checksum(expected, stored) is same


def test_uri_and_run_id_helpers() -> None:
    """The URI parser and the manifest key of a run id follow the configured manifest layout."""
    assert parse_s3_uri("s3://lake/a/b.json") == ("lake", "a/b.json")
    config = IngestConfig(bucket="lake", zone="Bronze")
    key = manifest_key_for(config, "20220502T101500Z-1a2b3c4d", datetime.date(2022, 5, 2))
    assert key == "Bronze/Local/_manifests/2022/05/02/20220502T101500Z-1a2b3c4d.json"
    with pytest.raises(ConfigError, match="contains '/'"):
        manifest_key_for(config, "a/b", DAY)
