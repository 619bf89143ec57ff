"""The command line's arguments: the parser generated from the settings table, and what it yields.

``parse_command_line`` merges the flags with the environment and the config file;
``config_from_args`` turns the result into the run's IngestConfig; ``print_config`` answers
``--print-config``.  Nothing here imports botocore.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn, TextIO

from ._config import IngestConfig
from ._exceptions import ConfigError
from ._help import EPILOG
from ._options import GROUPS, Setting
from ._output import check_report_path
from ._parse import BOOL
from ._plan import Source
from ._settings import SETTINGS, Settings, resolve_settings
from ._version import __version__

__all__ = ["LOCAL_BUCKET", "build_parser", "config_from_args", "parse_command_line", "print_config"]

EXIT_USAGE = 2
LOCAL_BUCKET = "local-lake"

DESCRIPTION = """\
Land local files in the raw zone of an S3 data lake, concurrently, under
date-partitioned keys.

  async-ingest --bucket lake --date 2022-05-02 data/movies.csv data/series.csv

writes

  s3://lake/Raw/Local/CSV/Movies/2022/05/02/movies.csv
  s3://lake/Raw/Local/CSV/Series/2022/05/02/series.csv

following the layout {zone}/{origin}/{format}/{category}/{yyyy}/{mm}/{dd}/{filename}:
zone and origin default to Raw and Local, format is the file's extension
upper-cased, category its name title-cased (or CATEGORY=PATH), and the date is
the processing date (today unless --date).  Credentials, region and endpoint
come from the standard AWS chain (AWS_PROFILE, AWS_ACCESS_KEY_ID, AWS_REGION,
AWS_ENDPOINT_URL, ~/.aws, instance and task roles).
"""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and a pointer to --help, not the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\nsee '{self.prog} --help'\n")


def _argument(setting: Setting) -> dict[str, Any]:
    """add_argument's keywords for *setting*."""
    options: dict[str, Any] = {"dest": setting.name, "help": setting.help_text()}
    kind = setting.kind
    if kind is BOOL:
        options["action"] = "store_false" if setting.default is True else "store_true"
    elif kind.item is not None:
        options.update(action="append", type=kind.item)
    elif kind.choices:
        options["choices"] = kind.choices
    else:
        options["type"] = kind.parse
    if setting.const is not None:
        options.update(nargs="?", const=setting.const)
    if setting.metavar:
        options["metavar"] = setting.metavar
    return options


def build_parser() -> argparse.ArgumentParser:
    """The command line, documented; one flag per setting of the table that has one."""
    parser = _Parser(
        prog="async-ingest",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        # Only what the user typed lands in the namespace; the rest comes from the
        # environment, the config file, a preset or the defaults (see _settings).
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument(
        "sources",
        nargs="*",
        metavar="SOURCE",
        help="a file, a directory (its regular files), or CATEGORY=PATH",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    groups: dict[str | None, Any] = {None: parser}
    for title, description in GROUPS.items():
        groups[title] = parser.add_argument_group(title, description)
    for setting in SETTINGS:
        if setting.flag_names:
            groups[setting.group].add_argument(*setting.flag_names, **_argument(setting))
    return parser


def _with_file(flags: dict[str, Any], config: Path | None) -> Settings:
    """Merge *flags* with the environment and the config file (*config*, or the one found here)."""
    from ._configfile import find_config_file, load_config_file

    path = find_config_file(config, Path())
    loaded = load_config_file(path) if path is not None else None
    if loaded is None:
        return resolve_settings(flags, os.environ)
    name = os.fsdecode(loaded.path)
    settings = resolve_settings(flags, os.environ, loaded.values, name, loaded.lines)
    # The file's top-level choices apply to its sources unless a source sets its own.
    values = settings.values
    file_sources = tuple(
        replace(
            source,
            include=source.include or values["include"],
            exclude=source.exclude or values["exclude"],
            recursive=source.recursive or values["recursive"],
            category_from_parent=source.category_from_parent or values["category_from_parent"],
        )
        for source in loaded.sources
    )
    origins = tuple(f"{name}:{loaded.lines[f'sources[{n}]']}" for n in range(len(file_sources)))
    return replace(settings, file_sources=file_sources, source_origins=origins)


def _optional_values(argv: Sequence[str]) -> list[str]:
    """*argv* with a path after a flag whose value is optional read as a source, not as the value.

    ``--once data/`` means ``--once`` alone and the source ``data/``: the word after such a flag
    is its value when it reads as one, and a source when it does not but names a path (or
    looks like one); anything else stays the flag's value, for argparse to report.
    """
    optional = {name: setting for setting in SETTINGS if setting.const is not None for name in setting.flag_names}
    out = list(argv)
    for at, word in enumerate(out[:-1]):
        setting = optional.get(word)
        if setting is None or out[at + 1].startswith("-"):
            continue
        after = out[at + 1]
        try:
            setting.kind.parse(after)
        except (ValueError, argparse.ArgumentTypeError):
            if any(mark in after for mark in ("/", os.sep, ".", "=", "*")) or os.path.lexists(after):
                out[at] = f"{word}={setting.kind.show(setting.const)}"
    return out


def parse_command_line(argv: Sequence[str] | None) -> tuple[argparse.Namespace, Settings]:
    """Parse the command line and merge it with the environment and the config file; raises ConfigError."""
    parser = build_parser()
    flags = vars(parser.parse_args(_optional_values(sys.argv[1:] if argv is None else argv)))
    switches: dict[str, Any] = {"sources": flags.pop("sources", [])}
    for setting in SETTINGS:
        if setting.applies == "run":
            switches[setting.name] = flags.pop(setting.name, setting.default)
        elif setting.kind.item is not None and setting.name in flags:
            flags[setting.name] = setting.kind.collect(flags[setting.name])
    settings = _with_file(flags, switches["config"])
    args = argparse.Namespace(**settings.values, **switches)
    if not args.sources and settings.file_sources:
        args.sources = list(settings.file_sources)
    if not args.sources and not args.abort_stale_uploads and not args.print_config:
        parser.error("the following arguments are required: SOURCE (or [[sources]] in the config file)")
    if args.offline and (not args.dry_run or args.abort_stale_uploads):
        parser.error("--offline goes with --dry-run of an ingest (a dry run that contacts nothing)")
    if switches["sources"] and args.abort_stale_uploads:
        parser.error("--abort-stale-uploads takes no SOURCE")
    return args, settings


def config_from_args(args: argparse.Namespace, settings: Settings) -> IngestConfig:
    """The run's configuration; raises ConfigError."""
    if args.report is not None:
        check_report_path(args.report)
    config = settings.config(bucket=LOCAL_BUCKET) if args.local and not args.bucket else settings.config()
    if args.local and config.workers > 1:
        raise ConfigError(
            f"--local runs in one process (the trial endpoint lives in it): drop workers={config.workers}"
        )
    if args.local and config.delete_source:
        raise ConfigError(
            "--delete-source with --local would lose the files: the trial endpoint's data ends with the run"
        )
    return config


def _describe_source(source: Source | str) -> str:
    if isinstance(source, str):
        return source
    words = [os.fsdecode(source.path)]
    if source.category is not None:
        words.append(f"category={source.category}")
    words.extend(f"include={pattern}" for pattern in source.include)
    words.extend(f"exclude={pattern}" for pattern in source.exclude)
    words.extend(name for name in ("recursive", "category_from_parent") if getattr(source, name))
    return " ".join(words)


def _sources(args: argparse.Namespace, settings: Settings) -> list[tuple[str, str]]:
    """The run's sources, each described, with where it was given."""
    if settings.file_sources and list(settings.file_sources) == list(args.sources):
        return [(_describe_source(s), o) for s, o in zip(settings.file_sources, settings.source_origins, strict=True)]
    return [(_describe_source(source), "command line") for source in args.sources]


def print_config(args: argparse.Namespace, settings: Settings, stream: TextIO) -> None:
    """Write the effective settings and sources to *stream*: one line each, or JSON with --json."""
    sources = _sources(args, settings)
    if args.json:
        document = {
            "settings": settings.describe(),
            "sources": [{"source": source, "from": origin} for source, origin in sources],
        }
        json.dump(document, stream, indent=2)
        stream.write("\n")
        return
    rows = settings.rows()
    name_width = max(len(name) for name, _, _ in rows)
    value_width = min(40, max(len(value) for _, value, _ in rows))
    for name, value, origin in rows:
        stream.write(f"{name:<{name_width}}  {value:<{value_width}}  {origin}\n")
    stream.write("sources:\n" if sources else "sources: none\n")
    for source, origin in sources:
        stream.write(f"  {source}  ({origin})\n")
