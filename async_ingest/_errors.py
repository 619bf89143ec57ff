"""Failures of one file translated into a one-line message and a code: the one place this is done.

botocore is imported only once a failure is classified (by then the upload machinery has
loaded it anyway), so importing this module stays cheap and callers can import it at the
top of theirs.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from ._exceptions import IngestError

__all__ = [
    "NOT_ATTEMPTED",
    "RUN_WIDE_ERRORS",
    "UNREACHABLE_ERRORS",
    "describe_error",
    "error_code",
    "expected_errors",
    "http_status",
    "upload_is_gone",
]


@functools.cache
def expected_errors() -> tuple[type[Exception], ...]:
    """Failures that belong to one file (``except expected_errors():``); anything else is a bug and propagates."""
    from botocore.exceptions import BotoCoreError, ClientError

    return (IngestError, ClientError, BotoCoreError, OSError)


def __getattr__(name: str) -> Any:
    # EXPECTED_ERRORS, read as an attribute of this module, is built on first use.
    if name == "EXPECTED_ERRORS":
        return expected_errors()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of S3's answer to a failed request, if it answered."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status if isinstance(status, int) else None


def error_code(exc: BaseException) -> str | None:
    """S3's error code (``NoSuchUpload``…) of a failed request, if it answered with one."""
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return str(code) if code else None


def upload_is_gone(exc: BaseException) -> bool:
    """True if an abort failed because the upload no longer exists: what the abort was for.

    (A retried abort whose first attempt went through, or an upload completed or aborted
    by someone else, answers NoSuchUpload; nothing is left open and billed.)
    """
    return error_code(exc) == "NoSuchUpload"


_CODE_MESSAGES = {
    "NoSuchBucket": "bucket {bucket!r} does not exist",
    "AccessDenied": "access denied to s3://{bucket}/{key}; check the credentials' permissions",
    "AllAccessDisabled": "access to bucket {bucket!r} is disabled",
    "InvalidAccessKeyId": "the AWS access key id is not known to the endpoint; check the credentials",
    "SignatureDoesNotMatch": "the request signature does not match; check the secret access key",
    "ExpiredToken": "the AWS session token has expired; refresh the credentials",
    "InvalidToken": "the AWS session token is invalid; refresh the credentials",
    "BadDigest": "the bytes S3 received do not match their checksum; nothing was stored",
    "XAmzContentChecksumMismatch": "the bytes S3 received do not match their checksum; nothing was stored",
    "InvalidRequest": "the endpoint rejected the request: {detail}",
    "PreconditionFailed": "s3://{bucket}/{key} appeared while uploading and was kept (--if-exists fail)",
    "PermanentRedirect": "bucket {bucket!r} is in another region; set --region to the bucket's region",
    "AuthorizationHeaderMalformed": "the request was signed for the wrong region: {detail}",
}


def describe_error(exc: BaseException, *, bucket: str, key: str) -> tuple[str, str]:
    """A one-line message and a code for a failure of one file; the single place errors are translated."""
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "Unknown"))
        detail = str(error.get("Message") or code)
        if code in ("403", "Forbidden"):
            code = "AccessDenied"
        if code in ("404", "NotFound") and exc.operation_name in ("HeadBucket",):
            code = "NoSuchBucket"
        template = _CODE_MESSAGES.get(code)
        message = template.format(bucket=bucket, key=key, detail=detail) if template else f"{code}: {detail}"
        return message, code
    if isinstance(exc, NoCredentialsError):
        return (
            "no AWS credentials found; set AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
            "or run where an instance or task role is available",
            "NoCredentials",
        )
    if isinstance(exc, EndpointConnectionError):
        return (
            f"cannot connect to the S3 endpoint {exc.kwargs.get('endpoint_url', '')}".rstrip(),
            "EndpointConnectionError",
        )
    if isinstance(exc, BotoCoreError):
        return str(exc), type(exc).__name__
    if isinstance(exc, IngestError):
        return str(exc), type(exc).__name__
    if isinstance(exc, OSError):
        filename = exc.filename if exc.filename is not None else key
        return f"{os.fsdecode(filename)}: {exc.strerror or exc}", type(exc).__name__
    return f"{type(exc).__name__}: {exc}", type(exc).__name__


#: The endpoint does not answer (botocore's errors, after its retries): no request of the run would get through.
UNREACHABLE_ERRORS = frozenset(
    {"ReadTimeoutError", "ConnectTimeoutError", "EndpointConnectionError", "ConnectionClosedError"}
)

#: Errors that no other file of the run can escape either: once seen, files not yet started fail at once.
RUN_WIDE_ERRORS = UNREACHABLE_ERRORS | frozenset(
    {
        "NoSuchBucket",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "NoCredentials",
        "AllAccessDisabled",
        "PermanentRedirect",
        "AuthorizationHeaderMalformed",
    }
)

#: How the error of a file failed by a run-wide error, without being tried, begins.
NOT_ATTEMPTED = "not attempted: "
