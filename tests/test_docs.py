"""The documentation's code runs as written.

Every Python block of README.md and docs/*.md, and every shell block marked
```` ```sh run ````, runs in a fresh process in a directory holding small
data/movies.csv and data/series.csv, against the session's S3 server given the
standard way (AWS_ENDPOINT_URL), with the bucket the docs name created for it.
A Python block not meant to run is marked ```` ```python no-run ```` and counted
here, so that none is skipped silently.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .conftest import open_uploads

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: The bucket the examples write to.
BUCKET = "data-lake-do-fulano"
#: Python blocks marked no-run, per page.  Change it together with the page.
NOT_RUN: dict[str, int] = {}
#: Fence languages the test knows; a block in any other could be Python that escapes the test.
LANGUAGES = {"python", "sh", "toml", ""}
RUN_TIMEOUT = 90

_OPEN = re.compile(r"^```(?!`)(\S*)(.*)$")


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    language: str
    marks: tuple[str, ...]
    code: str

    @property
    def runs(self) -> bool:
        if self.language == "python":
            return "no-run" not in self.marks
        return self.language == "sh" and "run" in self.marks


def blocks(path: Path) -> list[Block]:
    """The fenced code blocks of one Markdown page."""
    found: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    name = os.fspath(path.relative_to(ROOT))
    index = 0
    while index < len(lines):
        opened = _OPEN.match(lines[index])
        index += 1
        if not opened:
            continue
        start = index
        while index < len(lines) and lines[index].rstrip() != "```":
            index += 1
        assert index < len(lines), f"{name}:{start}: code block never closed"
        code = "\n".join(lines[start:index]) + "\n"
        found.append(Block(name, start, opened.group(1), tuple(opened.group(2).split()), code))
        index += 1
    return found


ALL = [block for page in PAGES for block in blocks(page)]
RUNNABLE = [pytest.param(block, id=f"{block.page}:{block.line}") for block in ALL if block.runs]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory with data/movies.csv (10 MB, so multipart) and data/series.csv."""
    workdir = tmp_path_factory.mktemp("docs")
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_sample_data.py"), str(workdir / "data"), "--scale", "0.04"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return workdir


@pytest.fixture
def docs_bucket(s3: Any) -> Iterator[str]:
    """The bucket the docs name, empty, and emptied again afterwards."""
    s3.create_bucket(Bucket=BUCKET)
    yield BUCKET
    for upload in open_uploads(s3, BUCKET):
        s3.abort_multipart_upload(Bucket=BUCKET, Key=upload["Key"], UploadId=upload["UploadId"])
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=BUCKET, Key=item["Key"])
    s3.delete_bucket(Bucket=BUCKET)


@pytest.mark.parametrize("block", RUNNABLE)
def test_block_runs_as_written(block: Block, data: Path, docs_bucket: str, s3_endpoint: str, s3: Any) -> None:
    """The block exits 0 and leaves no multipart upload open."""
    env = {**os.environ, "AWS_ENDPOINT_URL": s3_endpoint}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    command = [sys.executable, "-c", block.code] if block.language == "python" else ["bash", "-euo", "pipefail"]
    result = subprocess.run(
        command,
        input=None if block.language == "python" else block.code,
        cwd=data,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )

    assert result.returncode == 0, f"{block.page}:{block.line}\n{block.code}\n--- stderr\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr
    assert open_uploads(s3, docs_bucket) == []


def test_blocks_not_run_are_counted() -> None:
    """Every Python block runs unless marked no-run, and the marked ones are the ones listed here."""
    not_run: dict[str, int] = {}
    for block in ALL:
        if block.language == "python" and not block.runs:
            not_run[block.page] = not_run.get(block.page, 0) + 1
    assert not_run == NOT_RUN


def test_every_block_has_a_known_language() -> None:
    """A block in another language (py, python3, pycon) would escape the run."""
    unknown = [f"{b.page}:{b.line} ```{b.language}" for b in ALL if b.language not in LANGUAGES]
    assert unknown == []


def test_the_docs_have_python_to_run() -> None:
    """The extraction finds the examples: the README's and the library reference's."""
    pages = {block.page for block in ALL if block.runs and block.language == "python"}
    assert {"README.md", os.path.join("docs", "library.md")} <= pages


def test_every_public_name_is_in_the_library_reference() -> None:
    """docs/library.md names every name async_ingest exports, so the reference cannot fall behind."""
    import async_ingest

    reference = (ROOT / "docs" / "library.md").read_text(encoding="utf-8")
    missing = [name for name in async_ingest.__all__ if not re.search(rf"\b{re.escape(name)}\b", reference)]
    assert missing == []
