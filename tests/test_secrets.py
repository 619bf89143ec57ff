"""No credential in any output: logs at every level and format, the report, the manifest."""

from __future__ import annotations

import datetime
import io
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from async_ingest import IngestReport
from async_ingest._endpoint import redact_url
from async_ingest._logs import Redactor, configure_logging

from .conftest import ACCESS_KEY, SECRET_KEY, objects, run_cli

SESSION_TOKEN = "IQoJb3JpZ2luX2VjEDoaCXVzLWVhc3QtMSJHMEUCIQDasyncingest/test+session=token"
SECRETS = (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging replaces the root logger's handlers; put them back after the test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_debug_run_with_session_token_prints_no_credential(
    endpoint_env: dict[str, str],
    bucket: str,
    s3: Any,
    make_file: Callable[..., Path],
    tmp_path: Path,
    log_format: str,
) -> None:
    """botocore's debug records (signed headers, session token) reach stderr without a credential in them."""
    report = tmp_path / "report.json"
    done = run_cli(
        "--bucket", bucket, "--log-level", "debug", "--log-format", log_format, "--json", "--report", report,
        make_file("movies.csv", content=b"title,year\n"),
        env={**endpoint_env, "AWS_SESSION_TOKEN": SESSION_TOKEN},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "X-Amz-Security-Token" in done.stderr  # the signed headers really were logged
    assert "Credential=***/" in done.stderr
    if log_format == "json":
        assert all(json.loads(line) for line in done.stderr.splitlines() if line.startswith("{"))
    landed = objects(s3, bucket, manifests=True)
    assert len(landed) == 2
    outputs = [done.stdout, done.stderr, report.read_text(), *(body.decode() for body in landed.values())]
    for text in outputs:
        for secret in SECRETS:
            assert secret not in text


def test_endpoint_url_with_password_is_refused_without_showing_it(
    s3_endpoint: str, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """Credentials in --endpoint-url cannot be sent (requests are signed): exit 2, the password not shown."""
    endpoint = s3_endpoint.replace("http://", "http://lake-user:hunter2-password@")
    done = run_cli("--bucket", bucket, "--endpoint-url", endpoint, make_file("movies.csv", 10))
    assert done.returncode == 2
    host = s3_endpoint.removeprefix("http://")
    assert done.stderr.splitlines() == [
        f"async-ingest: error: invalid endpoint URL 'http://***@{host}': it holds credentials "
        "('user:password@'); S3 requests are signed with the AWS credentials instead"
    ]
    assert done.stdout == ""
    assert objects(s3, bucket, manifests=True) == {}


def test_report_shows_endpoint_without_its_password() -> None:
    """A report (and so the manifest) written for a client whose endpoint holds credentials shows none of them."""
    moment = datetime.datetime(2022, 5, 2, tzinfo=datetime.UTC)
    report = IngestReport(
        run_id="r",
        bucket="lake",
        date=moment.date(),
        started_at=moment,
        finished_at=moment,
        files=(),
        endpoint_url="https://lake-user:hunter2@s3.example.com:9000/prefix",
    )
    assert report.to_dict()["endpoint_url"] == "https://***@s3.example.com:9000/prefix"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        pytest.param(
            f"Authorization: AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20220502/us-east-1/s3/aws4_request, "
            "SignedHeaders=host, Signature=0123456789abcdef0123456789abcdef",
            "Authorization: AWS4-HMAC-SHA256 Credential=***/20220502/us-east-1/s3/aws4_request, "
            "SignedHeaders=host, Signature=***",
            id="authorization-header",
        ),
        pytest.param(
            "headers={'X-Amz-Security-Token': b'FwoGZXIvYXdzE/other+token=', 'Host': b'h'}",
            "headers={'X-Amz-Security-Token': b'***', 'Host': b'h'}",
            id="token-header",
        ),
        pytest.param(
            "GET /k?X-Amz-Credential=ASIAOTHERKEYID1234%2F2022&X-Amz-Security-Token=abc%2Fdef&X-Amz-Signature=9f",
            "GET /k?X-Amz-Credential=***&X-Amz-Security-Token=***&X-Amz-Signature=***",
            id="presigned-query",
        ),
        pytest.param(
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "aws_secret_access_key = ***",
            id="config-file",
        ),
        pytest.param(
            "key id AKIAIOSFODNN7EXAMPLE from a profile", "key id *** from a profile", id="bare-access-key-id"
        ),
        pytest.param(
            "connecting to https://user:p%40ss@minio.internal:9000/ and ftp://a@b/",
            "connecting to https://***@minio.internal:9000/ and ftp://***@b/",
            id="url-userinfo",
        ),
        pytest.param("uploaded Raw/Local/CSV/Movies/movies.csv", "uploaded Raw/Local/CSV/Movies/movies.csv", id="kept"),
        pytest.param("Raw/Local/CSV/Asiapacificregion2022.csv", "Raw/Local/CSV/Asiapacificregion2022.csv", id="word"),
    ],
)
def test_redactor_patterns(text: str, shown: str) -> None:
    """Credentials in the shapes botocore and the AWS configuration print them are replaced by ***."""
    assert Redactor(values=())(text) == shown


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.usefixtures("restore_logging")
def test_log_output_redacts_message_args_and_exception(log_format: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment's credentials are redacted from a record's message, its args and its exception text."""
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    stream = io.StringIO()
    configure_logging("debug", log_format, stream)
    log = logging.getLogger("async_ingest.test")
    log.debug("secret %s and token %r", SECRET_KEY, SESSION_TOKEN, extra={"key": f"k-{ACCESS_KEY}"})
    error = RuntimeError(f"refused {SECRET_KEY}")
    log.error("failed with %s", ACCESS_KEY, exc_info=(RuntimeError, error, None))
    written = stream.getvalue()
    assert "secret *** and token '***'" in written
    assert "refused ***" in written
    for secret in SECRETS:
        assert secret not in written
    if log_format == "json":
        lines = [json.loads(line) for line in written.splitlines()]
        assert [line["message"] for line in lines] == ["secret *** and token '***'", "failed with ***"]


def test_short_values_are_not_redacted_everywhere() -> None:
    """A credential variable set to a short value does not blank out ordinary words."""
    assert Redactor(values=("abc", ""))("abc abc") == "abc abc"
    assert Redactor(values=("long-secret-value",))("x long-secret-value y") == "x *** y"


def test_redact_url_keeps_urls_without_credentials() -> None:
    """A URL without user information passes unchanged."""
    assert redact_url("http://127.0.0.1:9000") == "http://127.0.0.1:9000"
    assert redact_url("http://u@h") == "http://***@h"
