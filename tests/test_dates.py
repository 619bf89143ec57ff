"""Processing hours and partition dates taken from the files (--date-from), against the test server."""

from __future__ import annotations

import argparse
import datetime
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import async_ingest
from async_ingest import ConfigError, IngestConfig
from async_ingest._dates import _first_date
from async_ingest._parse import parse_date

from .conftest import objects, run_cli

HOURLY = "{zone}/{category}/{yyyy}/{mm}/{dd}/{hh}/{filename}"
DAILY = "{zone}/{category}/{yyyy}/{mm}/{dd}/{filename}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2022-05-02", datetime.date(2022, 5, 2), id="day"),
        pytest.param("2022-05-02T07", datetime.datetime(2022, 5, 2, 7), id="hour"),
        pytest.param("2022-05-02T00", datetime.datetime(2022, 5, 2, 0), id="midnight"),
        pytest.param("2022-05-02T23", datetime.datetime(2022, 5, 2, 23), id="last-hour"),
    ],
)
def test_parse_date(text: str, expected: datetime.date) -> None:
    """--date takes a day, or a day and an hour (a datetime on the hour)."""
    assert parse_date(text) == expected
    assert type(parse_date(text)) is type(expected)


@pytest.mark.parametrize(
    "text", ["2022-05-02T25", "2022-05-02T7", "2022-05-02 07", "2022-05-02T07:00", "2022-02-30T01"]
)
def test_parse_date_refuses(text: str) -> None:
    """Anything but YYYY-MM-DD or YYYY-MM-DDTHH with a real hour is refused, saying both forms."""
    with pytest.raises(argparse.ArgumentTypeError, match="use YYYY-MM-DD or YYYY-MM-DDTHH"):
        parse_date(text)


@pytest.mark.parametrize(
    ("relative", "hourly", "expected"),
    [
        pytest.param("sales_2022-05-02.csv", False, datetime.date(2022, 5, 2), id="dashes"),
        pytest.param("export-20220503.csv", False, datetime.date(2022, 5, 3), id="packed"),
        pytest.param("2022/05/04/sales.csv", False, datetime.date(2022, 5, 4), id="folders"),
        pytest.param("2022-05-02T07_sales.csv", True, datetime.datetime(2022, 5, 2, 7), id="dashes-hour"),
        pytest.param("export-2022050323.csv", True, datetime.datetime(2022, 5, 3, 23), id="packed-hour"),
        pytest.param("2022/05/04/09/sales.csv", True, datetime.datetime(2022, 5, 4, 9), id="folders-hour"),
        pytest.param("v2/2022-13-01/2022-05-06.csv", False, datetime.date(2022, 5, 6), id="impossible-skipped"),
        pytest.param("2022-05-02_2022-05-03.csv", False, datetime.date(2022, 5, 2), id="first-wins"),
        pytest.param("id_120220502.csv", False, None, id="inside-a-number"),
        pytest.param("sales.csv", False, None, id="none"),
        pytest.param("sales_2022-05-02.csv", True, None, id="day-but-no-hour"),
    ],
)
def test_first_date_in_a_name(relative: str, hourly: bool, expected: datetime.date | None) -> None:
    """--date-from name reads the first YYYY-MM-DD, YYYYMMDD or YYYY/MM/DD (with the hour for {hh})."""
    assert _first_date(relative, hourly=hourly) == expected


def test_today_has_the_hour_when_a_layout_uses_it() -> None:
    """With {hh} in a layout the default date is the current hour in --tz; otherwise a plain date."""
    before = datetime.datetime.now(datetime.UTC).replace(minute=0, second=0, microsecond=0, tzinfo=None)
    hour = IngestConfig(bucket="lake", layout=HOURLY, timezone="UTC").today()
    after = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    assert isinstance(hour, datetime.datetime)
    assert before <= hour <= after
    assert (hour.minute, hour.second, hour.microsecond) == (0, 0, 0)
    day = IngestConfig(bucket="lake", timezone="UTC").today()
    assert type(day) is datetime.date
    manifest_hourly = IngestConfig(bucket="lake", manifest_layout="m/{yyyy}{mm}{dd}{hh}/{filename}").today()
    assert isinstance(manifest_hourly, datetime.datetime)


def test_run_date_needs_its_hour() -> None:
    """A date without an hour for a layout with {hh} is a ConfigError saying what to type."""
    config = IngestConfig(bucket="lake", layout=HOURLY)
    message = "--date 2022-05-02 has no hour, and the layout uses {hh}: use --date 2022-05-02T07"
    with pytest.raises(ConfigError, match=message.replace("{", r"\{").replace("}", r"\}")):
        config.run_date(datetime.date(2022, 5, 2))
    assert config.run_date(datetime.datetime(2022, 5, 2, 7)) == datetime.datetime(2022, 5, 2, 7)
    # Files dated by their own times need no hour from the run, unless the manifest's key does.
    assert IngestConfig(bucket="lake", layout=HOURLY, date_from="mtime").run_date(datetime.date(2022, 5, 2))
    with pytest.raises(ConfigError, match="the manifest layout uses"):
        IngestConfig(bucket="lake", manifest_layout="m/{hh}/{filename}").run_date(datetime.date(2022, 5, 2))


def test_unknown_date_from_is_a_config_error() -> None:
    """The library refuses an unknown rule as the command line does."""
    with pytest.raises(ConfigError, match="unknown date_from 'bogus': use one of run, mtime, name"):
        IngestConfig(bucket="lake", date_from="bogus")  # type: ignore[arg-type]


def _manifest(s3: Any, bucket: str) -> tuple[str, dict[str, Any]]:
    (key,) = [k for k in objects(s3, bucket, manifests=True) if "/_manifests/" in k]
    return key, json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def test_hourly_partitions(endpoint_env: dict[str, str], bucket: str, s3: Any, make_file: Callable[..., Path]) -> None:
    """--date with an hour fills {hh} in the layout and the manifest layout; the manifest records the hour."""
    sales = make_file("sales.csv", 100)
    done = run_cli(
        "--bucket", bucket, "--layout", HOURLY,
        "--manifest-layout", "{zone}/_manifests/{yyyy}/{mm}/{dd}/{hh}/{filename}",
        "--date", "2022-05-02T07", sales, env=endpoint_env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "date 2022-05-02T07" in done.stdout
    assert set(objects(s3, bucket)) == {"Raw/Sales/2022/05/02/07/sales.csv"}
    key, manifest = _manifest(s3, bucket)
    assert key.startswith("Raw/_manifests/2022/05/02/07/")
    assert (manifest["date"], manifest["hour"], manifest["date_from"]) == ("2022-05-02", 7, "run")
    assert "date" not in manifest["files"][0]


def test_daily_manifest_has_no_hour(
    endpoint_env: dict[str, str], bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """A run on a plain date records its date and rule, and no hour."""
    done = run_cli("--bucket", bucket, "--date", "2022-05-02", make_file("sales.csv", 10), env=endpoint_env)
    assert done.returncode == 0, done.stderr
    _, manifest = _manifest(s3, bucket)
    assert (manifest["date"], manifest["date_from"]) == ("2022-05-02", "run")
    assert "hour" not in manifest


def _at(path: Path, moment: str) -> Path:
    stamp = datetime.datetime.fromisoformat(moment).timestamp()
    os.utime(path, (stamp, stamp))
    return path


@pytest.mark.parametrize(
    ("tz", "expected"),
    [
        pytest.param("UTC", {"Raw/Late/2022/05/02/23/late.csv", "Raw/Early/2022/05/03/00/early.csv"}, id="utc"),
        pytest.param(
            "Asia/Tokyo", {"Raw/Late/2022/05/03/08/late.csv", "Raw/Early/2022/05/03/09/early.csv"}, id="tokyo"
        ),
        pytest.param(
            "America/New_York", {"Raw/Late/2022/05/02/19/late.csv", "Raw/Early/2022/05/02/20/early.csv"}, id="new-york"
        ),
    ],
)
def test_date_from_mtime(
    endpoint_env: dict[str, str],
    bucket: str,
    s3: Any,
    make_file: Callable[..., Path],
    tz: str,
    expected: set[str],
) -> None:
    """--date-from mtime files each file under its modification hour in --tz; the manifest stays on the run's date."""
    late = _at(make_file("late.csv", 10), "2022-05-02T23:30:00+00:00")
    early = _at(make_file("early.csv", 10), "2022-05-03T00:10:00+00:00")
    done = run_cli(
        "--bucket", bucket, "--layout", HOURLY, "--date-from", "mtime", "--tz", tz, "--date", "2023-01-01",
        "--success-marker", late, early, env=endpoint_env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    landed = {key for key in objects(s3, bucket) if not key.endswith("_SUCCESS")}
    assert landed == expected
    markers = {key.rsplit("/", 1)[0] for key in objects(s3, bucket) if key.endswith("/_SUCCESS")}
    assert markers == {key.rsplit("/", 1)[0] for key in expected}
    key, manifest = _manifest(s3, bucket)
    assert key.startswith("Raw/Local/_manifests/2023/01/01/")
    assert (manifest["date"], manifest["date_from"]) == ("2023-01-01", "mtime")
    by_key = {entry["key"]: (entry["date"], entry["hour"]) for entry in manifest["files"]}
    assert {f"{date.replace('-', '/')}/{hour:02d}" for date, hour in by_key.values()} == {
        "/".join(key.split("/")[2:6]) for key in expected
    }


def test_date_from_mtime_by_day(
    endpoint_env: dict[str, str], bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """Without {hh}, a file's modification day in --tz is its partition."""
    late = _at(make_file("late.csv", 10), "2022-05-02T23:30:00+00:00")
    done = run_cli(
        "--bucket", bucket, "--layout", DAILY, "--date-from", "mtime", "--tz", "Europe/Lisbon", "--json", late,
        env=endpoint_env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert set(objects(s3, bucket)) == {"Raw/Late/2022/05/03/late.csv"}  # 00:30 in Lisbon (UTC+1 in May)
    report = json.loads(done.stdout)
    assert report["date_from"] == "mtime"
    (entry,) = report["files"]
    assert entry["date"] == "2022-05-03"
    assert "hour" not in entry


NAMED_DAILY = {
    "sales_2022-05-02.csv": "Raw/Sales_2022-05-02/2022/05/02/sales_2022-05-02.csv",
    "export-20220503.csv": "Raw/Export-20220503/2022/05/03/export-20220503.csv",
    "2022/05/04/orders.csv": "Raw/Orders/2022/05/04/orders.csv",
}
NAMED_HOURLY = {
    "2022-05-02T07_sales.csv": "Raw/2022-05-02T07_Sales/2022/05/02/07/2022-05-02T07_sales.csv",
    "export-2022050323.csv": "Raw/Export-2022050323/2022/05/03/23/export-2022050323.csv",
    "2022/05/04/09/orders.csv": "Raw/Orders/2022/05/04/09/orders.csv",
}


@pytest.mark.parametrize(
    "case",
    [
        pytest.param((DAILY, NAMED_DAILY, False), id="day-directory"),
        pytest.param((HOURLY, NAMED_HOURLY, True), id="hour-glob"),
    ],
)
def test_date_from_name(
    endpoint_env: dict[str, str],
    bucket: str,
    s3: Any,
    make_file: Callable[..., Path],
    case: tuple[str, dict[str, str], bool],
) -> None:
    """The rule name (here from the environment) reads each form, with the hour for {hh}.

    The path read is relative to the source: the directory, or a glob's folders without wildcards.
    """
    layout, named, glob = case
    paths = [make_file(f"2022/{name}", 10) for name in named]
    root = paths[0].parent
    source = root / "**" / "*.csv" if glob else root
    env = {**endpoint_env, "ASYNC_INGEST_DATE_FROM": "name"}
    done = run_cli("--bucket", bucket, "--layout", layout, "--recursive", "--date", "2023-01-01T05", source, env=env)
    assert done.returncode == 0, done.stderr
    assert set(objects(s3, bucket)) == set(named.values())
    _, manifest = _manifest(s3, bucket)
    assert (manifest["date"], manifest["hour"], manifest["date_from"]) == ("2023-01-01", 5, "name")
    assert sorted(entry["date"] for entry in manifest["files"]) == ["2022-05-02", "2022-05-03", "2022-05-04"]


@pytest.mark.parametrize(
    "case",
    [
        pytest.param((["--date", "2022-05-02T25"], "invalid date '2022-05-02T25'"), id="hour-25"),
        pytest.param(
            (
                ["--date-from", "bogus"],
                "argument --date-from: invalid choice: 'bogus' (choose from 'run', 'mtime', 'name')",
            ),
            id="bogus",
        ),
        pytest.param(
            (
                ["--layout", HOURLY, "--date", "2022-05-02"],
                "--date 2022-05-02 has no hour, and the layout uses {hh}: use --date 2022-05-02T07",
            ),
            id="no-hour",
        ),
        pytest.param(
            (
                ["--date-from", "name"],
                "data/x.csv: no date in its name (YYYY-MM-DD, YYYYMMDD or YYYY/MM/DD) for --date-from name",
            ),
            id="name-without-date",
        ),
        pytest.param(
            (
                ["--date-from", "name", "--layout", HOURLY],
                "data/x.csv: no date and hour in its name (YYYY-MM-DDTHH, YYYYMMDDHH or YYYY/MM/DD/HH",
            ),
            id="name-without-hour",
        ),
    ],
)
def test_bad_dates_exit_2(
    endpoint_env: dict[str, str], bucket: str, s3: Any, make_file: Callable[..., Path], case: Any
) -> None:
    """Each bad date input is one line on stderr, exit 2, and nothing lands, not even the dated file."""
    flags, message = case
    folder = make_file("data/x.csv", 10).parent.parent
    make_file("data/2022-05-02.csv", 10)
    done = run_cli("--bucket", bucket, *flags, "data/x.csv", "data/2022-05-02.csv", env=endpoint_env, cwd=folder)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert objects(s3, bucket, manifests=True) == {}


@pytest.mark.anyio
async def test_library_takes_a_datetime_for_the_hour(
    s3_endpoint: str, bucket: str, s3: Any, make_file: Callable[..., Path]
) -> None:
    """A datetime on the hour is the library's hourly date; files dated by mtime carry their own date."""
    old = _at(make_file("old.csv", 10), "2021-12-31T23:59:00+00:00")
    new = make_file("new.csv", 10)
    report = await async_ingest.ingest(
        [old], bucket=bucket, endpoint_url=s3_endpoint, date=datetime.datetime(2022, 5, 2, 7), layout=HOURLY
    )
    assert report.ok, report.failed
    assert report.date == datetime.datetime(2022, 5, 2, 7)
    assert report.files[0].key == "Raw/Old/2022/05/02/07/old.csv"
    assert report.files[0].date is None
    dated = await async_ingest.ingest(
        [old, new], bucket=bucket, endpoint_url=s3_endpoint, layout=HOURLY, date_from="mtime", timezone="UTC"
    )
    assert dated.ok, dated.failed
    assert dated.files[0].date == datetime.datetime(2021, 12, 31, 23)
    assert dated.files[0].key == "Raw/Old/2021/12/31/23/old.csv"
    assert dated.files[0].to_dict()["date"] == "2021-12-31"
    assert dated.files[0].to_dict()["hour"] == 23
    assert set(objects(s3, bucket)) == {
        "Raw/Old/2022/05/02/07/old.csv",
        "Raw/Old/2021/12/31/23/old.csv",
        dated.files[1].key,
    }
