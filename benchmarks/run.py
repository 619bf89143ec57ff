#!/usr/bin/env python3
"""Benchmark async_ingest against its peers, in alternation, and regenerate docs/benchmarks.md.

    pip install -r benchmarks/requirements.txt
    python benchmarks/run.py                      # 3 rounds against the local discard endpoint
    python benchmarks/run.py --rounds 5
    python benchmarks/run.py --quick              # 1 round, a tenth of the data: a smoke test
    python benchmarks/run.py --endpoint-url https://s3.eu-west-1.amazonaws.com --bucket my-scratch-bucket

Workloads (generated once into ``--cache-dir``):

* ``large``: movies.csv (250 MB) and series.csv (40 MB) from scripts/make_sample_data.py,
  the two files of the original job;
* ``tls``: the same two files over HTTPS, to a second discard endpoint with a certificate
  made at start-up (left out with ``--no-tls`` or ``--endpoint-url``);
* ``small``: 500 files of 64 KiB, uploaded 32 at a time.

Without ``--endpoint-url`` the uploads go to benchmarks/discard_server.py, a
BENCHMARK-ONLY S3 endpoint on 127.0.0.1 that reads and throws away every byte
(moto's ~50 MB/s would hide the differences between clients); each run is then
checked against the server's count of bytes received.  With ``--endpoint-url``
the uploads go to that endpoint (TLS included) with the credentials of the
environment, and land under ``bench/`` and ``Raw/`` in ``--bucket``.

Every measurement is a fresh process (benchmarks/_peer.py, or the client's own
command line), so CPU time and peak RSS are per client.  Medians over the rounds
go to benchmarks/results/latest.json, docs/benchmarks.md and docs/benchmarks.png.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import itertools
import json
import os
import platform
import random
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "latest.json"
MiB = 1024 * 1024
PROCESSING_DATE = datetime.date(2022, 5, 2)
#: async_ingest skips a file whose object already exists with the same checksum, so each of its
#: measurements lands under a processing date of its own, as a daily job does: new keys every time.
_DATES = itertools.count()


def fresh_date() -> str:
    """A processing date no earlier measurement of this run has used."""
    return (PROCESSING_DATE + datetime.timedelta(days=next(_DATES))).isoformat()


#: Longest a single measurement may take before it is killed and recorded as failed.
MEASUREMENT_TIMEOUT = 180.0


@dataclass(frozen=True)
class Workloads:
    """The data every client uploads."""

    large: list[Path]
    small_dir: Path
    small_count: int

    @property
    def large_bytes(self) -> int:
        """Bytes of the large workload."""
        return sum(p.stat().st_size for p in self.large)

    @property
    def small_bytes(self) -> int:
        """Bytes of the small-files workload."""
        return sum(p.stat().st_size for p in self.small_dir.iterdir())


@dataclass(frozen=True)
class Target:
    """Where the uploads go."""

    endpoint_url: str
    bucket: str
    region: str
    env: dict[str, str]
    #: The discard endpoint's stats URL, when it is the target.
    stats_url: str | None


@dataclass(frozen=True)
class Measurement:
    """One client on one workload: how to start it."""

    name: str
    workload: str
    label: str
    argv: Callable[[Target, Workloads], list[str] | None]
    #: True when the process prints a _peer.py JSON line with in-process phases.
    peer: bool = True


# --- workloads -----------------------------------------------------------------------------------


def prepare_workloads(cache: Path, *, quick: bool) -> Workloads:
    """Generate the workloads under *cache* unless they are there already."""
    large_dir = cache / ("large-quick" if quick else "large")
    if not all((large_dir / name).exists() for name in ("movies.csv", "series.csv")):
        log(f"generating {large_dir} (scripts/make_sample_data.py)…")
        scale = ["--scale", "0.1"] if quick else []
        subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "make_sample_data.py"), str(large_dir), *scale], check=True
        )
    count = 100 if quick else 500
    small_dir = cache / f"small-{count}x64KiB"
    if not small_dir.exists() or len(list(small_dir.iterdir())) != count:
        log(f"generating {small_dir}…")
        tmp = Path(tempfile.mkdtemp(dir=cache))
        rng = random.Random(6)
        for i in range(count):
            (tmp / f"event-{i:05d}.json").write_bytes(rng.randbytes(64 * 1024))
        if small_dir.exists():
            shutil.rmtree(small_dir)
        tmp.rename(small_dir)
    return Workloads(large=[large_dir / "movies.csv", large_dir / "series.csv"], small_dir=small_dir, small_count=count)


# --- the discard endpoint ------------------------------------------------------------------------


@contextlib.contextmanager
def discard_endpoint(tls_cert: Path | None = None) -> Iterator[str]:
    """Start benchmarks/discard_server.py in its own process; yield its URL.

    With *tls_cert* it serves HTTPS, with a certificate it makes and writes there.
    """
    with discard_process(tls_cert) as (url, _):
        yield url


@contextlib.contextmanager
def discard_process(tls_cert: Path | None = None) -> Iterator[tuple[str, int]]:
    """discard_endpoint's server, yielding its URL and its process id."""
    tls = ["--tls", str(tls_cert)] if tls_cert is not None else []
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "discard_server.py"), "--port", "0", *tls],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "listening on " not in line:
            raise RuntimeError(f"discard server did not start: {line!r}")
        log(line.strip())
        yield line.rsplit("listening on ", 1)[1].strip(), proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def discard_stats(target: Target) -> dict[str, int] | None:
    """The discard endpoint's counters, or None for a real endpoint."""
    if target.stats_url is None:
        return None
    cafile = target.env.get("AWS_CA_BUNDLE")
    context = ssl.create_default_context(cafile=cafile) if cafile else None
    with urllib.request.urlopen(target.stats_url, timeout=10, context=context) as response:
        stats: dict[str, int] = json.load(response)
        return stats


def discard_env() -> dict[str, str]:
    """The environment of every client when the discard endpoint is the target: throwaway credentials only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ASYNC_INGEST_"))}
    env.update(
        AWS_ACCESS_KEY_ID="benchmark-discard",
        AWS_SECRET_ACCESS_KEY="benchmark-discard-not-a-secret",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


# --- the clients ---------------------------------------------------------------------------------


def _peer(client: str, workload: str, concurrency: int, *extra: str) -> Callable[[Target, Workloads], list[str]]:
    def argv(target: Target, data: Workloads) -> list[str]:
        paths = [str(p) for p in data.large] if workload in LARGE else [str(data.small_dir)]
        return [
            sys.executable,
            str(HERE / "_peer.py"),
            client,
            *paths,
            "--endpoint-url",
            target.endpoint_url,
            "--bucket",
            target.bucket,
            "--region",
            target.region,
            "--concurrency",
            str(concurrency),
            "--part-size",
            str(8 * MiB),
            *(["--date", fresh_date()] if client == "async_ingest" else []),
            *extra,
        ]

    return argv


def async_ingest_command() -> list[str]:
    """The installed ``async-ingest`` console script (or ``python -m async_ingest`` without one)."""
    script = shutil.which("async-ingest", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "async_ingest"]


def _cli(target: Target, data: Workloads) -> list[str]:
    return [
        *async_ingest_command(),
        "--bucket",
        target.bucket,
        "--endpoint-url",
        target.endpoint_url,
        "--region",
        target.region,
        "--date",
        fresh_date(),
        "--json",
        *map(str, data.large),
    ]


def aws_cli() -> str | None:
    """The aws CLI's real executable (past a pyenv shim), or None when it is not installed."""
    found = shutil.which("aws")
    if found and "/.pyenv/shims/" in found:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            found = subprocess.run(["pyenv", "which", "aws"], capture_output=True, text=True, check=True).stdout.strip()
    return found


def _awscli(target: Target, data: Workloads) -> list[str] | None:
    aws = aws_cli()
    if aws is None:
        return None
    folder = data.large[0].parent
    return [
        aws,
        "s3",
        "cp",
        str(folder),
        f"s3://{target.bucket}/bench/awscli/",
        "--recursive",
        "--endpoint-url",
        target.endpoint_url,
        "--region",
        target.region,
        "--only-show-errors",
    ]


LARGE_CONCURRENCY = 8
#: The workloads of movies.csv and series.csv: over HTTP, and over HTTPS.
LARGE = ("large", "tls")
SMALL_CONCURRENCY = 32

MEASUREMENTS = [
    Measurement("async_ingest", "large", "async_ingest (library, in-process)", _peer("async_ingest", "large", 8)),
    Measurement("async_ingest_cli", "large", "async-ingest CLI", _cli, peer=False),
    Measurement("boto3_seq", "large", "boto3 upload_file, sequential (original job)", _peer("boto3_seq", "large", 1)),
    Measurement("boto3_threads2", "large", "boto3 upload_file, 2 threads", _peer("boto3_threads", "large", 2)),
    Measurement(
        "aioboto3_upload_file", "large", "aioboto3 upload_file, concurrent", _peer("aioboto3_upload_file", "large", 2)
    ),
    Measurement("obstore", "large", "obstore put_async, concurrent", _peer("obstore", "large", 2)),
    Measurement("awscli", "large", "aws s3 cp --recursive", _awscli, peer=False),
    # The same files over HTTPS (the discard endpoint with a certificate made at start-up).
    Measurement("async_ingest", "tls", "async_ingest (library, in-process)", _peer("async_ingest", "tls", 8)),
    Measurement("boto3_seq", "tls", "boto3 upload_file, sequential", _peer("boto3_seq", "tls", 1)),
    Measurement("aioboto3_upload_file", "tls", "aioboto3 upload_file", _peer("aioboto3_upload_file", "tls", 2)),
    Measurement("obstore", "tls", "obstore put_async", _peer("obstore", "tls", 2)),
    # The small files are one dataset in one folder, so one partition: one LIST tells which are new.
    Measurement(
        "async_ingest",
        "small",
        "async_ingest (library)",
        _peer("async_ingest", "small", SMALL_CONCURRENCY, "--category-from-parent"),
    ),
    Measurement(
        "async_ingest_workers2",
        "small",
        "async_ingest (library, 2 workers)",
        _peer("async_ingest", "small", SMALL_CONCURRENCY, "--category-from-parent", "--workers", "2"),
    ),
    Measurement(
        "aioboto3_upload_file",
        "small",
        "aioboto3 upload_file",
        _peer("aioboto3_upload_file", "small", SMALL_CONCURRENCY),
    ),
    Measurement(
        "aioboto3_put_object", "small", "aioboto3 put_object", _peer("aioboto3_put_object", "small", SMALL_CONCURRENCY)
    ),
    Measurement(
        "boto3_threads32", "small", "boto3 upload_file, 32 threads", _peer("boto3_threads", "small", SMALL_CONCURRENCY)
    ),
    Measurement("obstore", "small", "obstore put_async", _peer("obstore", "small", SMALL_CONCURRENCY)),
]


# --- running -------------------------------------------------------------------------------------


def log(message: str) -> None:
    """Progress on stderr."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def run_process(argv: list[str], env: dict[str, str], timeout: float = MEASUREMENT_TIMEOUT) -> dict[str, Any]:
    """Run *argv* to completion; its wall time, CPU time, peak RSS, exit code and output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        env = {**env, "BENCH_T0": repr(time.time())}
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, stdin=subprocess.DEVNULL)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {
            "wall": wall,
            "cpu_total": usage.ru_utime + usage.ru_stime,
            "cpu_user": usage.ru_utime,
            "cpu_sys": usage.ru_stime,
            "rss_mib": usage.ru_maxrss / 1024,  # Linux reports KiB
            "returncode": proc.returncode,
            "stdout": out.read().decode(errors="replace"),
            "stderr": err.read().decode(errors="replace"),
        }


def measure(m: Measurement, target: Target, data: Workloads, round_no: int) -> dict[str, Any] | None:
    """Run one measurement; a row for the results (with ``error`` set if it failed), or None if unavailable."""
    argv = m.argv(target, data)
    if argv is None:
        return None
    expected = data.large_bytes if m.workload in LARGE else data.small_bytes
    before = discard_stats(target)
    load_before = os.getloadavg()[0]
    proc = run_process(argv, target.env)
    after = discard_stats(target)
    row: dict[str, Any] = {
        "round": round_no,
        "workload": m.workload,
        "client": m.name,
        "bytes": expected,
        "files": len(data.large) if m.workload in LARGE else data.small_count,
        **{k: proc[k] for k in ("wall", "cpu_total", "cpu_user", "cpu_sys", "rss_mib")},
        "loadavg_1m": round(load_before, 2),
    }
    problems = []
    reported_ok = m.peer and proc["stdout"].rstrip().endswith("}")
    if proc["returncode"] < 0 and reported_ok:
        # Killed by a signal after printing a complete measurement: a crash while the interpreter
        # shuts down (seen with obstore under load, SIGABRT).  The uploads were done and are checked
        # below, so the measurement stands, with the crash noted.
        row["exit_warning"] = f"killed by signal {-proc['returncode']} after reporting: {proc['stderr'].strip()[-200:]}"
    elif proc["returncode"] != 0:
        output = (proc["stdout"] + proc["stderr"]).strip()[-400:]
        problems.append(f"exit code {proc['returncode']}: {output or '(no output)'}")
    if m.peer and not problems:
        try:
            reported = json.loads(proc["stdout"].strip().splitlines()[-1])
            reported.pop("client", None)  # the measurement's name, not the peer's, identifies the row
            reported.pop("bytes", None)
            reported.pop("files", None)
            row.update(reported)
        except (ValueError, IndexError):
            problems.append(f"no JSON line from the peer: {proc['stdout'][-200:]!r} {proc['stderr'][-400:]!r}")
    elif m.name == "async_ingest_cli" and not problems:
        try:
            report = json.loads(proc["stdout"])
        except ValueError:
            problems.append(f"no JSON report from the CLI: {proc['stdout'][-200:]!r}")
        else:
            row["report_duration"] = report["duration"]
            if report["summary"].get("uploaded") != row["files"]:
                problems.append(f"the CLI did not upload every file: {report['summary']}")
    if before is not None and after is not None:
        received = after["object_bytes"] - before["object_bytes"]
        row["received_bytes"] = received
        # More is allowed (async_ingest also writes a run manifest; a retried request is sent twice)
        # and recorded; less means a client reported success without sending everything.
        row["extra_bytes"] = received - expected
        if received < expected and not problems:
            problems.append(f"the endpoint received {received} object bytes, expected at least {expected}")
    if problems:
        row["error"] = "; ".join(problems)
    return row


def time_help(target: Target, times: int = 5) -> list[float]:
    """Wall time of ``async-ingest --help``, *times* times."""
    walls = []
    for _ in range(times):
        proc = run_process([*async_ingest_command(), "--help"], target.env, timeout=60)
        if proc["returncode"] == 0:
            walls.append(proc["wall"])
    return walls


def describe(row: dict[str, Any]) -> str:
    """One progress line for a measurement."""
    if "error" in row:
        return f"{row['workload']:5} {row['client']:22} FAILED: {row['error'][:300]}"
    warning = f"  (warning: {row['exit_warning']})" if "exit_warning" in row else ""
    transfer = f"transfer {row['transfer']:6.2f}s" if "transfer" in row else " " * 15
    lag = (
        f"  lag p99/max {row['lag_p99_ms']:.1f}/{row['lag_max_ms']:.1f} ms" if row.get("lag_p99_ms") is not None else ""
    )
    return (
        f"{row['workload']:5} {row['client']:22} wall {row['wall']:6.2f}s  {transfer}  "
        f"cpu {row['cpu_total']:5.2f}s  rss {row['rss_mib']:6.1f} MiB{lag}{warning}"
    )


def run_rounds(
    targets: dict[str, Target], data: Workloads, rounds: int, only: set[str] | None
) -> tuple[list[dict[str, Any]], list[float]]:
    """Every measurement once per round, in an order rotated each round; plus --help timings.

    *targets* is the endpoint of each workload; a workload without one is not measured.
    """
    chosen = [m for m in MEASUREMENTS if only is None or m.name in only]
    rows: list[dict[str, Any]] = []
    helps: list[float] = []
    for round_no in range(1, rounds + 1):
        log(f"round {round_no}/{rounds}")
        for workload in ("large", "tls", "small"):
            group = [m for m in chosen if m.workload == workload]
            target = targets.get(workload)
            if not group or target is None:
                continue
            shift = (round_no - 1) % len(group)
            for m in group[shift:] + group[:shift]:
                row = measure(m, target, data, round_no)
                if row is None:
                    continue
                rows.append(row)
                log(describe(row))
        helps.extend(time_help(targets["large"]))
    return rows, helps


# --- summarising ---------------------------------------------------------------------------------

METRICS = (
    "wall",
    "transfer",
    "startup",
    "t_import",
    "t_client",
    "cpu_total",
    "cpu_transfer",
    "rss_mib",
    "lag_p99_ms",
    "lag_max_ms",
    "lag_open_max_ms",
    "cpu_loop",
    "rss_ready_mib",
    "report_duration",
    "extra_bytes",
    "loadavg_1m",
)


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Medians per workload and client of every metric, over the successful rounds."""
    summary: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        if "error" in row:
            continue
        entry = summary.setdefault(row["workload"], {}).setdefault(
            row["client"], {"runs": 0, "bytes": row["bytes"], "files": row["files"]}
        )
        entry["runs"] += 1
        for metric in METRICS:
            if row.get(metric) is not None:
                entry.setdefault("_" + metric, []).append(row[metric])
    for clients in summary.values():
        for entry in clients.values():
            for metric in METRICS:
                values = entry.pop("_" + metric, None)
                if values:
                    entry[metric] = statistics.median(values)
            if "transfer" in entry and entry["transfer"] > 0:
                entry["mb_per_s"] = entry["bytes"] / entry["transfer"] / 1e6
                entry["files_per_s"] = entry["files"] / entry["transfer"]
            if "cpu_transfer" in entry:
                entry["cpu_s_per_gb"] = entry["cpu_transfer"] / (entry["bytes"] / 1e9)
    return summary


def _get(summary: dict[str, Any], workload: str, client: str, metric: str) -> float | None:
    value = summary.get(workload, {}).get(client, {}).get(metric)
    return None if value is None else float(value)


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def _compare(value: float, op: str, bound: float) -> bool:
    if op == "<=":
        return value <= bound
    if op == "<":
        return value < bound
    return value >= bound


def evaluate_targets(summary: dict[str, Any], help_median: float | None) -> list[dict[str, Any]]:
    """The targets of issue #6, each with its measured value and whether it passes."""
    g = _get
    checks: list[tuple[str, float | None, str, float]] = [
        (
            "transfer time: async_ingest / obstore (large)",
            _ratio(g(summary, "large", "async_ingest", "transfer"), g(summary, "large", "obstore", "transfer")),
            "<=",
            1.0,
        ),
        (
            "transfer time: async_ingest / obstore (large, TLS)",
            _ratio(g(summary, "tls", "async_ingest", "transfer"), g(summary, "tls", "obstore", "transfer")),
            "<=",
            1.0,
        ),
        (
            "transfer time: async_ingest / boto3 sequential (large)",
            _ratio(g(summary, "large", "async_ingest", "transfer"), g(summary, "large", "boto3_seq", "transfer")),
            "<=",
            0.5,
        ),
        (
            "whole process: async-ingest CLI / boto3 script (large)",
            _ratio(g(summary, "large", "async_ingest_cli", "wall"), g(summary, "large", "boto3_seq", "wall")),
            "<=",
            1.0,
        ),
        ("async-ingest --help wall time (s)", help_median, "<=", 0.3),
        ("peak RSS, async-ingest CLI (MiB, large)", g(summary, "large", "async_ingest_cli", "rss_mib"), "<=", 120.0),
        ("peak RSS, library run (MiB, large)", g(summary, "large", "async_ingest", "rss_mib"), "<=", 120.0),
        ("heartbeat lag p99, library run (ms, large)", g(summary, "large", "async_ingest", "lag_p99_ms"), "<", 5.0),
        ("heartbeat lag max, library run (ms, large)", g(summary, "large", "async_ingest", "lag_max_ms"), "<", 20.0),
        (
            "small files/s: async_ingest (2 workers) / aioboto3 upload_file",
            _ratio(
                g(summary, "small", "async_ingest_workers2", "files_per_s"),
                g(summary, "small", "aioboto3_upload_file", "files_per_s"),
            ),
            ">=",
            2.0,
        ),
        (
            "small files/s: async_ingest (2 workers) / obstore",
            _ratio(
                g(summary, "small", "async_ingest_workers2", "files_per_s"),
                g(summary, "small", "obstore", "files_per_s"),
            ),
            ">=",
            0.5,
        ),
        (
            "CPU s per GB: async_ingest / boto3 sequential (large, transfer)",
            _ratio(
                g(summary, "large", "async_ingest", "cpu_s_per_gb"), g(summary, "large", "boto3_seq", "cpu_s_per_gb")
            ),
            "<=",
            1.0,
        ),
    ]
    targets = []
    for name, value, op, bound in checks:
        passed = (
            None
            if value is None
            else (value <= bound if op == "<=" else value < bound if op == "<" else value >= bound)
        )
        targets.append({"name": name, "value": value, "op": op, "target": bound, "pass": passed})
    return targets


def source_version() -> str:
    """The commit measured, and whether async_ingest/ had uncommitted changes (with a digest of them)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    diff = git("diff", "HEAD", "--", "async_ingest")
    if not diff:
        return commit
    digest = hashlib.sha256(diff.encode()).hexdigest()[:12]
    return f"{commit} + uncommitted changes to async_ingest/ (diff sha256 {digest})"


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kib / 1024 / 1024:.1f} GiB"
    versions = {}
    for package in ("async-ingest", "aioboto3", "aiobotocore", "aiohttp", "botocore", "boto3", "awscrt", "anyio"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    for package in ("obstore", "uvloop"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    aws = aws_cli()
    if aws:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([aws, "--version"], capture_output=True, text=True, timeout=30)
            versions["aws CLI"] = (out.stdout or out.stderr).strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
    }


def print_table(summary: dict[str, Any], targets: list[dict[str, Any]], help_median: float | None) -> None:
    """The medians and the targets, on stdout."""
    from report import format_summary_table, format_targets_table

    print()
    print(format_summary_table(summary))
    print()
    if help_median is not None:
        print(f"async-ingest --help: {help_median:.3f} s (median)")
    print(format_targets_table(targets))


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run the rounds, write the results and the docs."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every measurement [3]")
    parser.add_argument("--quick", action="store_true", help="1 round on a tenth of the data, docs not rewritten")
    parser.add_argument("--endpoint-url", help="a real S3 endpoint instead of the local discard server")
    parser.add_argument("--bucket", default="lake", help="bucket to upload into [lake]")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "async-ingest-bench",
        help="where the generated workloads are kept [~/.cache/async-ingest-bench]",
    )
    parser.add_argument("--only", help="comma-separated client names to run (e.g. async_ingest,obstore)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"results JSON [{RESULTS.relative_to(ROOT)}]")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md and .png")
    parser.add_argument("--no-tls", action="store_true", help="leave out the large files over HTTPS")
    args = parser.parse_args(argv)
    rounds = 1 if args.quick else args.rounds
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    data = prepare_workloads(args.cache_dir, quick=args.quick)
    only = set(args.only.split(",")) if args.only else None
    started = datetime.datetime.now(datetime.UTC)

    with contextlib.ExitStack() as stack:
        if args.endpoint_url:
            target = Target(args.endpoint_url, args.bucket, args.region or "us-east-1", dict(os.environ), None)
            targets = {"large": target, "small": target}
        else:
            url = stack.enter_context(discard_endpoint())
            target = Target(url, args.bucket, "us-east-1", discard_env(), url + "/_discard/stats")
            targets = {"large": target, "small": target}
            if not args.no_tls:
                cert = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "discard-ca.pem"
                tls_url = stack.enter_context(discard_endpoint(cert))
                # Every client trusts the endpoint's certificate: botocore by AWS_CA_BUNDLE, obstore by SSL_CERT_FILE.
                env = {**discard_env(), "AWS_CA_BUNDLE": str(cert), "SSL_CERT_FILE": str(cert)}
                targets["tls"] = Target(tls_url, args.bucket, "us-east-1", env, tls_url + "/_discard/stats")
        rows, helps = run_rounds(targets, data, rounds, only)

    summary = summarise(rows)
    help_median = statistics.median(helps) if helps else None
    targets = evaluate_targets(summary, help_median)
    results = {
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": "python benchmarks/run.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "rounds": rounds,
        "quick": args.quick,
        "endpoint": args.endpoint_url or "discard (benchmarks/discard_server.py on 127.0.0.1)",
        "workloads": {
            "large": {
                "files": [p.name for p in data.large],
                "bytes": data.large_bytes,
                "concurrency": LARGE_CONCURRENCY,
            },
            "tls": {"files": [p.name for p in data.large], "bytes": data.large_bytes, "concurrency": LARGE_CONCURRENCY},
            "small": {"files": data.small_count, "bytes": data.small_bytes, "concurrency": SMALL_CONCURRENCY},
        },
        "machine": machine(),
        "source": source_version(),
        "help_wall": helps,
        "help_median": help_median,
        "summary": summary,
        "targets": targets,
        "runs": rows,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    log(f"wrote {args.output}")
    print_table(summary, targets, help_median)
    if not args.quick and not args.no_docs:
        from report import write_docs

        for path in write_docs(results):
            log(f"wrote {path}")
    failures = [row for row in rows if "error" in row]
    return 1 if failures else 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(main())
