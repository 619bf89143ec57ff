#!/usr/bin/env python3
"""Memory and time of the async-ingest command against the number of files, and regenerate the Scale tables.

    python benchmarks/scale.py                    # 5k, 20k, 50k, 100k real runs; a 1M-file dry run
    python benchmarks/scale.py --counts 5000 20000 --dry-counts 100000 --no-docs

Each measurement is a fresh ``async-ingest --json`` process over N tiny files (16 bytes each,
generated on tmpfs when ``/dev/shm`` is there, deleted afterwards); the real runs go to
benchmarks/discard_server.py.  Peak RSS is the process's own (``wait4``'s ``ru_maxrss``).
The cost of one file is the slope of a least-squares line through the real runs' peaks from
5,000 to 50,000 files; the fixed base is where that line meets zero files.  The table goes to
benchmarks/results/scale.json and, unless ``--no-docs``, to the Scale section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import async_ingest_command, discard_endpoint, discard_env, run_process

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "scale.json"
DOCS = HERE.parent / "docs" / "benchmarks.md"
SECTION = "## Scale"
#: Files of each measurement over which the per-file cost is fitted.
FIT_RANGE = (5_000, 50_000)
TIMEOUT = 2400.0


def make_files(root: Path, count: int) -> Path:
    """*count* files of 16 bytes under *root*, 1,000 to a folder (fast: one open/write/close each)."""
    folder = root / f"files-{count}"
    body = b"0123456789abcdef"
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    for start in range(0, count, 1000):
        sub = folder / f"d{start // 1000:04d}"
        sub.mkdir(parents=True)
        base = os.fsencode(sub)
        for i in range(start, min(count, start + 1000)):
            fd = os.open(base + b"/f%07d.csv" % i, flags, 0o644)
            os.write(fd, body)
            os.close(fd)
    return folder


def measure(folder: Path, count: int, *, dry_run: bool, endpoint: str, day: int) -> dict[str, Any]:
    argv = [
        *async_ingest_command(),
        "--bucket",
        "lake",
        "--endpoint-url",
        endpoint,
        "--region",
        "us-east-1",
        "--date",
        f"2022-05-{day:02d}",
        "--recursive",
        "--json",
        *(["--dry-run"] if dry_run else []),
        str(folder),
    ]
    result = run_process(argv, discard_env(), timeout=TIMEOUT)
    if result["returncode"] != 0:
        raise RuntimeError(f"{count} files: exit {result['returncode']}: {result['stderr'][-2000:]}")
    out = result["stdout"]
    # The head of the report, and its files counted, without loading a million of them (indent 2, one key a line).
    head = json.loads(out.partition(',\n  "files": [')[0] + "}")
    listed = out.count('\n      "source": ')
    if listed != count or head["summary"]["files"] != count:
        raise RuntimeError(f"{count} files: the report lists {listed}")
    return {
        "files": count,
        "dry_run": dry_run,
        "wall": round(result["wall"], 2),
        "cpu": round(result["cpu_total"], 2),
        "rss_mib": round(result["rss_mib"], 1),
        "manifest": head["manifest_key"],
    }


def fit(rows: list[dict[str, Any]]) -> tuple[float, float] | None:
    """(bytes per file, base MiB) of the real runs between FIT_RANGE's ends; None under two points."""
    points = [(r["files"], r["rss_mib"] * 1024 * 1024) for r in rows if not r["dry_run"]]
    points = [(n, rss) for n, rss in points if FIT_RANGE[0] <= n <= FIT_RANGE[1]]
    if len(points) < 2:
        return None
    mean_n = sum(n for n, _ in points) / len(points)
    mean_r = sum(r for _, r in points) / len(points)
    slope = sum((n - mean_n) * (r - mean_r) for n, r in points) / sum((n - mean_n) ** 2 for n, _ in points)
    return slope, (mean_r - slope * mean_n) / (1024 * 1024)


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| files | run | wall (s) | CPU (s) | peak RSS (MiB) |", "|---:|---|---:|---:|---:|"]
    for r in rows:
        kind = "dry run" if r["dry_run"] else "real (discard endpoint)"
        lines.append(f"| {r['files']:,} | {kind} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['rss_mib']:.0f} |")
    fitted = fit(rows)
    if fitted is not None:
        per_file, base = fitted
        lines += [
            "",
            f"Memory per file (real runs, {FIT_RANGE[0]:,} to {FIT_RANGE[1]:,} files): "
            f"**{per_file:.0f} bytes**, above a fixed base of **{base:.0f} MiB**.",
        ]
    return "\n".join(lines)


def update_docs(text: str) -> None:
    """Replace (or add) the Scale section at the end of docs/benchmarks.md."""
    doc = DOCS.read_text(encoding="utf-8")
    head, _, rest = doc.partition(f"\n{SECTION}\n")
    after = rest.partition("\n## ")[2]  # the sections after this one stay
    machine = f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    section = (
        f"{SECTION}\n\nbenchmarks/scale.py: one `async-ingest --json` process over N files of 16 bytes each "
        f"({machine}; {time.strftime('%Y-%m-%d')}), real runs against the discard endpoint, the report on stdout "
        "listing every file.\n\n"
    )
    tail = f"\n## {after}" if after else ""
    DOCS.write_text(f"{head.rstrip()}\n\n{section}{text}\n{tail}", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", type=int, nargs="*", default=[5_000, 20_000, 50_000, 100_000])
    parser.add_argument("--dry-counts", type=int, nargs="*", default=[1_000_000])
    parser.add_argument("--no-docs", action="store_true", help="print the table, leave docs/benchmarks.md alone")
    args = parser.parse_args()
    shm = Path("/dev/shm")
    root = Path(tempfile.mkdtemp(prefix="async-ingest-scale-", dir=shm if shm.is_dir() else None))
    rows: list[dict[str, Any]] = []
    try:
        with discard_endpoint() as endpoint:
            plan = [(n, False) for n in args.counts] + [(n, True) for n in args.dry_counts]
            for day, (count, dry_run) in enumerate(plan, start=1):
                started = time.perf_counter()
                folder = make_files(root, count)
                print(f"[scale] {count} files made in {time.perf_counter() - started:.1f}s", file=sys.stderr)
                rows.append(measure(folder, count, dry_run=dry_run, endpoint=endpoint, day=day))
                print(f"[scale] {rows[-1]}", file=sys.stderr, flush=True)
                shutil.rmtree(folder)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    text = table(rows)
    print(text)
    if not args.no_docs:
        update_docs(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
