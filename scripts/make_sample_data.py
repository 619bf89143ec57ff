#!/usr/bin/env python3
"""Generate sample extracts: pipe-delimited UTF-8 movies.csv and series.csv.

    python scripts/make_sample_data.py data/                 # 250 MB + 40 MB, like the real job
    python scripts/make_sample_data.py data/ --scale 0.01    # 2.5 MB + 0.4 MB, for a quick look

Each file has a header and one row per id, ids unique and ascending.  The scale
and sizes are recorded in DIRECTORY/.sample-data (hidden, so never ingested):
files made at the same scale are reused, files made at another scale (or
changed since) are made again.  The content is deterministic for a given
scale.  Standard library only.

Speed: a block of rows is drawn once per file; the file is that block written
over and over, each pass with the next run of ids and its own checksum column.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path

MB = 1000 * 1000
BLOCK_ROWS = 4096
STAMP = ".sample-data"

TITLES = [
    "O Auto da Compadecida", "Cidade de Deus", "Central do Brasil", "Bacurau", "Tropa de Elite",
    "Amélie", "Crouching Tiger", "Der Himmel über Berlin", "Spirited Away", "Parasite",
    "La Haine", "Roma", "Pan's Labyrinth", "Y tu mamá também", "Çanakkale 1915",
]  # fmt: skip
GENRES = ["Drama", "Comédia", "Ação", "Documentário", "Animação", "Suspense", "Romance", "Ficção"]
COUNTRIES = ["BR", "FR", "US", "JP", "KR", "MX", "DE", "ES", "TR", "PT"]

#: A row without its id and checksum columns, drawn from *rng* for row *number*.
Row = Callable[[int, random.Random], str]


def movie(number: int, rng: random.Random) -> str:
    return (
        f"{rng.choice(TITLES)} ({number % 97})|{1950 + number % 73}|"
        f"{rng.choice(GENRES)},{rng.choice(GENRES)}|{rng.randint(10, 100) / 10}|"
        f"{rng.randint(60, 210)}|{rng.choice(COUNTRIES)}"
    )


def series(number: int, rng: random.Random) -> str:
    return (
        f"{rng.choice(TITLES)}: a série|{rng.randint(1, 12)}|{rng.randint(4, 24)}|"
        f"{rng.choice(GENRES)}|{rng.randint(10, 100) / 10}|{rng.choice(COUNTRIES)}"
    )


JOBS: list[tuple[str, str, Row, int, int]] = [
    ("movies.csv", "id|title|year|genres|rating|minutes|country|checksum", movie, 250, 1),
    ("series.csv", "id|title|seasons|episodes|genre|rating|country|checksum", series, 40, 2),
]


def write_sample(path: Path, header: str, row: Row, target_bytes: int, seed: int) -> int:
    """Write rows to *path* until it holds at least *target_bytes*; return its size."""
    rng = random.Random(seed)
    middles = [row(number, rng) for number in range(1, BLOCK_ROWS + 1)]
    checksums = [rng.getrandbits(64) for _ in range(BLOCK_ROWS)]
    tmp = path.with_suffix(path.suffix + ".part")
    written = 0
    with tmp.open("wb") as out:
        out.write(header.encode() + b"\n")
        first = 1
        while written < target_bytes:
            # The checksum column differs per pass: the block's values xor-ed with the pass number's.
            salt = first * 0x9E3779B97F4A7C15 & 0xFFFF_FFFF_FFFF_FFFF
            block = "".join(
                f"{first + i}|{middle}|{checksum ^ salt:016x}\n"
                for i, (middle, checksum) in enumerate(zip(middles, checksums, strict=True))
            ).encode()
            if written + len(block) > target_bytes:  # the last pass: stop at the first row end past the target
                block = block[: block.index(b"\n", max(target_bytes - written - 1, 0)) + 1]
            out.write(block)
            written += len(block)
            first += BLOCK_ROWS
    tmp.replace(path)
    return path.stat().st_size


def _recorded(directory: Path) -> dict[str, object]:
    try:
        recorded = json.loads((directory / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return recorded if isinstance(recorded, dict) else {}


def _reusable(path: Path, recorded: dict[str, object], scale: float) -> str | None:
    """Why *path* must be made again, or None when it can be reused."""
    if not path.exists():
        return "absent"
    if recorded.get("scale") != scale:
        before = recorded.get("scale")
        return f"made at scale {before}, asked for {scale}" if before is not None else "not made by this script"
    if recorded.get(path.name) != path.stat().st_size:
        return "changed since it was made"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 250 MB movies + 40 MB series")
    args = parser.parse_args(argv)
    if not args.scale > 0:
        parser.error(f"--scale {args.scale}: must be above 0")
    args.directory.mkdir(parents=True, exist_ok=True)
    recorded = _recorded(args.directory)
    made: dict[str, object] = {"scale": args.scale}
    for name, header, row, megabytes, seed in JOBS:
        path = args.directory / name
        why = _reusable(path, recorded, args.scale)
        if why is None:
            made[name] = size = path.stat().st_size
            print(f"==> {path}: {size / MB:,.1f} MB sample at scale {args.scale}, reused", file=sys.stderr)
            continue
        target = int(megabytes * MB * args.scale)
        again = "" if why == "absent" else f" ({path.name} was {why}: making it again)"
        print(f"==> generating sample data: {path} {target / MB:,.1f} MB…{again}", file=sys.stderr, flush=True)
        made[name] = write_sample(path, header, row, target, seed)
        (args.directory / STAMP).write_text(json.dumps(made) + "\n", encoding="utf-8")
    (args.directory / STAMP).write_text(json.dumps(made) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
