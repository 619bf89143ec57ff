"""A planned file kept small: its path as text, its pieces shared with the other files; what a listing found absent."""

from __future__ import annotations

import datetime
import pickle
from pathlib import Path

import pytest

from async_ingest import UploadSpec
from async_ingest._exists import ListedAbsent
from async_ingest._spec import Shared

from .conftest import MiB

SPEC = UploadSpec(
    source=Path("data/2022/a.csv"), key="Raw/A/a.csv", category="A", size=10, mtime_ns=1, inode=2,
    part_size=5 * MiB, part_count=1, multipart=False, relative="2022/a.csv", date=datetime.date(2022, 5, 1),
)  # fmt: skip


def test_spec_keeps_its_path_as_text() -> None:
    """A spec's source is a Path made from its text; its relative path, the tail of that text, is no second string."""
    assert SPEC.path == "data/2022/a.csv"
    assert SPEC.source == Path("data/2022/a.csv")
    assert SPEC.name == "a.csv"
    assert SPEC.relative == "2022/a.csv"
    assert isinstance(object.__getattribute__(SPEC, "_relative"), int)
    other = UploadSpec(
        source="x/b.csv", key="k", category="B", size=1, mtime_ns=0, inode=0, part_size=5 * MiB, part_count=1,
        multipart=False, relative="elsewhere/b.csv",
    )  # fmt: skip
    assert other.relative == "elsewhere/b.csv"
    assert not hasattr(SPEC, "__dict__")


def test_spec_is_frozen_and_compared_by_value() -> None:
    """A spec cannot be changed; equal fields make equal (and equally hashed) specs; a pickle gives it back."""
    with pytest.raises(AttributeError, match="frozen"):
        SPEC.key = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError, match="frozen"):
        del SPEC.size
    again = pickle.loads(pickle.dumps(SPEC))
    assert again == SPEC
    assert hash(again) == hash(SPEC)
    assert again.relative == SPEC.relative
    moved = UploadSpec(
        source="data/2022/a.csv", key="Raw/A/a.csv", category="A", size=10, mtime_ns=1, inode=3,
        part_size=5 * MiB, part_count=1, multipart=False, relative="2022/a.csv", date=datetime.date(2022, 5, 1),
    )  # fmt: skip
    assert moved != SPEC
    assert SPEC != "data/2022/a.csv"
    assert repr(SPEC).startswith(f"UploadSpec(source={Path('data/2022/a.csv')!r}, key='Raw/A/a.csv', category='A',")
    assert "inode" not in repr(SPEC)


def test_shared_gives_one_object_per_value() -> None:
    """Equal values come back as the first one seen, up to the limit; past it, new values come back as they are."""
    shared = Shared(limit=2)
    first = "".join(["Cat", "egory"])
    assert shared(first) is first
    assert shared("".join(["Categ", "ory"])) is first
    assert shared(datetime.date(2022, 5, 1)) == datetime.date(2022, 5, 1)
    late = "".join(["la", "te"])
    assert shared(late) is late
    assert shared("".join(["la", "te"])) is not late  # not remembered


def test_listed_absent_is_a_key_of_a_listed_partition_not_found_there() -> None:
    """What the listing says is absent: a key of a partition it listed that it did not find."""
    absent = ListedAbsent()
    absent.listed.add("Raw/A/")
    absent.present.add("Raw/A/there.csv")
    assert "Raw/A/new.csv" in absent
    assert "Raw/A/there.csv" not in absent
    assert "Raw/B/new.csv" not in absent  # not listed: a HEAD decides
    assert 3 not in absent
