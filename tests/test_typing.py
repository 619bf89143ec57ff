"""The public API is typed for callers: mypy catches a misspelt or mistyped setting."""

from __future__ import annotations

from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api")

CALLER = """\
import datetime

import async_ingest


async def main() -> None:
    async with async_ingest.Ingestor(bucket="lake", {ingestor}) as ingestor:
        await ingestor.ingest(["a.csv"], date=datetime.date(2022, 5, 2))
    report = await async_ingest.ingest(["a.csv"], bucket="lake", {one_shot})
    report.raise_for_failures()
"""


def _check(tmp_path: Path, ingestor: str, one_shot: str) -> str:
    caller = tmp_path / "caller.py"
    caller.write_text(CALLER.format(ingestor=ingestor, one_shot=one_shot))
    stdout, _, _ = api.run(["--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(caller)])
    return str(stdout)


def test_settings_are_checked_by_name_and_type(tmp_path: Path) -> None:
    """A misspelt setting and a size given as text are type errors; correct ones are not."""
    wrong = _check(tmp_path, "concurency=8", 'part_size="8MiB"')
    assert 'Unexpected keyword argument "concurency"' in wrong
    assert 'Argument "part_size" to "ingest" has incompatible type "str"' in wrong
    right = _check(tmp_path, "concurrency=8", "part_size=16 * 1024 * 1024")
    assert right.startswith("Success"), right


def test_the_package_says_it_is_typed() -> None:
    """A py.typed marker ships with the package, so callers' type checkers read its annotations."""
    import async_ingest

    assert (Path(async_ingest.__file__).parent / "py.typed").is_file()
