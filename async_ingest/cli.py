"""The ``async-ingest`` command: parse -> config -> anyio.run(backend="asyncio") -> report -> exit code.

Answers ``--help``, ``--version`` and usage errors without importing botocore.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn, TextIO

from ._config import CHECKSUMS, IngestConfig
from ._exceptions import ConfigError, IngestError
from ._keys import LAYOUTS
from ._logs import configure_logging
from ._parse import parse_age, parse_date, parse_metadata, parse_size, positive_int
from ._results import FileResult, FileStatus, IngestReport
from ._settings import PRESETS, Settings, resolve_settings
from ._version import __version__

if TYPE_CHECKING:
    from ._display import ProgressDisplay
    from ._ingestor import RunPlan

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_SIGINT = 130
EXIT_SIGTERM = 143

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

EPILOG = """\
exit codes: 0 every file uploaded or skipped; 1 a file failed;
2 usage or configuration error (nothing was uploaded); 130 interrupted (143 on SIGTERM).
Try it without a cloud account:  async-ingest --local data/movies.csv
"""


def check_report_path(path: Path) -> None:
    """Fail before any upload if the report could not be written to *path*."""
    parent = path.parent if str(path.parent) else Path()
    if path.is_dir():
        raise ConfigError(f"--report {path}: is a directory")
    if not parent.is_dir():
        raise ConfigError(f"--report {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ConfigError(f"--report {path}: not writable")


def write_report(report: IngestReport, path: Path) -> None:
    """Write the report as JSON, atomically (a reader never sees half a file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def build_parser() -> argparse.ArgumentParser:
    """The command line, documented."""
    parser = argparse.ArgumentParser(
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
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="settings file [async-ingest.toml, or [tool.async-ingest] in pyproject.toml, in this directory]",
    )
    parser.add_argument(
        "--print-config", action="store_true", help="print the effective settings and where each came from, then exit"
    )

    target = parser.add_argument_group("where to")
    target.add_argument("--bucket", help="bucket name [env ASYNC_INGEST_BUCKET]")
    target.add_argument("--endpoint-url", help="S3-compatible endpoint [env AWS_ENDPOINT_URL]")
    target.add_argument("--region", help="AWS region [env AWS_REGION]")
    target.add_argument("--profile", help="AWS profile from the shared config files [env AWS_PROFILE]")
    target.add_argument(
        "--preset",
        choices=tuple(PRESETS),
        help="settings for an S3-compatible store: " + "; ".join(f"{k}: {v.description}" for k, v in PRESETS.items()),
    )
    target.add_argument(
        "--local",
        action="store_true",
        help="upload to a trial S3 endpoint started in this process (moto); its data lives only for the run",
    )

    keys = parser.add_argument_group("keys")
    keys.add_argument(
        "--layout",
        help=f"key template or one of {', '.join(LAYOUTS)} (hive: year=YYYY/month=MM/day=DD) [default]",
    )
    keys.add_argument("--zone", help="zone piece [Raw]")
    keys.add_argument("--origin", help="origin piece [Local]")
    keys.add_argument("--format", help="format piece [the file's extension, upper-cased]")
    keys.add_argument("--date", type=parse_date, help="processing date, YYYY-MM-DD [today]")
    keys.add_argument("--tz", help="IANA time zone whose today is the default date [the local zone]")

    transfer = parser.add_argument_group("transfer")
    transfer.add_argument("--concurrency", type=positive_int, help="requests in flight at once, per process [8]")
    transfer.add_argument(
        "--workers",
        type=positive_int,
        help="processes sharing the small files of many-file runs, this one included [1]",
    )
    transfer.add_argument("--part-size", type=parse_size, help="multipart part size [8MiB]")
    transfer.add_argument("--multipart-threshold", type=parse_size, help="multipart above this size [8MiB]")
    transfer.add_argument(
        "--buffer-memory",
        type=parse_size,
        help="memory for the bytes of parts in flight, across all files [40MiB: 5 parts of 8MiB]",
    )
    transfer.add_argument(
        "--checksum",
        choices=CHECKSUMS,
        help="checksum S3 verifies on receipt [crc64nvme]",
    )
    transfer.add_argument(
        "--request-checksum-calculation",
        choices=("when_supported", "when_required"),
        help="botocore's own checksums; keep when_required for stores that reject them [when_required]",
    )
    transfer.add_argument("--addressing-style", choices=("auto", "path", "virtual"), help="S3 addressing style [auto]")

    objects = parser.add_argument_group("objects")
    objects.add_argument(
        "--if-exists",
        choices=("skip", "overwrite", "fail"),
        help="an object already at the key: skip it if its checksum matches the file (else upload), "
        "always overwrite, or fail without replacing it [skip]",
    )
    objects.add_argument("--content-type", help="Content-Type of every object [guessed from the extension]")
    objects.add_argument("--sse", choices=("AES256", "aws:kms"), help="server-side encryption [the bucket's default]")
    objects.add_argument("--sse-kms-key-id", help="KMS key for --sse aws:kms")
    objects.add_argument("--storage-class", help="S3 storage class, such as STANDARD_IA [STANDARD]")
    objects.add_argument(
        "--metadata",
        action="append",
        metavar="KEY=VALUE",
        type=parse_metadata,
        help="user metadata stored with every object (repeatable)",
    )
    objects.add_argument(
        "--no-manifest", dest="manifest", action="store_false", help="do not write the run manifest to the lake"
    )
    objects.add_argument(
        "--manifest-layout",
        help="where the run manifest goes; {filename} is <run_id>.json "
        "[{zone}/{origin}/_manifests/{yyyy}/{mm}/{dd}/{filename}]",
    )
    objects.add_argument(
        "--success-marker",
        action="store_true",
        help="write an empty _SUCCESS object into each partition whose files all landed",
    )

    objects.add_argument(
        "--no-follow-symlinks",
        dest="follow_symlinks",
        action="store_false",
        help="refuse sources that are symbolic links instead of uploading what they point to",
    )

    sweep = parser.add_argument_group(
        "stale uploads",
        "async-ingest --bucket B --abort-stale-uploads [--prefix P] [--older-than 24h] [--dry-run]",
    )
    sweep.add_argument(
        "--abort-stale-uploads",
        action="store_true",
        help="instead of ingesting, abort multipart uploads left open (they are billed until aborted)",
    )
    sweep.add_argument("--prefix", help="only uploads whose key starts with this [the whole bucket]")
    sweep.add_argument("--older-than", type=parse_age, help="only uploads started longer ago than this [24h]")

    select = parser.add_argument_group("choosing files")
    select.add_argument("--include", action="append", metavar="GLOB", help="only files matching (repeatable)")
    select.add_argument("--exclude", action="append", metavar="GLOB", help="leave out files matching (repeatable)")
    select.add_argument("--recursive", action="store_true", help="descend into subfolders of directory sources")
    select.add_argument(
        "--category-from-parent",
        action="store_true",
        help="category from each file's folder name (data/Movies/a.csv -> Movies) unless CATEGORY=PATH",
    )

    output = parser.add_argument_group("output")
    output.add_argument("--dry-run", action="store_true", help="plan and print the keys; write nothing")
    output.add_argument("--json", action="store_true", help="print the run report as one JSON document on stdout")
    output.add_argument("--report", type=Path, metavar="PATH", help="also write the run report as JSON to PATH")
    output.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        help="log level of the messages on stderr [error]",
    )
    output.add_argument(
        "--log-format", choices=("text", "json"), help="log lines as text or one JSON object each [text]"
    )
    output.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    return parser


#: Command-line switches that are not settings: they only ever come from the command line.
_SWITCHES: dict[str, Any] = {
    "sources": [],
    "config": None,
    "print_config": False,
    "local": False,
    "dry_run": False,
    "json": False,
    "report": None,
    "abort_stale_uploads": False,
}


def parse_command_line(argv: Sequence[str] | None) -> tuple[argparse.Namespace, Settings]:
    """Parse the command line and merge it with the environment and the config file; raises ConfigError."""
    parser = build_parser()
    flags = vars(parser.parse_args(argv))
    if "metadata" in flags:
        flags["metadata"] = dict(flags["metadata"])
    for name in ("include", "exclude"):
        if name in flags:
            flags[name] = tuple(flags[name])
    switches = {name: flags.pop(name, default) for name, default in _SWITCHES.items()}
    from ._configfile import find_config_file, load_config_file

    path = find_config_file(switches["config"], Path())
    loaded = load_config_file(path) if path is not None else None
    settings = resolve_settings(
        flags,
        os.environ,
        loaded.values if loaded else None,
        os.fsdecode(loaded.path) if loaded else None,
    )
    if loaded is not None:
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
        settings = replace(settings, file_sources=file_sources)
    args = argparse.Namespace(**settings.values, **switches)
    if not args.sources and settings.file_sources:
        args.sources = list(settings.file_sources)
    if not args.sources and not args.abort_stale_uploads and not args.print_config:
        parser.error("the following arguments are required: SOURCE (or [[sources]] in the config file)")
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
    return config


def _human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def format_report(report: IngestReport) -> str:
    """A readable table of the run."""
    rows = [("STATUS", "SIZE", "PARTS", "TIME", "KEY")]
    for result in report.files:
        rows.append(
            (
                result.status.value,
                _human_size(result.size),
                str(result.parts),
                f"{result.duration:.2f}s",
                result.key,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        f"run {report.run_id}  s3://{report.bucket}  date {report.date.isoformat()}"
        + ("  (dry run)" if report.dry_run else "")
    ]
    for row in rows:
        lines.append(
            "  ".join(
                [
                    row[0].ljust(widths[0]),
                    row[1].rjust(widths[1]),
                    row[2].rjust(widths[2]),
                    row[3].rjust(widths[3]),
                    row[4],
                ]
            )
        )
    summary = report.summary
    counted = ", ".join(f"{summary[s.value]} {s.value}" for s in FileStatus if summary[s.value])
    rate = ""
    if summary["bytes_uploaded"] and report.duration > 0:
        rate = f" ({_human_size(summary['bytes_uploaded'] / report.duration)}/s)"
    lines.append(
        f"{summary['files']} files: {counted}; {_human_size(summary['bytes'])} in {report.duration:.2f}s{rate}"
    )
    if report.manifest_key:
        lines.append(f"manifest: s3://{report.bucket}/{report.manifest_key}")
    return "\n".join(lines)


def _print_failures(report: IngestReport, stream: TextIO) -> None:
    for error in report.errors:
        print(f"async-ingest: error: {error}", file=stream)
    for result in report.files:
        if result.status is FileStatus.FAILED:
            print(f"async-ingest: error: {result.source}: {result.error}", file=stream)
        elif result.status is FileStatus.INTERRUPTED:
            print(f"async-ingest: interrupted: {result.source} was not landed", file=stream)


def _display(args: argparse.Namespace, plan: RunPlan) -> ProgressDisplay:
    """The progress display on stderr: live on a terminal, periodic lines otherwise, none with --quiet."""
    from ._display import ProgressDisplay

    mode: Literal["auto", "plain", "off"] = "auto"
    if args.quiet or args.dry_run:
        mode = "off"
    elif args.log_level != "error":
        mode = "plain"  # log lines would tear a live display
    return ProgressDisplay(
        stream=sys.stderr,
        mode=mode,
        total_files=len(plan.uploads),
        total_bytes=sum(spec.size for spec in plan.uploads),
    )


async def _run(args: argparse.Namespace, config: IngestConfig, outcome: dict[str, Any]) -> IngestReport:
    """Plan and upload; fills outcome['results'] as files finish, so an interrupted run can still report."""
    from ._ingestor import Ingestor

    results: dict[str, FileResult] = outcome["results"]

    def keep(result: FileResult) -> None:
        results[result.key] = result

    if args.local:
        from ._local import list_objects, local_endpoint

        async with local_endpoint(config) as endpoint:
            print(
                f"async-ingest: trial endpoint {endpoint.url} (moto, in this process): "
                "a test endpoint whose data is gone when this run ends",
                file=sys.stderr,
            )
            local_config = replace(config, endpoint_url=endpoint.url)
            async with Ingestor(local_config, client=endpoint.client) as ingestor:
                plan = await ingestor.plan(args.sources, date=args.date)
                outcome["plan"] = plan
                with _display(args, plan) as display:
                    outcome["display"] = display
                    report = await ingestor.ingest(plan, dry_run=args.dry_run, on_result=keep, on_progress=display)
            landed = await list_objects(endpoint.client, config.bucket)
            print(f"async-ingest: objects in s3://{config.bucket} on the trial endpoint:", file=sys.stderr)
            for key, size in landed:
                print(f"  {size:>12}  {key}", file=sys.stderr)
            return report

    ingestor = Ingestor(config)
    plan = await ingestor.plan(args.sources, date=args.date)
    outcome["plan"] = plan
    if args.dry_run:
        return await ingestor.ingest(plan, dry_run=True)
    async with ingestor:
        with _display(args, plan) as display:
            outcome["display"] = display
            return await ingestor.ingest(plan, on_result=keep, on_progress=display)


async def _main_async(args: argparse.Namespace, config: IngestConfig, outcome: dict[str, Any]) -> IngestReport | None:
    """Run, and turn SIGINT/SIGTERM into a cancellation that still aborts open uploads."""
    import anyio

    report: IngestReport | None = None
    run_scope = anyio.CancelScope()

    async def watch_signals() -> None:
        # Outside run_scope, so it still listens while a cancelled run aborts its uploads.
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                if "signal" in outcome:
                    # A second signal: the user wants out now, cleanup or not.
                    # \x1b[?25h: show the cursor a live display may have hidden.
                    show_cursor = "\x1b[?25h" if sys.stderr.isatty() else ""
                    print(f"{show_cursor}async-ingest: interrupted again, exiting now", file=sys.stderr)
                    os._exit(EXIT_SIGINT if signum == signal.SIGINT else EXIT_SIGTERM)
                outcome["signal"] = signum
                if "display" in outcome:
                    outcome["display"].stop()  # a live display is cleared, not left frozen above the message
                print("async-ingest: interrupted, aborting uploads in flight…", file=sys.stderr)
                run_scope.cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch_signals)
        try:
            with run_scope:
                report = await _run(args, config, outcome)
        except IngestError as exc:
            outcome["error"] = exc
        finally:
            tg.cancel_scope.cancel()
    return report


async def _sweep(args: argparse.Namespace, config: IngestConfig) -> int:
    """List, and unless --dry-run abort, stale multipart uploads; exit 1 if an abort failed."""
    from ._ingestor import Ingestor
    from ._transfer import EXPECTED_ERRORS, describe_error

    async with Ingestor(config) as ingestor:
        try:
            swept = await ingestor.abort_stale_uploads(
                prefix=args.prefix, older_than=args.older_than, dry_run=args.dry_run
            )
        except EXPECTED_ERRORS as exc:
            message, _ = describe_error(exc, bucket=config.bucket, key=args.prefix)
            print(f"async-ingest: error: listing uploads in s3://{config.bucket}: {message}", file=sys.stderr)
            return EXIT_FAILED
    if args.json:
        document = {"bucket": config.bucket, "dry_run": args.dry_run, "uploads": [u.to_dict() for u in swept]}
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        verb = "would abort" if args.dry_run else "aborted"
        for upload in swept:
            state = "failed: " + upload.error if upload.error else (verb if args.dry_run or upload.aborted else "")
            print(f"{upload.initiated:%Y-%m-%d %H:%M}  {upload.key}  {upload.upload_id}  {state}")
        print(f"{len(swept)} stale uploads older than {args.older_than} under s3://{config.bucket}/{args.prefix}")
    failures = [u for u in swept if u.error]
    for upload in failures:
        print(f"async-ingest: error: {upload.key}: {upload.error}", file=sys.stderr)
    return EXIT_FAILED if failures else EXIT_OK


def _interrupted_report(outcome: dict[str, Any]) -> IngestReport | None:
    plan = outcome.get("plan")
    if plan is None:
        return None
    report: IngestReport = plan.report(outcome["results"], missing=FileStatus.INTERRUPTED)
    return report


def _emit(report: IngestReport, args: argparse.Namespace) -> None:
    if args.report is not None:
        try:
            write_report(report, args.report)
        except OSError as exc:
            print(f"async-ingest: error: could not write --report {args.report}: {exc.strerror}", file=sys.stderr)
    if args.json:
        json.dump(report.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_report(report))
    _print_failures(report, sys.stderr)


def _usage_error(message: str) -> NoReturn:
    print(f"async-ingest: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    try:
        args, settings = parse_command_line(argv)
    except IngestError as exc:
        _usage_error(str(exc))
    if args.print_config:
        json.dump(settings.describe(), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    configure_logging(args.log_level, args.log_format)
    try:
        config = config_from_args(args, settings)
    except IngestError as exc:
        _usage_error(str(exc))

    import anyio

    if args.abort_stale_uploads:
        try:
            return anyio.run(_sweep, args, config, backend="asyncio")
        except KeyboardInterrupt:
            return EXIT_SIGINT
        except IngestError as exc:
            _usage_error(str(exc))

    outcome: dict[str, Any] = {"results": {}}
    try:
        report = anyio.run(_main_async, args, config, outcome, backend="asyncio")
    except KeyboardInterrupt:
        outcome["signal"] = signal.SIGINT
        report = None

    if "error" in outcome:
        _usage_error(str(outcome["error"]))
    signum = outcome.get("signal")
    if signum is not None:
        partial = _interrupted_report(outcome)
        if partial is not None:
            _emit(partial, args)
        return EXIT_SIGINT if signum == signal.SIGINT else EXIT_SIGTERM
    assert report is not None
    _emit(report, args)
    return EXIT_OK if report.ok else EXIT_FAILED


def run() -> NoReturn:
    """Console-script entry point.

    Everything is flushed and closed when main() returns; exiting without the interpreter's
    teardown saves 0.25-0.45 s per run (measured), which a scheduler running many
    short ingests pays every time.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)
