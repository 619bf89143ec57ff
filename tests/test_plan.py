"""The planner: which files, which keys, how each is cut.  Local files only, no server."""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from async_ingest import DuplicateKeyError, InvalidKeyError, KeyBuilder, Source, SourceError
from async_ingest._expand import CHECK_EVERY
from async_ingest._plan import UploadSpec, adjust_part_size, parse_source, plan_uploads

MiB = 2**20
GiB = 2**30
KEYS = KeyBuilder(date=datetime.date(2022, 5, 2))


@pytest.mark.parametrize(
    ("size", "requested", "expected"),
    [
        pytest.param(100 * MiB, 8 * MiB, 8 * MiB, id="as-asked"),
        pytest.param(100 * MiB, 1 * MiB, 5 * MiB, id="raised-to-5MiB"),
        pytest.param(100 * MiB, 6 * GiB, 5 * GiB, id="lowered-to-5GiB"),
        pytest.param(100_000 * MiB, 8 * MiB, 10 * MiB, id="10000-parts"),
        pytest.param(5 * 2**40, 8 * MiB, 525 * MiB, id="5TiB"),
        pytest.param(0, 8 * MiB, 8 * MiB, id="empty"),
    ],
)
def test_adjust_part_size(size: int, requested: int, expected: int) -> None:
    """Part sizes are clamped to S3's limits: 5 MiB to 5 GiB, at most 10,000 parts."""
    part = adjust_part_size(size, requested)
    assert part == expected
    assert -(-size // part) <= 10_000


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        pytest.param("data/movies.csv", Source(Path("data/movies.csv")), id="path"),
        pytest.param("Films=data/movies.csv", Source(Path("data/movies.csv"), "Films"), id="category"),
        pytest.param("Films=data/a=b.csv", Source(Path("data/a=b.csv"), "Films"), id="equals-in-path"),
    ],
)
def test_parse_source(arg: str, expected: Source) -> None:
    """PATH and CATEGORY=PATH are told apart."""
    assert parse_source(arg) == expected


def test_existing_path_with_equals_wins(make_file: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """A file whose name holds '=' is a path, not CATEGORY=PATH."""
    path = make_file("x=y.csv", 10)
    monkeypatch.chdir(path.parent)
    assert parse_source("x=y.csv") == Source(Path("x=y.csv"))


def test_plan_single_and_multipart(make_file: Callable[..., Path]) -> None:
    """Small files are one PUT; larger ones are cut into parts of the planned size."""
    small = make_file("series.csv", 100)
    large = make_file("movies.csv", 12 * MiB + 1)
    specs = plan_uploads([large, small], KEYS, part_size=5 * MiB, multipart_threshold=8 * MiB)
    by_name = {spec.source.name: spec for spec in specs}
    assert by_name["series.csv"].multipart is False
    assert by_name["series.csv"].part_count == 1
    assert by_name["movies.csv"].multipart is True
    assert by_name["movies.csv"].part_count == 3
    assert by_name["movies.csv"].part_range(3) == (10 * MiB, 2 * MiB + 1)
    assert by_name["movies.csv"].key == "Raw/Local/CSV/Movies/2022/05/02/movies.csv"


def test_directory_expands_to_regular_files(make_file: Callable[..., Path], tmp_path: Path) -> None:
    """A directory source means its regular, non-hidden files, in name order."""
    make_file("in/b.csv", 1)
    make_file("in/a.csv", 1)
    make_file("in/.hidden.csv", 1)
    make_file("in/sub/c.csv", 1)
    specs = plan_uploads([tmp_path / "in"], KEYS, part_size=8 * MiB, multipart_threshold=8 * MiB)
    assert [spec.source.name for spec in specs] == ["a.csv", "b.csv"]


def test_directory_with_category(make_file: Callable[..., Path], tmp_path: Path) -> None:
    """CATEGORY=DIRECTORY puts every file of the directory under that category."""
    make_file("in/a.csv", 1)
    make_file("in/b.csv", 1)
    specs = plan_uploads([f"Films={tmp_path / 'in'}"], KEYS, part_size=8 * MiB, multipart_threshold=8 * MiB)
    assert {spec.category for spec in specs} == {"Films"}


def test_empty_file_is_planned(make_file: Callable[..., Path]) -> None:
    """A 0-byte file is valid: one PUT of nothing."""
    (spec,) = plan_uploads([make_file("empty.csv", 0)], KEYS, part_size=8 * MiB, multipart_threshold=8 * MiB)
    assert (spec.size, spec.part_count, spec.multipart) == (0, 1, False)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        pytest.param("missing", "no such file", id="missing"),
        pytest.param("directory-empty", "no regular files", id="empty-directory"),
        pytest.param("fifo", "not a regular file", id="fifo"),
        pytest.param("category-empty", "category before '=' is empty", id="empty-category"),
    ],
)
def test_bad_sources(setup: str, message: str, tmp_path: Path) -> None:
    """Sources that cannot be ingested raise SourceError naming the path, before anything is sent."""
    if setup == "missing":
        arg = str(tmp_path / "nope.csv")
    elif setup == "directory-empty":
        (tmp_path / "empty").mkdir()
        arg = str(tmp_path / "empty")
    elif setup == "fifo":
        os.mkfifo(tmp_path / "pipe.csv")
        arg = str(tmp_path / "pipe.csv")
    else:
        arg = f"={tmp_path / 'nope.csv'}"
    with pytest.raises(SourceError, match=message) as caught:
        plan_uploads([arg], KEYS, part_size=8 * MiB, multipart_threshold=8 * MiB)
    assert caught.value.path


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(make_file: Callable[..., Path]) -> None:
    """A file without read permission is refused by name."""
    path = make_file("secret.csv", 10)
    path.chmod(0)
    with pytest.raises(SourceError, match=r"secret\.csv"):
        plan_uploads([path], KEYS, part_size=8 * MiB, multipart_threshold=8 * MiB)


def test_non_utf8_file_name(tmp_path: Path) -> None:
    """A file name that is not UTF-8 cannot become an S3 key; the error names the file."""
    raw = os.fsencode(tmp_path) + b"/caf\xe9.csv"
    with open(raw, "wb") as handle:
        handle.write(b"x")
    with pytest.raises(InvalidKeyError, match="UTF-8") as caught:
        plan_uploads([tmp_path], KEYS, part_size=8 * MiB, multipart_threshold=8 * MiB)
    assert "caf" in str(caught.value)


def test_two_sources_one_key(make_file: Callable[..., Path]) -> None:
    """Two different files that would land on one key are an error naming both."""
    first = make_file("a/movies.csv", 1)
    second = make_file("b/movies.csv", 2)
    with pytest.raises(DuplicateKeyError) as caught:
        plan_uploads([first, second], KEYS, part_size=8 * MiB, multipart_threshold=8 * MiB)
    assert caught.value.sources == (str(first), str(second))


def test_same_file_twice_lands_once(make_file: Callable[..., Path]) -> None:
    """Naming one file twice is not a conflict."""
    path = make_file("movies.csv", 1)
    assert len(plan_uploads([path, path], KEYS, part_size=8 * MiB, multipart_threshold=8 * MiB)) == 1


@pytest.mark.parametrize("linked", ["file", "folder"])
def test_category_from_parent_is_the_folder_named(
    make_file: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, linked: str
) -> None:
    """A symbolic link is not followed to find the category: data/Movies/a.csv -> store/blob42/a.csv is Movies."""
    target = make_file("store/blob42/a.csv", 10)
    (tmp_path / "data").mkdir()
    if linked == "file":
        (tmp_path / "data/Movies").mkdir()
        (tmp_path / "data/Movies/a.csv").symlink_to(target)
    else:
        (tmp_path / "data/Movies").symlink_to(target.parent, target_is_directory=True)
    monkeypatch.chdir(tmp_path / "data")
    for source in ["Movies/a.csv", tmp_path / "data/Movies/a.csv", tmp_path / "data/Movies", tmp_path / "data/*/a.csv"]:
        (spec,) = plan_uploads(
            [source], KEYS, part_size=8 * MiB, multipart_threshold=8 * MiB, category_from_parent=True
        )
        assert spec.category == "Movies", source


TREE = ("a.csv", "b.tmp", "sub/c.csv", "sub/deep/d.csv", "cache/e.csv", "sub/cache/f.csv")


@pytest.mark.parametrize("kind", ["directory", "glob"])
@pytest.mark.parametrize(
    ("include", "exclude", "expected"),
    [
        pytest.param((), (), TREE, id="everything"),
        pytest.param(("*.csv",), (), tuple(f for f in TREE if f.endswith(".csv")), id="name-at-any-depth"),
        pytest.param((), ("*.tmp",), tuple(f for f in TREE if f != "b.tmp"), id="exclude-name"),
        pytest.param(("c.csv",), (), ("sub/c.csv",), id="whole-name-in-a-subfolder"),
        pytest.param(("sub/*",), (), ("sub/c.csv",), id="star-stays-in-its-folder"),
        pytest.param(("sub/**",), (), ("sub/c.csv", "sub/deep/d.csv", "sub/cache/f.csv"), id="double-star-spans"),
        pytest.param(("/sub/*.csv",), (), ("sub/c.csv",), id="leading-slash"),
        pytest.param(("**/deep/*",), (), ("sub/deep/d.csv",), id="double-star-first"),
        pytest.param((), ("sub/*.csv",), tuple(f for f in TREE if f != "sub/c.csv"), id="path-from-the-root"),
        pytest.param((), ("cache/",), ("a.csv", "b.tmp", "sub/c.csv", "sub/deep/d.csv"), id="folder-at-any-depth"),
        pytest.param((), ("sub/cache/",), tuple(f for f in TREE if f != "sub/cache/f.csv"), id="folder-path"),
        pytest.param(("*.csv",), ("sub/**",), ("a.csv", "cache/e.csv"), id="include-and-exclude"),
    ],
)
def test_include_and_exclude_are_one_rule(
    make_file: Callable[..., Path],
    tmp_path: Path,
    kind: str,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    expected: tuple[str, ...],
) -> None:
    """A directory and a glob pattern over the same files pick the same ones: names without '/', paths with it."""
    for name in TREE:
        make_file(f"src/{name}", 1)
    source = tmp_path / "src" if kind == "directory" else tmp_path / "src/**/*"
    specs = plan_uploads(
        [source],
        KEYS,
        part_size=8 * MiB,
        multipart_threshold=8 * MiB,
        include=include,
        exclude=exclude,
        recursive=True,
    )
    assert sorted(spec.source.relative_to(tmp_path / "src").as_posix() for spec in specs) == sorted(expected)


@pytest.mark.parametrize(
    ("size", "multipart", "sent", "parts"),
    [
        pytest.param(1000, False, 0, 0, id="single-nothing-sent"),
        pytest.param(1000, False, 1000, 1, id="single-sent"),
        pytest.param(0, False, 0, 0, id="empty"),
        pytest.param(12 * MiB, True, 0, 0, id="multipart-nothing-sent"),
        pytest.param(12 * MiB, True, 10 * MiB, 2, id="multipart-two-parts"),
        pytest.param(12 * MiB, True, 12 * MiB, 3, id="multipart-short-last-part"),
    ],
)
def test_parts_sent(size: int, multipart: bool, sent: int, parts: int) -> None:
    """The parts a file's bytes sent make: what an interrupted file's row shows."""
    spec = UploadSpec(
        source=Path("f.csv"), key="k", category="F", size=size, mtime_ns=0, inode=0,
        part_size=5 * MiB, part_count=3 if multipart else 1, multipart=multipart,
    )  # fmt: skip
    assert spec.parts_sent(sent) == parts


def test_tree_planned_in_path_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A recursive folder's files come in the order of their Paths (folder by folder), spelt as Paths spell them."""
    for name in ("a-b/y.csv", "a/z.csv", "a/b/x.csv", "a.csv", "a0.csv", "b/a.csv"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"1")
    monkeypatch.chdir(tmp_path)
    specs = plan_uploads(
        ["."], KEYS, part_size=8 * MiB, multipart_threshold=8 * MiB, recursive=True, category_from_parent=True
    )
    expected = sorted(Path(p) for p in ("a-b/y.csv", "a/z.csv", "a/b/x.csv", "a.csv", "a0.csv", "b/a.csv"))
    assert [spec.source for spec in specs] == expected
    assert [os.fspath(spec.source) for spec in specs] == [os.fspath(p) for p in expected]
    assert [spec.relative for spec in specs] == [p.as_posix() for p in expected]
    assert [spec.category for spec in specs] == ["b", "a", "a-b", tmp_path.name, tmp_path.name, "b"]


@pytest.mark.parametrize("recursive", [False, True])
def test_listing_a_huge_folder_is_cancellable(tmp_path: Path, recursive: bool) -> None:
    """The planning's checkpoint is called while a folder is listed, not only once its files are planned."""
    folder = tmp_path / "events"
    folder.mkdir()
    for i in range(2 * CHECK_EVERY):
        (folder / f"e{i:05d}.json").write_bytes(b"{}")

    class Stop(Exception):
        pass

    def checkpoint() -> None:
        raise Stop

    with pytest.raises(Stop) as raised:
        plan_uploads(
            [folder], KEYS, part_size=8 * MiB, multipart_threshold=8 * MiB, recursive=recursive, checkpoint=checkpoint
        )
    assert raised.traceback[-2].name == "_walk"  # raised from inside the listing
