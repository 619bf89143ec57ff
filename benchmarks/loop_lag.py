#!/usr/bin/env python3
"""How late a host's 5 ms heartbeat wakes while async_ingest opens and uploads, by phase, in one process.

    python benchmarks/loop_lag.py --endpoint-url URL [--bucket lake] [--ca-bundle PEM] FILE...

The phases, in order, on one event loop with a task sleeping 5 ms at a time:

* ``ingest``: a one-shot ``await async_ingest.ingest(...)``, the first in the process
  (it imports the S3 stack and opens its client inside);
* ``open``: ``async with Ingestor(...)`` on its own, the second opening in the process;
* ``transfer``: ``ingestor.ingest(...)`` on that held Ingestor.

Prints one JSON line: for each phase the heartbeat's worst and 99th-percentile lag
(milliseconds), its number of samples and the phase's seconds.  ``--warm-up`` first calls
``async_ingest.warm_up()``, as a host would at start-up, before its loop is busy.  ``--trace-blocking MS``
also names, on stderr, the loop steps of MS or longer (see _blocking.py).  ``--rounds N`` runs
N fresh processes and pools their samples, so that the p99 is more than one run's worst beat.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import async_ingest  # a host imports it at start-up (it does not import botocore)

HEARTBEAT = 0.005


class Heartbeat:
    """A task that sleeps 5 ms at a time and records how late it wakes, by the phase it began in."""

    def __init__(self) -> None:
        self.phase = ""
        self.lags: dict[str, list[float]] = {}
        self.seconds: dict[str, float] = {}

    async def beat(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            phase, before = self.phase, time.perf_counter()
            await asyncio.sleep(HEARTBEAT)
            if phase:
                self.lags.setdefault(phase, []).append(max(0.0, time.perf_counter() - before - HEARTBEAT) * 1000)

    @asynccontextmanager
    async def during(self, phase: str) -> AsyncIterator[None]:
        await asyncio.sleep(HEARTBEAT * 2)  # a quiet beat or two between phases
        self.phase, started = phase, time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = time.perf_counter() - started
            self.phase = ""


def summarize(phases: dict[str, tuple[list[float], float]], *, raw: bool = False) -> dict[str, dict[str, Any]]:
    """Worst and 99th-percentile lag of each phase's samples (and the samples themselves if *raw*)."""
    out: dict[str, dict[str, Any]] = {}
    for phase, (lags, seconds) in phases.items():
        ordered = sorted(lags)
        p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
        out[phase] = {
            "lag_max_ms": round(ordered[-1], 2),
            "lag_p99_ms": round(p99, 2),
            "samples": len(ordered),
            "seconds": round(seconds, 3),
        }
        if raw:
            out[phase]["lags_ms"] = [round(lag, 3) for lag in lags]
    return out


def pooled(argv: list[str], rounds: int) -> dict[str, dict[str, Any]]:
    """Run this script *rounds* times, each a fresh process, and pool each phase's samples.

    With a few dozen samples per phase in one run, its p99 is its worst sample; pooled over
    rounds, the p99 is the 99th percentile of every beat of that phase.
    """
    phases: dict[str, tuple[list[float], float]] = {}
    for _ in range(rounds):
        out = subprocess.run([sys.executable, __file__, *argv, "--raw"], check=True, capture_output=True, text=True)
        for phase, result in json.loads(out.stdout.splitlines()[-1]).items():
            lags, seconds = phases.get(phase, ([], 0.0))
            phases[phase] = (lags + result["lags_ms"], seconds + result["seconds"] / rounds)
    summary = summarize(phases)
    summary["rounds"] = {"count": rounds}
    return summary


async def phases(args: argparse.Namespace, heartbeat: Heartbeat) -> None:
    """The one-shot ingest, a second opening, and a transfer on the held Ingestor."""
    settings: dict[str, Any] = {
        "bucket": args.bucket,
        "endpoint_url": args.endpoint_url,
        "region": "us-east-1",
        "concurrency": args.concurrency,
        "if_exists": "overwrite",
    }
    files = [Path(p) for p in args.files]
    async with heartbeat.during("ingest"):
        report = await async_ingest.ingest(files, date=datetime.date(2022, 5, 2), **settings)
    report.raise_for_failures()
    ingestor = async_ingest.Ingestor(**settings)
    async with heartbeat.during("open"):
        await ingestor.__aenter__()
    try:
        async with heartbeat.during("transfer"):
            report = await ingestor.ingest(files, date=datetime.date(2022, 5, 3))
        report.raise_for_failures()
    finally:
        await ingestor.aclose()


async def main_async(args: argparse.Namespace) -> dict[str, tuple[list[float], float]]:
    heartbeat, stop = Heartbeat(), asyncio.Event()
    beating = asyncio.create_task(heartbeat.beat(stop))
    try:
        await phases(args, heartbeat)
    finally:
        stop.set()
        await beating
    return {phase: (lags, heartbeat.seconds.get(phase, 0.0)) for phase, lags in heartbeat.lags.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+")
    parser.add_argument("--endpoint-url", required=True)
    parser.add_argument("--bucket", default="lake")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--ca-bundle", help="the endpoint's certificate, for a TLS endpoint (sets AWS_CA_BUNDLE)")
    parser.add_argument("--trace-blocking", type=float, metavar="MS")
    parser.add_argument("--warm-up", action="store_true", help="call async_ingest.warm_up() before the loop starts")
    parser.add_argument("--rounds", type=int, default=1, help="fresh processes to pool the samples of (default 1)")
    parser.add_argument("--raw", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rounds > 1:
        rest = list(sys.argv[1:] if argv is None else argv)
        if "--rounds" in rest:  # "--rounds N"; "--rounds=N" is one word
            at = rest.index("--rounds")
            del rest[at : at + 2]
        rest = [word for word in rest if not word.startswith("--rounds=")]
        print(json.dumps(pooled(rest, args.rounds)), flush=True)
        return 0
    if args.ca_bundle:
        os.environ["AWS_CA_BUNDLE"] = args.ca_bundle
    tracer = None
    if args.trace_blocking is not None:
        sys.path.insert(0, str(Path(__file__).parent))
        from _blocking import BlockingTracer

        tracer = BlockingTracer(args.trace_blocking / 1000, active=True)
        tracer.install()
    if args.warm_up:
        async_ingest.warm_up()
    heartbeat = asyncio.run(main_async(args))
    print(json.dumps(summarize(heartbeat, raw=args.raw)), flush=True)
    if tracer is not None:
        print(tracer.report(20), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
