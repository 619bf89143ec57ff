"""The key builder: pure table tests, no server."""

from __future__ import annotations

import datetime

import pytest

from async_ingest import InvalidKeyError, KeyBuilder

DAY = datetime.date(2022, 5, 2)


@pytest.mark.parametrize(
    ("kwargs", "filename", "category", "expected"),
    [
        pytest.param({}, "movies.csv", None, "Raw/Local/CSV/Movies/2022/05/02/movies.csv", id="default-movies"),
        pytest.param({}, "series.csv", None, "Raw/Local/CSV/Series/2022/05/02/series.csv", id="default-series"),
        pytest.param({}, "movies.csv", "Films", "Raw/Local/CSV/Films/2022/05/02/movies.csv", id="category-given"),
        pytest.param(
            {}, "daily_sales.json", None, "Raw/Local/JSON/Daily_Sales/2022/05/02/daily_sales.json", id="title"
        ),
        pytest.param(
            {"layout": "hive"},
            "movies.csv",
            None,
            "Raw/Local/CSV/Movies/year=2022/month=05/day=02/movies.csv",
            id="hive",
        ),
        pytest.param(
            {"zone": "Bronze", "origin": "Sftp", "format": "PSV"},
            "movies.csv",
            None,
            "Bronze/Sftp/PSV/Movies/2022/05/02/movies.csv",
            id="pieces-given",
        ),
        pytest.param(
            {"layout": "landing/{category}/{yyyy}{mm}{dd}/{stem}.{format}"},
            "movies.csv",
            None,
            "landing/Movies/20220502/movies.CSV",
            id="custom-template",
        ),
        pytest.param({}, "{zone}.csv", None, "Raw/Local/CSV/{Zone}/2022/05/02/{zone}.csv", id="braces-not-reparsed"),
        pytest.param({}, "filmes_ação.csv", None, "Raw/Local/CSV/Filmes_Ação/2022/05/02/filmes_ação.csv", id="utf8"),
    ],
)
def test_key_for(kwargs: dict[str, str], filename: str, category: str | None, expected: str) -> None:
    """Keys follow the layout, with pieces derived from the file name unless given."""
    assert KeyBuilder(date=DAY, **kwargs).key_for(filename, category=category) == expected


@pytest.mark.parametrize(
    ("kwargs", "filename", "category", "piece"),
    [
        pytest.param({"zone": ""}, "movies.csv", None, "zone", id="empty-zone"),
        pytest.param({"origin": "a/b"}, "movies.csv", None, "origin", id="slash-origin"),
        pytest.param({"zone": ".."}, "movies.csv", None, "zone", id="dotdot-zone"),
        pytest.param({}, "movies.csv", "../etc", "category", id="slash-category"),
        pytest.param({}, "movies.csv", "..", "category", id="dotdot-category"),
        pytest.param({}, "movies.csv", "Mo\nvies", "category", id="control-category"),
        pytest.param({}, "mov\x1bies.csv", None, "filename", id="control-filename"),
        pytest.param({}, "movies", None, "format", id="no-extension"),
        pytest.param({}, "mov\udcffies.csv", None, "filename", id="not-utf8"),
        pytest.param({}, "m" * 1100 + ".csv", None, "key", id="too-long"),
        pytest.param({"layout": "{zone}/{nope}/{filename}"}, "movies.csv", None, "layout", id="unknown-field"),
        pytest.param({"layout": "{zone!r}/{filename}"}, "movies.csv", None, "layout", id="conversion"),
        pytest.param({"layout": "/{zone}/{filename}"}, "movies.csv", None, "layout", id="leading-slash"),
        pytest.param({"layout": "{zone}//{filename}"}, "movies.csv", None, "key", id="empty-segment"),
        pytest.param({"layout": "{zone}/{filename"}, "movies.csv", None, "layout", id="malformed"),
        pytest.param({"layout": "static/key.csv"}, "movies.csv", None, "layout", id="no-field"),
    ],
)
def test_invalid_pieces_are_rejected(kwargs: dict[str, str], filename: str, category: str | None, piece: str) -> None:
    """Every unsafe piece is refused with an error naming it."""
    with pytest.raises(InvalidKeyError) as caught:
        KeyBuilder(date=DAY, **kwargs).key_for(filename, category=category)
    assert caught.value.piece == piece
    assert piece in str(caught.value)


def test_key_over_1024_bytes_is_rejected() -> None:
    """A key longer than S3's 1,024-byte limit is refused even when every piece is fine."""
    builder = KeyBuilder(date=DAY, zone="Z" * 500, origin="O" * 500)
    with pytest.raises(InvalidKeyError, match="1024"):
        builder.key_for("movies.csv")


def test_one_date_per_builder() -> None:
    """The date is fixed when the builder is made, not read from the clock per key."""
    builder = KeyBuilder(date=datetime.date(1999, 12, 31))
    assert builder.key_for("a.csv").split("/")[4:7] == ["1999", "12", "31"]
    assert builder.key_for("b.csv").split("/")[4:7] == ["1999", "12", "31"]


HOUR = datetime.datetime(2022, 5, 2, 7)
HOURLY = "{zone}/{category}/{yyyy}/{mm}/{dd}/{hh}/{filename}"


@pytest.mark.parametrize(
    ("layout", "date", "file_date", "expected"),
    [
        pytest.param(HOURLY, HOUR, None, "Raw/Movies/2022/05/02/07/movies.csv", id="hour"),
        pytest.param(HOURLY, datetime.datetime(2022, 5, 2, 0), None, "Raw/Movies/2022/05/02/00/movies.csv", id="00"),
        pytest.param("{yyyy}{mm}{dd}T{hh}/{filename}", HOUR, None, "20220502T07/movies.csv", id="packed"),
        pytest.param("default", HOUR, None, "Raw/Local/CSV/Movies/2022/05/02/movies.csv", id="hour-unused"),
        pytest.param(
            HOURLY, HOUR, datetime.datetime(2021, 12, 31, 23), "Raw/Movies/2021/12/31/23/movies.csv", id="file-date"
        ),
        pytest.param("default", DAY, datetime.date(2021, 1, 9), "Raw/Local/CSV/Movies/2021/01/09/movies.csv", id="day"),
    ],
)
def test_hour_and_file_date(layout: str, date: datetime.date, file_date: datetime.date | None, expected: str) -> None:
    """{hh} is the processing hour, two digits; a file's own date wins over the builder's."""
    assert KeyBuilder(date=date, layout=layout).key_for("movies.csv", date=file_date) == expected


def test_hour_field_needs_an_hour() -> None:
    """A layout with {hh} and a date without an hour is refused, naming the field."""
    with pytest.raises(InvalidKeyError, match=r"uses \{hh\}, and the date 2022-05-02 has no hour") as caught:
        KeyBuilder(date=DAY, layout=HOURLY).key_for("movies.csv")
    assert caught.value.piece == "hh"
    assert KeyBuilder(date=HOUR, layout=HOURLY).hourly
    assert not KeyBuilder(date=HOUR).hourly


def test_a_bad_piece_fails_after_good_ones() -> None:
    """Pieces checked once per distinct value: a bad category still fails after the same builder passed good ones."""
    kb = KeyBuilder(date=datetime.date(2022, 5, 2))
    assert kb.key_for("a.csv", category="Sales") == "Raw/Local/CSV/Sales/2022/05/02/a.csv"
    assert kb.key_for("b.csv", category="Sales") == "Raw/Local/CSV/Sales/2022/05/02/b.csv"
    with pytest.raises(InvalidKeyError) as caught:
        kb.key_for("c.csv", category="Sa\x85les")
    assert caught.value.piece == "category"
    with pytest.raises(InvalidKeyError) as caught:
        kb.key_for("..csv", category="Sales")
    assert caught.value.piece == "stem"
