#!/usr/bin/env python3
"""How `--workers N` scales: CPU and wall time per small file of the whole async-ingest process tree.

    python benchmarks/workers.py [--workers 1 2] [--sizes 1500 6000] [--rounds 2]

Each measurement is a fresh ``async-ingest`` process over N files of 64 KiB in one folder
(generated under /dev/shm when it is there), sent 32 at a time to benchmarks/discard_server.py,
which this script starts.  The process tree's CPU is ``wait4``'s (children included), the
endpoint's from /proc.  The cost per file is the difference between the two sizes divided by the
difference in files (medians over the rounds), so the fixed costs (interpreters, imports, clients,
one per worker) drop out and are printed apart.
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import async_ingest_command, discard_env, discard_process


def make_files(root: Path, count: int) -> Path:
    folder = root / f"n{count}" / "events"
    folder.mkdir(parents=True)
    rng = random.Random(count)
    for i in range(count):
        (folder / f"e{i:06d}.json").write_bytes(rng.randbytes(64 * 1024))
    return folder.parent


def endpoint_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(folder: Path, workers: int, day: int, url: str, server: int) -> tuple[float, float, float]:
    argv = [
        *async_ingest_command(),
        *("--bucket", "lake", "--endpoint-url", url, "--recursive", "--category-from-parent"),
        *("--concurrency", "32", "--workers", str(workers), "--quiet", "--no-manifest"),
        *("--date", (datetime.date(2023, 1, 1) + datetime.timedelta(days=day)).isoformat()),
        str(folder),
    ]
    before, started = endpoint_cpu(server), time.perf_counter()
    process = subprocess.Popen(argv, env=discard_env())
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"async-ingest exited {os.waitstatus_to_exitcode(status)}")
    return wall, usage.ru_utime + usage.ru_stime, endpoint_cpu(server) - before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--sizes", type=int, nargs=2, default=[1500, 6000])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    small, large = args.sizes
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(dir=base) as tmp, discard_process() as (url, server):
        folders = {n: make_files(Path(tmp), n) for n in args.sizes}
        rows: dict[tuple[int, int], list[tuple[float, float, float]]] = {}
        day = 0
        for _ in range(args.rounds):
            for workers in args.workers:
                for n in args.sizes:
                    day += 1
                    rows.setdefault((workers, n), []).append(run(folders[n], workers, day, url, server))
        for workers in args.workers:
            med = {n: [statistics.median(r[i] for r in rows[workers, n]) for i in range(3)] for n in args.sizes}
            wall, cpu, endpoint = ((med[large][i] - med[small][i]) / (large - small) for i in range(3))
            print(
                f"--workers {workers}: {1 / wall:.0f} files/s, {cpu * 1e3:.2f} ms of CPU per file "
                f"({1 / cpu:.0f} files per CPU-second), fixed CPU {med[small][1] - small * cpu:.2f} s; "
                f"the endpoint {endpoint * 1e3:.2f} ms per file"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
