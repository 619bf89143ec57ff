#!/usr/bin/env python3
"""Render benchmark results (benchmarks/results/latest.json) as docs/benchmarks.md and docs/benchmarks.png.

    python benchmarks/report.py [RESULTS_JSON]

``benchmarks/run.py`` calls this after every full run; run it by hand to
redraw the docs from a results file without measuring again.  Anything in
docs/benchmarks.md after the line ``<!-- notes: kept when regenerated -->``
is hand-written and carried over.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DOC = ROOT / "docs" / "benchmarks.md"
CHART = ROOT / "docs" / "benchmarks.png"
NOTES_MARKER = "<!-- notes: kept when regenerated -->"

LABELS = {
    "large": {
        "async_ingest": "async_ingest (library, in-process)",
        "async_ingest_cli": "async-ingest CLI (whole process)",
        "boto3_seq": "boto3 upload_file, sequential (original job)",
        "boto3_threads2": "boto3 upload_file, 2 threads",
        "aioboto3_upload_file": "aioboto3 upload_file, both files at once",
        "obstore": "obstore put_async, both files at once",
        "awscli": "aws s3 cp --recursive",
    },
    "tls": {
        "async_ingest": "async_ingest (library, in-process)",
        "boto3_seq": "boto3 upload_file, sequential",
        "aioboto3_upload_file": "aioboto3 upload_file, both files at once",
        "obstore": "obstore put_async, both files at once",
    },
    "small": {
        "async_ingest": "async_ingest (library)",
        "async_ingest_workers2": "async_ingest (library, 2 workers)",
        "aioboto3_upload_file": "aioboto3 upload_file",
        "aioboto3_put_object": "aioboto3 put_object",
        "boto3_threads32": "boto3 upload_file, 32 threads",
        "obstore": "obstore put_async",
    },
}


def _label(workload: str, client: str) -> str:
    return LABELS.get(workload, {}).get(client, client)


def _fmt(value: Any, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _lag(e: dict[str, Any]) -> str:
    if e.get("lag_p99_ms") is None:
        return "–"
    return f"{e['lag_p99_ms']:.1f} / {e['lag_max_ms']:.1f}"


def _large_table(clients: dict[str, Any], workload: str, title: str) -> str:
    """The table of one large-files workload."""
    rows = []
    for client, e in clients.items():
        rows.append(
            [
                _label(workload, client),
                _fmt(e.get("wall"), ".2f"),
                _fmt(e.get("startup"), ".2f"),
                _fmt(e.get("transfer"), ".2f"),
                _fmt(e.get("mb_per_s"), ".0f"),
                _fmt(e.get("cpu_total"), ".2f"),
                _fmt(e.get("cpu_s_per_gb"), ".2f"),
                _fmt(e.get("cpu_loop"), ".2f") if e.get("lag_p99_ms") is not None else "–",
                _fmt(e.get("rss_ready_mib"), ".0f"),
                _fmt(e.get("rss_mib"), ".0f"),
                _lag(e),
                _fmt(e.get("lag_open_max_ms"), ".0f"),
                str(e["runs"]),
            ]
        )
    header = [
        title,
        "whole process s",
        "startup s",
        "transfer s",
        "MB/s",
        "CPU s",
        "CPU s/GB (transfer)",
        "loop-thread CPU s",
        "RSS before transfer MiB",
        "peak RSS MiB",
        "loop lag p99 / max ms",
        "lag while opening, max ms",
        "runs",
    ]
    return _table(header, rows)


def format_summary_table(summary: dict[str, Any]) -> str:
    """Markdown tables of the medians: large files (over HTTP, then HTTPS), then small files."""
    out = []
    for workload, title in (
        ("large", "large files (movies 250 MB + series 40 MB)"),
        ("tls", "the same over HTTPS (TLS)"),
    ):
        if summary.get(workload):
            out.append(_large_table(summary[workload], workload, title))
    small = summary.get("small", {})
    if small:
        rows = []
        for client, e in small.items():
            rows.append(
                [
                    _label("small", client),
                    _fmt(e.get("wall"), ".2f"),
                    _fmt(e.get("transfer"), ".2f"),
                    _fmt(e.get("files_per_s"), ".0f"),
                    _fmt(e.get("cpu_total"), ".2f"),
                    _fmt(e.get("cpu_loop"), ".2f") if e.get("lag_p99_ms") is not None else "–",
                    _fmt(e.get("rss_mib"), ".0f"),
                    _lag(e),
                    str(e["runs"]),
                ]
            )
        files = next(iter(small.values()))["files"]
        header = [
            f"small files ({files} x 64 KiB, 32 at once)",
            "whole process s",
            "transfer s",
            "files/s",
            "CPU s",
            "loop-thread CPU s",
            "peak RSS MiB",
            "loop lag p99 / max ms",
            "runs",
        ]
        out.append(_table(header, rows))
    return "\n\n".join(out)


def format_targets_table(targets: list[dict[str, Any]]) -> str:
    """Markdown table of the targets with pass/fail."""
    rows = []
    for t in targets:
        verdict = "n/a" if t["pass"] is None else ("PASS" if t["pass"] else "FAIL")
        rows.append([t["name"], _fmt(t["value"], ".3g"), f"{t['op']} {t['target']:g}", verdict])
    return _table(["target", "measured", "goal", "result"], rows)


def _machine(results: dict[str, Any]) -> str:
    m = results["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    loads = sorted(r["loadavg_1m"] for r in results["runs"] if "loadavg_1m" in r)
    load = (
        f"- 1-minute load average before each measurement: median {loads[len(loads) // 2]:.1f}, "
        f"max {loads[-1]:.1f} on {m['cores']} cores (anything else running inflates the times)\n"
        if loads
        else ""
    )
    return (
        load + f"- CPU: {m['cpu']} ({m['cores']} cores), memory {m['memory']}\n"
        f"- OS: {m['os']}; Python {m['python']}\n"
        f"- versions: {versions}\n"
        f"- endpoint: {results['endpoint']}\n"
        f"- async_ingest measured: {results.get('source', 'unknown')}\n"
        f"- {results['rounds']} round(s), {results['started_at']} to {results['finished_at']} (UTC); "
        f"command: `{results['command'].strip()}`"
    )


def _failures(results: dict[str, Any]) -> str:
    failed = [r for r in results["runs"] if "error" in r]
    warned = [r for r in results["runs"] if "exit_warning" in r]
    if not failed and not warned:
        return ""
    lines = ["", "Failed or flagged measurements:", ""]
    for r in failed:
        first = r["error"].strip().splitlines()[-1][:200]
        lines.append(f"- round {r['round']}, {r['workload']}, {r['client']}: failed: `{first}`")
    for r in warned:
        lines.append(f"- round {r['round']}, {r['workload']}, {r['client']}: kept, but {r['exit_warning'][:160]}")
    return "\n".join(lines) + "\n"


def render_markdown(results: dict[str, Any], notes: str) -> str:
    """The whole of docs/benchmarks.md."""
    help_median = results.get("help_median")
    help_line = f"`async-ingest --help` takes {help_median:.3f} s (median of {len(results['help_wall'])} runs)."
    return f"""# Benchmarks

Generated by `benchmarks/run.py` from `benchmarks/results/latest.json`; do not edit
above the notes marker at the end (`python benchmarks/report.py` redraws this page).

What is measured, per client, each in a fresh process, in alternation over the rounds
(medians shown):

- **whole process**: wall time from spawning the process to its exit (interpreter start,
  imports, client creation, uploads, shutdown);
- **startup**: interpreter start, imports and client creation, measured inside the process;
- **transfer**: the uploads alone, measured inside the process after imports and client creation;
- **CPU s**: user + system time of the whole process; **CPU s/GB**: CPU during the transfer per GB;
  **loop-thread CPU**: CPU of the thread that ran the transfer (the event loop's, for async
  clients): the part that a single-threaded event loop cannot spread over cores;
- **peak RSS**: `ru_maxrss` of the process; **RSS before transfer**: its peak once the client
  was open (imports and client), before any upload;
- **loop lag**: how late a task sleeping 5 ms at a time on the client's own event loop wakes
  up during the transfer (p99 and max), for the clients that run on an event loop; **lag while
  opening**: the same while the client is created, which a host application embedding the
  library also feels;
- **runs**: the rounds that succeeded; failed ones are listed below the tables and left out.

The endpoint is `benchmarks/discard_server.py` unless stated otherwise below: a
benchmark-only S3 endpoint on 127.0.0.1 that verifies no signature and discards every byte
after counting it (every run is checked against its count), so the numbers are the clients'
own cost, not the network's or a storage server's. Client and endpoint share the machine's cores.
The HTTPS table is the same endpoint serving TLS with a certificate made when it starts (which
the clients trust through `AWS_CA_BUNDLE` and `SSL_CERT_FILE`), as real S3 is reached.

## Targets (issues #6 and #15)

{format_targets_table(results["targets"])}

{help_line}

## Results

{format_summary_table(results["summary"])}
{_failures(results)}
![benchmark chart](benchmarks.png)

## How to rerun

```sh
python -m venv .venv && . .venv/bin/activate
pip install -e . -r benchmarks/requirements.txt
python benchmarks/run.py --rounds 3        # ~5 minutes; the workloads are generated once (~20 s)
python benchmarks/run.py --quick           # smoke test: 1 round, a tenth of the data, docs untouched
python benchmarks/run.py --endpoint-url https://s3.eu-west-1.amazonaws.com --bucket SCRATCH_BUCKET
```

The aws CLI is measured when `aws` is on the PATH. Per-run numbers (every round, every phase)
are in `benchmarks/results/latest.json`.

To see where one client spends its time, run one measurement by hand against a discard endpoint:

```sh
python benchmarks/discard_server.py --port 9000 &        # BENCHMARK ONLY: keeps nothing
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_DEFAULT_REGION=us-east-1
P="python benchmarks/_peer.py async_ingest movies.csv series.csv --endpoint-url http://127.0.0.1:9000"
$P --date 2022-05-03 --profile loop.txt          # pyinstrument sample of the event-loop thread
$P --date 2022-05-04 --profile transfer.pstats   # cProfile of the transfer
$P --date 2022-05-05 --trace-blocking 5          # which loop steps took >= 5 ms, and between which awaits
py-spy record --threads -o flame.svg -- $P --date 2022-05-06   # every thread, native code included
```

(A new `--date` each time: async_ingest skips files that are already stored.)

## Machine

{_machine(results)}

{NOTES_MARKER}
{notes}"""


def draw_chart(results: dict[str, Any], path: Path) -> None:
    """A 2x2 chart: large-file times, CPU per GB, peak RSS, small files per second."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = results["summary"]
    large = summary.get("large", {})
    small = summary.get("small", {})
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5))
    highlight = "#d95f02"
    plain = "#7570b3"

    ax = axes[0][0]
    names = list(large)
    startup = [large[n].get("startup", 0.0) for n in names]
    transfer = [large[n].get("transfer", 0.0) for n in names]
    rest = [max(0.0, large[n]["wall"] - s - t) for n, s, t in zip(names, startup, transfer, strict=True)]
    labels = [_label("large", n) for n in names]
    ax.barh(labels, startup, color="#a6cee3", label="startup (imports, client)")
    ax.barh(labels, transfer, left=startup, color="#1f78b4", label="transfer")
    lefts = [s + t for s, t in zip(startup, transfer, strict=True)]
    ax.barh(labels, rest, left=lefts, color="#cccccc", label="rest of process (or not split)")
    ax.invert_yaxis()
    ax.set_xlabel("seconds (median)")
    ax.set_title("290 MB in 2 files: whole process, split where measured")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, frameon=False)

    ax = axes[0][1]
    cpu = [large[n].get("cpu_total", 0.0) / (large[n]["bytes"] / 1e9) for n in names]
    ax.barh(labels, cpu, color=[highlight if n.startswith("async_ingest") else plain for n in names])
    ax.invert_yaxis()
    ax.set_xlabel("CPU seconds (user+sys, whole process) per GB")
    ax.set_title("CPU cost")

    ax = axes[1][0]
    rss = [large[n].get("rss_mib", 0.0) for n in names]
    ax.barh(labels, rss, color=[highlight if n.startswith("async_ingest") else plain for n in names])
    ax.axvline(120, color="red", linestyle="--", linewidth=1, label="target 120 MiB")
    ax.invert_yaxis()
    ax.set_xlabel("peak RSS, MiB")
    ax.set_title("memory (large files)")
    ax.legend(fontsize=8)

    ax = axes[1][1]
    small_names = list(small)
    rate = [small[n].get("files_per_s", 0.0) for n in small_names]
    ax.barh(
        [_label("small", n) for n in small_names],
        rate,
        color=[highlight if n.startswith("async_ingest") else plain for n in small_names],
    )
    ax.invert_yaxis()
    ax.set_xlabel("files per second (transfer, median)")
    files = results["workloads"]["small"]["files"]
    ax.set_title(f"{files} files of 64 KiB, 32 at once")

    machine = results["machine"]
    fig.suptitle(
        f"async_ingest benchmarks, discard endpoint, {machine['cores']} cores, Python {machine['python']} "
        f"({results['started_at'][:10]})",
        fontsize=12,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_docs(results: dict[str, Any], doc: Path = DOC, chart: Path = CHART) -> list[Path]:
    """Write docs/benchmarks.md (keeping its notes) and docs/benchmarks.png; return the paths written."""
    notes = ""
    if doc.exists():
        text = doc.read_text()
        if NOTES_MARKER in text:
            notes = text.split(NOTES_MARKER, 1)[1].lstrip("\n")
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(render_markdown(results, notes))
    written = [doc]
    try:
        draw_chart(results, chart)
    except ImportError:
        print("report: matplotlib is not installed; chart not drawn (pip install -r benchmarks/requirements.txt)")
    else:
        written.append(chart)
    return written


def main(argv: list[str] | None = None) -> int:
    """Redraw the docs from a results file."""
    args = sys.argv[1:] if argv is None else argv
    source = Path(args[0]) if args else HERE / "results" / "latest.json"
    for path in write_docs(json.loads(source.read_text())):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
