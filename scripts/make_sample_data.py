#!/usr/bin/env python3
"""Generate sample extracts: pipe-delimited UTF-8 movies.csv and series.csv.

    python scripts/make_sample_data.py data/                 # 250 MB + 40 MB, like the real job
    python scripts/make_sample_data.py data/ --scale 0.01    # 2.5 MB + 0.4 MB, for a quick look

Files that already exist are left alone.  The content is deterministic for a
given scale, so repeated runs produce the same bytes.  Standard library only.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

MB = 1000 * 1000

TITLES = [
    "O Auto da Compadecida", "Cidade de Deus", "Central do Brasil", "Bacurau", "Tropa de Elite",
    "Amélie", "Crouching Tiger", "Der Himmel über Berlin", "Spirited Away", "Parasite",
    "La Haine", "Roma", "Pan's Labyrinth", "Y tu mamá también", "Çanakkale 1915",
]  # fmt: skip
GENRES = ["Drama", "Comédia", "Ação", "Documentário", "Animação", "Suspense", "Romance", "Ficção"]
COUNTRIES = ["BR", "FR", "US", "JP", "KR", "MX", "DE", "ES", "TR", "PT"]


def _write(path: Path, header: str, row: object, target_bytes: int, seed: int) -> None:
    rng = random.Random(seed)
    tmp = path.with_suffix(path.suffix + ".part")
    written = 0
    with tmp.open("w", encoding="utf-8", newline="\n") as out:
        out.write(header + "\n")
        number = 0
        while written < target_bytes:
            lines = []
            for _ in range(2000):
                number += 1
                lines.append(row(number, rng))  # type: ignore[operator]
            block = "\n".join(lines) + "\n"
            out.write(block)
            written += len(block.encode("utf-8"))
    tmp.replace(path)


def movie(number: int, rng: random.Random) -> str:
    return (
        f"{number}|{rng.choice(TITLES)} ({number % 97})|{1950 + number % 73}|"
        f"{rng.choice(GENRES)},{rng.choice(GENRES)}|{rng.randint(10, 100) / 10}|"
        f"{rng.randint(60, 210)}|{rng.choice(COUNTRIES)}|{rng.getrandbits(64):016x}"
    )


def series(number: int, rng: random.Random) -> str:
    return (
        f"{number}|{rng.choice(TITLES)}: a série|{rng.randint(1, 12)}|{rng.randint(4, 24)}|"
        f"{rng.choice(GENRES)}|{rng.randint(10, 100) / 10}|{rng.choice(COUNTRIES)}|{rng.getrandbits(64):016x}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 250 MB movies + 40 MB series")
    args = parser.parse_args(argv)
    args.directory.mkdir(parents=True, exist_ok=True)
    jobs = [
        ("movies.csv", "id|title|year|genres|rating|minutes|country|checksum", movie, 250, 1),
        ("series.csv", "id|title|seasons|episodes|genre|rating|country|checksum", series, 40, 2),
    ]
    for name, header, row, megabytes, seed in jobs:
        path = args.directory / name
        if path.exists():
            print(f"{path}: exists, left alone", file=sys.stderr)
            continue
        _write(path, header, row, int(megabytes * MB * args.scale), seed)
        print(f"{path}: {path.stat().st_size:,} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
