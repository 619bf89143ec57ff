"""The ``async-ingest`` command: parse -> config -> anyio.run(backend="asyncio") -> report -> exit code.

Answers ``--help``, ``--version`` and usage errors without importing botocore.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal, NoReturn, TextIO, cast

from ._args import config_from_args, parse_command_line, print_config
from ._config import IngestConfig
from ._errors import describe_error, expected_errors
from ._exceptions import IngestError, WorkerError
from ._logs import LogStream, configure_logging, say
from ._output import EXIT_FAILED, EXIT_OK, EXIT_SIGINT, EXIT_USAGE, emit, ensure_stdout, exit_code, print_listing
from ._results import FileStatus, IngestReport
from ._signals import watch_signals
from ._verify_output import is_verify_command, verify_main

if TYPE_CHECKING:
    from ._display import ProgressDisplay
    from ._plan import RunPlan
    from ._run import Run
    from ._types import S3Client

__all__ = ["main"]


def _display(args: argparse.Namespace, plan: RunPlan, clock: Callable[[], float]) -> ProgressDisplay:
    """The progress display on stderr: live on a terminal, periodic lines otherwise, none with --quiet.

    It keeps time by *clock*, the run's, so that its duration is the report's.
    """
    from ._display import ProgressDisplay

    mode: Literal["auto", "plain", "off"] = "auto"
    stream: TextIO = sys.stderr
    if args.quiet or args.dry_run:
        mode = "off"
    elif args.log_format == "json":
        mode, stream = "plain", cast("TextIO", LogStream())  # each progress line a record
    elif args.log_level != "error":
        mode = "plain"  # log lines would tear a live display
    return ProgressDisplay(
        stream=stream,
        mode=mode,
        total_files=len(plan.uploads),
        total_bytes=sum(spec.size for spec in plan.uploads),
        clock=clock,
        heartbeat=True,
        limit=args.max_bandwidth,
    )


@dataclass
class _Outcome:
    """How the command's run ended: its report, or the run or plan to make one from, a signal, or a usage error."""

    plan: RunPlan | None = None
    run: Run | None = None
    display: ProgressDisplay | None = None
    report: IngestReport | None = None
    signal: int | None = None
    error: IngestError | None = None
    #: What is on the trial endpoint (--local) at the end of the run: (key, size).
    landed: list[tuple[str, int]] | None = None

    def final_report(self, *, dry_run: bool) -> IngestReport | None:
        """The run's report: the finished one, else what the interrupted run landed (None if never planned)."""
        if self.report is None and self.run is not None:
            return self.run.report()
        if self.report is None and self.plan is not None:  # interrupted between planning and the first upload
            return self.plan.report({}, missing=FileStatus.INTERRUPTED, dry_run=dry_run)
        return self.report


async def _ingest(args: argparse.Namespace, config: IngestConfig, outcome: _Outcome) -> None:
    """Plan and upload, on the trial endpoint with --local; the run is kept in *outcome* as soon as it exists."""
    from ._ingestor import Ingestor

    async with AsyncExitStack() as stack:
        client: S3Client | None = None
        if args.local:
            from ._local import local_endpoint

            endpoint = await stack.enter_async_context(local_endpoint(config))
            say(
                logging.INFO,
                f"trial endpoint {endpoint.url} (moto, in this process): "
                "a test endpoint whose data is gone when this run ends",
                endpoint=endpoint.url,
            )
            config, client = replace(config, endpoint_url=endpoint.url), endpoint.client
        ingestor = Ingestor(config, client=client)
        outcome.plan = plan = await ingestor.plan(args.sources, date=args.date)
        await _warn_about(args, config, plan)
        if args.dry_run and args.offline:
            outcome.report = await ingestor.ingest(plan, dry_run=True)
        elif args.dry_run:
            async with ingestor:
                outcome.report = await ingestor.ingest(plan, dry_run=True, check_bucket=True)
        else:
            async with ingestor:
                outcome.run = run = ingestor.new_run(plan)
                with _display(args, plan, run.clock) as display:
                    outcome.display = display
                    outcome.report = await run.execute(on_progress=display)
        if client is not None:
            from ._local import list_objects

            outcome.landed = await list_objects(client, config.bucket)  # shown after the report


async def _warn_about(args: argparse.Namespace, config: IngestConfig, plan: RunPlan) -> None:
    """Say, before anything is sent, what in the plan is probably not what was meant (the run goes on)."""
    import anyio

    from ._hints import numbered_categories

    sources = [source for source in args.sources if isinstance(source, str)]
    specs, by_parent = plan.uploads, config.category_from_parent
    for warning in await anyio.to_thread.run_sync(
        lambda: numbered_categories(sources, specs, category_from_parent=by_parent)
    ):
        say(logging.WARNING, warning)
    share = plan.describe_share()
    if share is not None:
        say(logging.INFO, share)
    if config.move_source is not None and not await anyio.Path(config.move_source).exists():
        # The planner checked that its parent exists and can be written.
        verb = "would be" if args.dry_run else "is"
        say(logging.INFO, f"--move-source {config.move_source} does not exist: it {verb} created")


async def _main_async(args: argparse.Namespace, config: IngestConfig, outcome: _Outcome) -> None:
    """Run, and turn SIGINT/SIGTERM/SIGHUP into a cancellation that still aborts open uploads."""
    import anyio

    run_scope = anyio.CancelScope()

    def interrupted(signum: int) -> None:
        outcome.signal = signum
        if outcome.display is not None:
            outcome.display.stop()  # a live display is cleared, not left frozen above the message
        if outcome.run is not None:
            say(logging.ERROR, "interrupted, aborting uploads in flight…", label="")

    async with anyio.create_task_group() as tg:
        # Outside run_scope, so it still listens while a cancelled run aborts its uploads.
        await tg.start(watch_signals, run_scope, interrupted)
        try:
            with run_scope:
                await _ingest(args, config, outcome)
        except IngestError as exc:
            outcome.error = exc
        finally:
            tg.cancel_scope.cancel()


async def _sweep(args: argparse.Namespace, config: IngestConfig) -> int:
    """List, and unless --dry-run abort, stale multipart uploads; exit 1 if an abort failed."""
    from ._ingestor import Ingestor
    from ._output import print_swept

    async with Ingestor(config) as ingestor:
        try:
            swept = await ingestor.abort_stale_uploads(
                prefix=args.prefix, older_than=args.older_than, dry_run=args.dry_run
            )
        except expected_errors() as exc:
            message, _ = describe_error(exc, bucket=config.bucket, key=args.prefix)
            say(logging.ERROR, f"listing uploads in s3://{config.bucket}: {message}")
            return EXIT_FAILED
    if args.json:
        document = {"bucket": config.bucket, "dry_run": args.dry_run, "uploads": [u.to_dict() for u in swept]}
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_swept(swept, bucket=config.bucket, prefix=args.prefix, older_than=args.older_than, dry_run=args.dry_run)
    failures = [u for u in swept if u.error]
    for upload in failures:
        say(logging.ERROR, f"{upload.key}: {upload.error}", key=upload.key)
    return EXIT_FAILED if failures else EXIT_OK


def _usage_error(message: str) -> NoReturn:
    say(logging.ERROR, message)
    raise SystemExit(EXIT_USAGE)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    ensure_stdout()
    if is_verify_command(arguments):
        return verify_main(arguments[1:])
    try:
        args, settings = parse_command_line(arguments)
    except IngestError as exc:
        _usage_error(str(exc))
    if args.print_config:
        print_config(args, settings, sys.stdout)
        return EXIT_OK
    configure_logging(args.log_level, args.log_format, quiet=args.quiet)
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

    outcome = _Outcome()
    try:
        anyio.run(_main_async, args, config, outcome, backend="asyncio")
    except KeyboardInterrupt:  # before the signals were the run's
        outcome.signal = signal.SIGINT
    if isinstance(outcome.error, WorkerError):  # workers that cannot start: a run failure, not a usage error
        say(logging.ERROR, str(outcome.error))
        return EXIT_FAILED
    if outcome.error is not None:
        hint = "; --offline makes a dry run that contacts nothing" if args.dry_run and not args.offline else ""
        _usage_error(f"{outcome.error}{hint}")
    report = outcome.final_report(dry_run=args.dry_run)
    if report is not None:
        try:
            emit(report, as_json=args.json, report_path=args.report, quiet=args.quiet)
        except KeyboardInterrupt:  # Ctrl-C while a long report is printed: stop printing it
            outcome.signal = outcome.signal or signal.SIGINT
    elif outcome.signal is not None:
        say(logging.ERROR, "interrupted while planning", label="")
    if outcome.landed is not None:
        with contextlib.suppress(OSError):
            print_listing(outcome.landed, bucket=config.bucket)
    return exit_code(report, outcome.signal)


def run() -> NoReturn:
    """Console-script entry point: exits with main()'s code through the interpreter's normal exit.

    So atexit handlers run (coverage data, telemetry exporters…).  The objects alive by then
    are frozen first: left to the end of the process, as they would be by os._exit, instead
    of being collected one by one during the shutdown, which is most of what it costs.
    """
    code = main()
    gc.freeze()
    sys.exit(code)
