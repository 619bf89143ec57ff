"""The command line's effective settings: flags > environment > config file > preset > defaults.

Each setting is named by its command-line destination (``part_size`` for
``--part-size``).  Environment variables are ``ASYNC_INGEST_<NAME>`` (for
example ``ASYNC_INGEST_BUCKET``, ``ASYNC_INGEST_CONCURRENCY``), plus the
standard ``AWS_ENDPOINT_URL``, ``AWS_REGION``/``AWS_DEFAULT_REGION`` and
``AWS_PROFILE`` for the endpoint, region and profile.
"""

from __future__ import annotations

import argparse
import datetime
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ._config import CHECKSUMS, IngestConfig
from ._exceptions import ConfigError
from ._parse import parse_age, parse_date, parse_size, positive_int
from ._plan import Source

__all__ = ["DEFAULTS", "PRESETS", "Settings", "resolve_settings"]

#: Library settings the command line does not offer.
_LIBRARY_ONLY = {"max_attempts", "abort_timeout"}


def _config_defaults() -> dict[str, Any]:
    """IngestConfig's own defaults, under the command line's names (``timezone`` is ``tz``)."""
    defaults: dict[str, Any] = {}
    for field in fields(IngestConfig):
        if field.name in _LIBRARY_ONLY:
            continue
        if field.default is not MISSING:
            value = field.default
        elif field.default_factory is not MISSING:
            value = field.default_factory()
        else:
            value = None  # required (the bucket): no default
        defaults["tz" if field.name == "timezone" else field.name] = value
    return defaults


#: Every setting the command line knows, with its default: the library's, plus the CLI's own.
DEFAULTS: dict[str, Any] = {
    **_config_defaults(),
    "preset": None,
    "date": None,
    "prefix": "",
    "older_than": datetime.timedelta(hours=24),
    "log_level": "error",
    "log_format": "text",
    "quiet": False,
}


@dataclass(frozen=True)
class Preset:
    """Settings known to work with one kind of S3-compatible store."""

    description: str
    values: Mapping[str, Any]


#: Presets for S3-compatible stores; any setting given explicitly still wins.
PRESETS: dict[str, Preset] = {
    "aws": Preset("Amazon S3: the defaults", {}),
    "minio": Preset(
        "MinIO: path-style addressing, CRC32C (supported since 2022), us-east-1 unless set",
        {"addressing_style": "path", "checksum": "crc32c", "region": "us-east-1"},
    ),
    "ceph": Preset(
        "Ceph RGW: path-style addressing; no additional checksum headers (releases before Squid reject them)",
        {"addressing_style": "path", "checksum": "none", "region": "us-east-1"},
    ),
    "r2": Preset(
        "Cloudflare R2: region 'auto', path-style addressing, CRC32; set --endpoint-url to your account's",
        {"addressing_style": "path", "checksum": "crc32", "region": "auto"},
    ),
    "gcs": Preset(
        "Google Cloud Storage (XML API, HMAC keys): storage.googleapis.com, path-style, no x-amz-checksum headers",
        {
            "endpoint_url": "https://storage.googleapis.com",
            "addressing_style": "path",
            "checksum": "none",
            "region": "auto",
        },
    ),
}


def _choice(*choices: str) -> Callable[[str], str]:
    def convert(text: str) -> str:
        if text not in choices:
            raise argparse.ArgumentTypeError(f"invalid choice {text!r}: use one of {', '.join(choices)}")
        return text

    return convert


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r}: use true or false")


def _patterns(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


#: Converters for values read from the environment (flags are converted by argparse, the file by its loader).
_FROM_TEXT: dict[str, Callable[[str], Any]] = {
    "preset": _choice(*PRESETS),
    "date": parse_date,
    "concurrency": positive_int,
    "workers": positive_int,
    "part_size": parse_size,
    "multipart_threshold": parse_size,
    "buffer_memory": parse_size,
    "checksum": _choice(*CHECKSUMS),
    "request_checksum_calculation": _choice("when_supported", "when_required"),
    "addressing_style": _choice("auto", "path", "virtual"),
    "if_exists": _choice("skip", "overwrite", "fail"),
    "sse": _choice("AES256", "aws:kms"),
    "manifest": _boolean,
    "success_marker": _boolean,
    "follow_symlinks": _boolean,
    "recursive": _boolean,
    "category_from_parent": _boolean,
    "quiet": _boolean,
    "include": _patterns,
    "exclude": _patterns,
    "older_than": parse_age,
    "log_level": _choice("debug", "info", "warning", "error"),
    "log_format": _choice("text", "json"),
}

#: Standard AWS variables that stand for a setting, checked after ASYNC_INGEST_<NAME>.
_AWS_ENV = {
    "endpoint_url": ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
    "region": ("AWS_REGION", "AWS_DEFAULT_REGION"),
    "profile": ("AWS_PROFILE",),
}

#: Settings that are not the library's (the rest map to IngestConfig fields by name; tz -> timezone).
_CLI_ONLY = {"preset", "date", "prefix", "older_than", "log_level", "log_format", "quiet"}


@dataclass(frozen=True)
class Settings:
    """The effective settings, where each came from, and the sources from the config file."""

    values: dict[str, Any]
    origins: dict[str, str]
    file_sources: tuple[Source, ...] = ()

    def config(self, **overrides: Any) -> IngestConfig:
        """The library configuration these settings describe; raises ConfigError."""
        names = {f.name for f in fields(IngestConfig)}
        kwargs = {("timezone" if k == "tz" else k): v for k, v in self.values.items() if k not in _CLI_ONLY}
        kwargs.update(overrides)
        if not kwargs.get("bucket"):
            raise ConfigError(
                "no bucket given: pass --bucket, set ASYNC_INGEST_BUCKET or 'bucket' in async-ingest.toml "
                "(or try --local)"
            )
        return IngestConfig(**{k: v for k, v in kwargs.items() if k in names})

    def describe(self) -> dict[str, dict[str, Any]]:
        """Every setting with its origin, secrets redacted, JSON-ready (for --print-config)."""
        shown: dict[str, dict[str, Any]] = {}
        for name, value in sorted(self.values.items()):
            if isinstance(value, datetime.timedelta):
                value = f"{int(value.total_seconds())}s"
            elif isinstance(value, datetime.date):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            shown[name] = {"value": _redact(name, value), "from": self.origins[name]}
        return shown


def _redact(name: str, value: Any) -> Any:
    if isinstance(value, str) and any(word in name for word in ("secret", "token", "password")):
        return "***"
    if name == "endpoint_url" and isinstance(value, str):
        parts = urlsplit(value)
        if parts.username or parts.password:
            host = parts.hostname or ""
            netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
            return urlunsplit(parts._replace(netloc=netloc))
    return value


def resolve_settings(
    flags: Mapping[str, Any],
    environ: Mapping[str, str],
    file_values: Mapping[str, Any] | None = None,
    file_name: str | None = None,
) -> Settings:
    """Merge the layers; raises ConfigError naming the environment variable whose value is invalid."""
    env_values: dict[str, Any] = {}
    env_origins: dict[str, str] = {}
    for name in DEFAULTS:
        for variable in (f"ASYNC_INGEST_{name.upper()}", *_AWS_ENV.get(name, ())):
            text = environ.get(variable)
            if text:
                try:
                    env_values[name] = _FROM_TEXT.get(name, str)(text)
                except argparse.ArgumentTypeError as exc:
                    raise ConfigError(f"environment variable {variable}: {exc}") from None
                env_origins[name] = f"env {variable}"
                break
    file_values = dict(file_values or {})
    preset_name = flags.get("preset") or env_values.get("preset") or file_values.get("preset")
    preset_values: Mapping[str, Any] = {}
    if preset_name is not None:
        if preset_name not in PRESETS:
            raise ConfigError(f"unknown preset {preset_name!r}: use one of {', '.join(PRESETS)}")
        preset_values = PRESETS[preset_name].values
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for name, default in DEFAULTS.items():
        for layer, origin in (
            (flags, "flag"),
            (env_values, env_origins.get(name, "env")),
            (file_values, file_name or "config file"),
            (preset_values, f"preset {preset_name}"),
        ):
            if name in layer:
                values[name], origins[name] = layer[name], origin
                break
        else:
            values[name], origins[name] = default, "default"
    return Settings(values=values, origins=origins)
