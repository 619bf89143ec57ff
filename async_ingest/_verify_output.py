"""The ``async-ingest verify`` command: its parser, its table, its exit code.

``async-ingest verify MANIFEST`` checks what a run landed; any other first argument is
the ingest command's (a source called ``verify`` is reachable as ``./verify``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from ._config import IngestConfig
from ._exceptions import IngestError
from ._parse import parse_date, parse_size, positive_int
from ._shard import Shard

if TYPE_CHECKING:
    from ._verify import VerifyReport

__all__ = ["build_verify_parser", "format_verify_report", "is_verify_command", "verify_main"]

EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_USAGE = 2
EXIT_SIGINT = 130

PROG = "async-ingest verify"

DESCRIPTION = """\
Check that what a run landed is still in the lake as the run left it: every object its
manifest lists as uploaded or skipped is present, with the manifest's size and stored
checksum.  With --against-local, the local files must still match too.

  async-ingest verify s3://lake/Raw/Local/_manifests/2022/05/02/20220502T101500Z-1a2b3c4d.json
  async-ingest verify --bucket lake --date 2022-05-02 20220502T101500Z-1a2b3c4d
"""

EPILOG = """\
exit codes: 0 everything matches; 1 an object or local file does not (each one named);
2 usage error, or the manifest is missing, unreadable or not a manifest (nothing checked).
"""

#: Arguments that only ever come from this command line (the rest are settings).
_SWITCHES = {"manifest": None, "config": None, "against_local": False, "json": False}


def is_verify_command(argv: Sequence[str]) -> bool:
    """True when *argv* (without the program name) asks for ``verify``; ``./verify`` stays a source."""
    return bool(argv) and argv[0] == "verify"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """A usage error in one line (``--help`` shows the usage)."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_verify_parser() -> argparse.ArgumentParser:
    """The ``async-ingest verify`` command line."""
    parser = _Parser(
        prog=PROG,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument(
        "manifest", metavar="MANIFEST", help="s3://BUCKET/KEY of a run's manifest, or a run id (with --bucket)"
    )
    parser.add_argument("--date", type=parse_date, help="with a run id: the run's processing date, YYYY-MM-DD [today]")
    parser.add_argument("--bucket", help="with a run id: the bucket [env ASYNC_INGEST_BUCKET]")
    parser.add_argument(
        "--shard",
        type=Shard.parse,
        metavar="INDEX/COUNT",
        help="with a run id: the manifest of this shard of the run [env ASYNC_INGEST_SHARD]",
    )
    parser.add_argument("--endpoint-url", help="S3-compatible endpoint [env AWS_ENDPOINT_URL]")
    parser.add_argument("--region", help="AWS region [env AWS_REGION]")
    parser.add_argument("--profile", help="AWS profile from the shared config files [env AWS_PROFILE]")
    parser.add_argument("--config", type=Path, metavar="PATH", help="settings file, as for the ingest command")
    parser.add_argument(
        "--against-local",
        action="store_true",
        help="also check that each local file (the manifest's source path) still has its size and checksum",
    )
    parser.add_argument(
        "--part-size",
        type=parse_size,
        help="the run's part size, for local multipart SHA-256 checksums when S3 does not say [8MiB]",
    )
    parser.add_argument("--concurrency", type=positive_int, help="requests in flight at once [8]")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON document on stdout")
    return parser


class _Usage(Exception):
    """A bad input: one line on stderr, exit 2."""


def _locate(args: argparse.Namespace) -> tuple[IngestConfig, str]:
    """The configuration and the manifest key the arguments name; raises _Usage or IngestError."""
    from ._configfile import find_config_file, load_config_file
    from ._settings import resolve_settings
    from ._verify import manifest_key_for, parse_s3_uri

    flags = {name: value for name, value in vars(args).items() if name not in _SWITCHES}
    path = find_config_file(args.config, Path())
    loaded = load_config_file(path) if path is not None else None
    settings = resolve_settings(
        flags, os.environ, loaded.values if loaded else None, os.fsdecode(loaded.path) if loaded else None
    )
    target: str = args.manifest
    if "/" in target or ":" in target:
        if not target.startswith("s3://"):
            raise _Usage(f"invalid MANIFEST {target!r}: use s3://BUCKET/KEY or a run id (with --bucket and --date)")
        bucket, key = parse_s3_uri(target)
        if "bucket" in flags and flags["bucket"] != bucket:
            raise _Usage(f"--bucket {flags['bucket']} differs from the manifest URI's bucket {bucket!r}")
        for name in ("date", "shard"):
            if name in flags:
                raise _Usage(f"--{name} goes with a run id, not with an s3:// URI")
        return settings.config(bucket=bucket, shard=None), key
    config = settings.config()
    date: datetime.date = settings.values["date"] or config.today()
    return config, manifest_key_for(config, target, date)


async def _verify(config: IngestConfig, manifest_key: str, against_local: bool) -> VerifyReport:
    from ._ingestor import Ingestor
    from ._verify import verify_manifest

    async with Ingestor(config) as ingestor:
        return await verify_manifest(
            ingestor.client,
            bucket=config.bucket,
            manifest_key=manifest_key,
            against_local=against_local,
            concurrency=config.concurrency,
            part_size=config.part_size,
        )


def format_verify_report(report: VerifyReport) -> str:
    """A readable table of the checks."""
    rows = [("STATUS", "KEY", "DETAIL")] + [(c.status, c.key, c.detail) for c in report.checks]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [f"run {report.run_id}  s3://{report.bucket}  date {report.date}  manifest {report.manifest_key}"]
    lines += [f"{status.ljust(widths[0])}  {key.ljust(widths[1])}  {detail}".rstrip() for status, key, detail in rows]
    counted = ", ".join(f"{count} {status}" for status, count in report.summary.items() if status != "files")
    local = " and their local files" if report.against_local else ""
    verdict = "everything matches" if report.ok else f"{len(report.mismatches)} do not match"
    lines.append(f"{report.summary['files']} files{local}: {counted or 'none'}; {verdict}")
    return "\n".join(lines)


def _emit(report: VerifyReport, as_json: bool) -> None:
    if as_json:
        json.dump(report.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_verify_report(report))
    for check in report.mismatches:
        print(f"{PROG}: {check.status}: s3://{report.bucket}/{check.key}: {check.detail}", file=sys.stderr)


def verify_main(argv: Sequence[str]) -> int:
    """Run ``async-ingest verify`` with *argv*, the arguments after ``verify``; returns the exit code."""
    try:
        args = argparse.Namespace(**{**_SWITCHES, **vars(build_verify_parser().parse_args(list(argv)))})
    except SystemExit as exc:  # --help (0) or argparse's usage error (2), already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        config, manifest_key = _locate(args)
    except (_Usage, IngestError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    import anyio

    try:
        report: Any = anyio.run(_verify, config, manifest_key, args.against_local, backend="asyncio")
    except KeyboardInterrupt:
        return EXIT_SIGINT
    except IngestError as exc:  # the manifest cannot be read or is not one; no credentials…
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    _emit(report, args.json)
    return EXIT_OK if report.ok else EXIT_MISMATCH
