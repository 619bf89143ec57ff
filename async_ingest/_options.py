"""How a setting is declared: once, with everything the command line, environment and config file need.

The library's settings are the fields of :class:`IngestConfig`, each declared with
``field(default=..., metadata=about(KIND, "help", group=...))``; the command line's own
settings and its one-run switches are declared below, in the same form.  ``_settings.SETTINGS``
joins them into the one table that argparse, the environment reader, the config-file reader,
``--print-config`` and the settings tests are generated from.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ._parse import AGE, BOOL, DATE, TEXT, Kind, choice

__all__ = ["CLI_SETTINGS", "GROUPS", "PRESETS", "RUN_SWITCHES", "Preset", "Setting", "about"]

#: Where a setting applies: ``both`` (library and command line), ``cli`` (the command line's own
#: setting: flag, environment, file), ``library`` (IngestConfig only), ``run`` (a flag for one run).
Applies = Literal["both", "cli", "library", "run"]

PATH = Kind(Path, "a path", show=str)


@dataclass(frozen=True)
class Setting:
    """One setting: its name (the flag's dest and the file's key), how its values are read and shown, its help.

    ``field`` is the IngestConfig field it sets (None for the command line's own); ``flags``
    default to ``--name-with-dashes`` (``--no-name`` for a switch that is on by default);
    ``env`` lists standard variables read after ``ASYNC_INGEST_<NAME>``; ``default_text`` says
    what a default of None means in the help.
    """

    kind: Kind
    help: str
    group: str | None = None
    name: str = ""
    field: str | None = None
    default: Any = None
    applies: Applies = "both"
    flags: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    metavar: str | None = None
    default_text: str | None = None
    #: The value of a flag given without one (the flag's value is then optional).
    const: Any = None

    @property
    def flag_names(self) -> tuple[str, ...]:
        """The command-line flags of this setting (none for a library-only one)."""
        if self.applies == "library":
            return ()
        if self.flags:
            return self.flags
        dashed = self.name.replace("_", "-")
        return (f"--no-{dashed}",) if self.kind is BOOL and self.default is True else (f"--{dashed}",)

    @property
    def env_names(self) -> tuple[str, ...]:
        """The environment variables that give this setting, in the order they are read."""
        if self.applies in ("library", "run"):
            return ()
        return (f"ASYNC_INGEST_{self.name.upper()}", *self.env)

    @property
    def in_file(self) -> bool:
        """Whether a config file may hold this setting (under ``name``, with ``-`` or ``_``)."""
        return self.applies in ("both", "cli")

    def show(self, value: Any) -> str:
        """*value* as people write it: ``40MiB``, ``24h``, ``true``; ``-`` for none."""
        if value is None:
            return "-"
        if value == "":
            return '""'
        if isinstance(value, tuple | dict) and not value:
            return "-"
        return self.kind.show(value)

    def help_text(self) -> str:
        """The flag's help: what it does, its default and its environment variable."""
        notes = []
        if self.default_text is not None:
            notes.append(self.default_text)
        elif self.default is not None and not isinstance(self.default, bool) and self.show(self.default) != "-":
            notes.append(self.show(self.default))
        if self.env_names:
            notes.append(f"env {', '.join(self.env_names)}")
        text = self.help + (f" [{'; '.join(notes)}]" if notes else "")
        return text.replace("%", "%%")


def about(kind: Kind, help: str, group: str | None = None, **details: Any) -> dict[str, Setting]:
    """The metadata of an IngestConfig field that is a setting (name, field and default come from the field)."""
    return {"setting": Setting(kind, help, group, **details)}


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


def _cli(name: str, kind: Kind, help: str, group: str, default: Any = None, **details: Any) -> Setting:
    return Setting(kind, help, group, name=name, default=default, applies="cli", **details)


def _switch(name: str, help: str, group: str | None, kind: Kind = BOOL, **details: Any) -> Setting:
    default = False if kind is BOOL else None
    return Setting(kind, help, group, name=name, default=default, applies="run", **details)


_PRESET_HELP = "; ".join(f"{name}: {preset.description}" for name, preset in PRESETS.items())

#: The command line's own settings: flag, environment variable and config-file key, no IngestConfig field.
CLI_SETTINGS: tuple[Setting, ...] = (
    _cli("preset", choice(*PRESETS), f"settings for an S3-compatible store: {_PRESET_HELP}", "where to"),
    _cli("date", DATE, "processing date, YYYY-MM-DD, or YYYY-MM-DDTHH with the hour", "keys", default_text="today"),
    _cli("prefix", TEXT, "only uploads whose key starts with this", "stale uploads", "", default_text="the bucket"),
    _cli("older_than", AGE, "only uploads started longer ago than this", "stale uploads", datetime.timedelta(hours=24)),
    _cli(
        "log_level", choice("debug", "info", "warning", "error"), "log level of messages on stderr", "output", "error"
    ),
    _cli("log_format", choice("text", "json"), "log lines as text or one JSON object each", "output", "text"),
    _cli("quiet", BOOL, "no progress display", "output", False, flags=("-q", "--quiet")),
)

#: Switches for one run: only ever given on the command line.
RUN_SWITCHES: tuple[Setting, ...] = (
    _switch(
        "config",
        "settings file [async-ingest.toml, or [tool.async-ingest] in pyproject.toml, in this directory]",
        None,
        PATH,
        metavar="PATH",
    ),
    _switch("print_config", "print the effective settings and where each came from, then exit", None),
    _switch(
        "local",
        "upload to a trial S3 endpoint started in this process (moto); its data lives only for the run",
        "where to",
    ),
    _switch(
        "abort_stale_uploads",
        "instead of ingesting, abort multipart uploads left open (they are billed until aborted)",
        "stale uploads",
    ),
    _switch("dry_run", "plan and print the keys; write nothing", "output"),
    _switch("json", "print the run report (or --print-config) as JSON on stdout", "output"),
    _switch("report", "also write the run report as JSON to PATH", "output", PATH, metavar="PATH"),
)

#: The groups of --help, in order, with their descriptions.
GROUPS: dict[str, str | None] = {
    "where to": None,
    "keys": None,
    "transfer": None,
    "objects": None,
    "stale uploads": "async-ingest --bucket B --abort-stale-uploads [--prefix P] [--older-than 24h] [--dry-run]",
    "choosing files": None,
    "output": None,
}
