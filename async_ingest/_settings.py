"""The settings table and the command line's effective settings: flags > environment > config file > preset > defaults.

``SETTINGS`` is every setting, declared once: IngestConfig's fields (see ``_options``), the
command line's own settings and its one-run switches.  Each is named by its command-line
destination (``part_size`` for ``--part-size``, ``tz`` for the ``timezone`` field).
Environment variables are ``ASYNC_INGEST_<NAME>`` (for example ``ASYNC_INGEST_BUCKET``,
``ASYNC_INGEST_METADATA=team=data,source=crm``), plus the standard ``AWS_ENDPOINT_URL``,
``AWS_REGION``/``AWS_DEFAULT_REGION`` and ``AWS_PROFILE`` for the endpoint, region and profile.
"""

from __future__ import annotations

import argparse
import datetime
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields, replace
from typing import Any

from ._config import IngestConfig
from ._dates import format_date
from ._endpoint import redact_url
from ._exceptions import ConfigError
from ._options import CLI_SETTINGS, PRESETS, RUN_SWITCHES, Setting
from ._plan import Source

__all__ = ["DEFAULTS", "PRESETS", "SETTINGS", "Settings", "resolve_settings"]


def _library_settings() -> tuple[Setting, ...]:
    """The settings declared on IngestConfig's fields, completed with the field's name and default."""
    declared = []
    for field in fields(IngestConfig):
        setting: Setting = field.metadata["setting"]
        if field.default is not MISSING:
            default = field.default
        elif field.default_factory is not MISSING:
            default = field.default_factory()
        else:
            default = None  # required (the bucket): no default
        declared.append(replace(setting, name=setting.name or field.name, field=field.name, default=default))
    return tuple(declared)


#: Every setting, once: the library's (IngestConfig's fields), the command line's own, the one-run switches.
SETTINGS: tuple[Setting, ...] = (*_library_settings(), *CLI_SETTINGS, *RUN_SWITCHES)

#: The settings by name (the flag's dest and the config file's key).
BY_NAME: dict[str, Setting] = {setting.name: setting for setting in SETTINGS}

#: Every setting the command line knows (flag, environment, file), with its default.
DEFAULTS: dict[str, Any] = {s.name: s.default for s in SETTINGS if s.applies in ("both", "cli")}


@dataclass(frozen=True)
class Settings:
    """The effective settings, where each came from, and the sources from the config file."""

    values: dict[str, Any]
    origins: dict[str, str]
    file_sources: tuple[Source, ...] = ()
    #: Where each of ``file_sources`` is declared (``file:line``).
    source_origins: tuple[str, ...] = ()

    def config(self, **overrides: Any) -> IngestConfig:
        """The library configuration these settings describe; raises ConfigError."""
        kwargs: dict[str, Any] = {}
        for name, value in self.values.items():
            field = BY_NAME[name].field
            if field is not None:
                kwargs[field] = value
        kwargs.update(overrides)
        if not kwargs.get("bucket"):
            raise ConfigError(
                "no bucket given: pass --bucket, set ASYNC_INGEST_BUCKET or 'bucket' in async-ingest.toml "
                "(or try --local)"
            )
        return IngestConfig(**kwargs)

    def describe(self) -> dict[str, dict[str, Any]]:
        """Every setting with its origin, secrets redacted, JSON-ready (for --print-config --json)."""
        shown: dict[str, dict[str, Any]] = {}
        for name, value in sorted(self.values.items()):
            if isinstance(value, datetime.timedelta):
                value = f"{int(value.total_seconds())}s"
            elif isinstance(value, datetime.date):
                value = format_date(value)
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            elif value is not None and not isinstance(value, str | int | float | list):
                value = BY_NAME[name].show(value)  # a value of its own kind (a shard): as people write it
            shown[name] = {"value": _redact(name, value), "from": self.origins[name]}
        return shown

    def rows(self) -> list[tuple[str, str, str]]:
        """Every setting as (name, value as people write it, origin), secrets redacted, in the table's order."""
        return [
            (name, BY_NAME[name].show(_redact(name, value)), self.origins[name]) for name, value in self.values.items()
        ]


def _redact(name: str, value: Any) -> Any:
    if isinstance(value, str) and any(word in name for word in ("secret", "token", "password")):
        return "***"
    if name == "endpoint_url" and isinstance(value, str):
        return redact_url(value)
    return value


def _from_environment(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The settings the environment gives, and the variable each came from; raises ConfigError."""
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for setting in SETTINGS:
        for variable in setting.env_names:
            text = environ.get(variable)
            if text:
                try:
                    values[setting.name] = setting.kind.parse(text)
                except argparse.ArgumentTypeError as exc:
                    raise ConfigError(f"environment variable {variable}: {exc}") from None
                origins[setting.name] = f"env {variable}"
                break
    return values, origins


def resolve_settings(
    flags: Mapping[str, Any],
    environ: Mapping[str, str],
    file_values: Mapping[str, Any] | None = None,
    file_name: str | None = None,
    file_lines: Mapping[str, int] | None = None,
) -> Settings:
    """Merge the layers; raises ConfigError naming the environment variable whose value is invalid.

    A value from the file is said to come from ``file_name:line`` when *file_lines* knows its line.
    """
    env_values, env_origins = _from_environment(environ)
    file_values = dict(file_values or {})
    file_lines = file_lines or {}
    preset_name = flags.get("preset") or env_values.get("preset") or file_values.get("preset")
    preset_values: Mapping[str, Any] = {}
    if preset_name is not None:
        if preset_name not in PRESETS:
            raise ConfigError(f"unknown preset {preset_name!r}: use one of {', '.join(PRESETS)}")
        preset_values = PRESETS[preset_name].values
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for name, default in DEFAULTS.items():
        in_file = file_name or "config file"
        for layer, origin in (
            (flags, "flag"),
            (env_values, env_origins.get(name, "env")),
            (file_values, f"{in_file}:{file_lines[name]}" if name in file_lines else in_file),
            (preset_values, f"preset {preset_name}"),
        ):
            if name in layer:
                values[name], origins[name] = layer[name], origin
                break
        else:
            values[name], origins[name] = default, "default"
    return Settings(values=values, origins=origins)
