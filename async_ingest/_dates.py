"""Processing dates and hours: reading them, the clock in a time zone, and a file's own date.

A processing date is a :class:`datetime.date`, or a :class:`datetime.datetime` on the
hour when the partition has one (``{hh}`` in a layout).  Pure but for the clock.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Callable
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ._exceptions import ConfigError, SourceError

__all__ = [
    "DATE_FROM",
    "DateFrom",
    "check_date_from",
    "date_fields",
    "date_from_mtime",
    "date_from_name",
    "file_date_rule",
    "format_date",
    "has_hour",
    "now_in",
    "on_the_hour",
    "require_hour",
]

DateFrom = Literal["run", "mtime", "name"]
#: Where a file's partition date comes from: the run, the file's modification time, its path.
DATE_FROM: tuple[DateFrom, ...] = ("run", "mtime", "name")

# A date (and an hour) in a path: YYYY-MM-DD[THH], YYYYMMDD[HH], YYYY/MM/DD[/HH], not inside a longer number.
_IN_NAME = re.compile(
    r"(?<!\d)(?:"
    r"(?P<a_y>\d{4})-(?P<a_m>\d{2})-(?P<a_d>\d{2})(?:T(?P<a_h>\d{2}))?"
    r"|(?P<b_y>\d{4})(?P<b_m>\d{2})(?P<b_d>\d{2})(?P<b_h>\d{2})?"
    r"|(?P<c_y>\d{4})/(?P<c_m>\d{2})/(?P<c_d>\d{2})(?:/(?P<c_h>\d{2}))?"
    r")(?!\d)"
)


def has_hour(date: datetime.date) -> bool:
    """True when *date* is a processing hour (a datetime), not just a day."""
    return isinstance(date, datetime.datetime)


def on_the_hour(moment: datetime.datetime, *, hourly: bool) -> datetime.date:
    """*moment* as a processing date: its hour (naive, on the hour) if *hourly*, else its day."""
    if not hourly:
        return moment.date()
    return datetime.datetime(moment.year, moment.month, moment.day, moment.hour)


def format_date(date: datetime.date) -> str:
    """A processing date as people type it: ``2022-05-02``, or ``2022-05-02T07`` with an hour."""
    day = datetime.date(date.year, date.month, date.day).isoformat()
    return f"{day}T{date.hour:02d}" if isinstance(date, datetime.datetime) else day


def date_fields(date: datetime.date) -> dict[str, Any]:
    """*date* for a JSON document: ``{"date": "2022-05-02"}``, plus ``"hour": 7`` when it has one."""
    fields: dict[str, Any] = {"date": datetime.date(date.year, date.month, date.day).isoformat()}
    if isinstance(date, datetime.datetime):
        fields["hour"] = date.hour
    return fields


def now_in(timezone: str | None) -> datetime.datetime:
    """The current time in IANA zone *timezone* (None: the local zone); raises ConfigError."""
    if timezone is None:
        return datetime.datetime.now()
    return datetime.datetime.now(_zone(timezone))


def _zone(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"unknown time zone {timezone!r}; use an IANA name such as 'Europe/Lisbon' or 'UTC'"
        ) from None


def check_date_from(value: str) -> None:
    """Raise ConfigError unless *value* is one of DATE_FROM."""
    if value not in DATE_FROM:
        raise ConfigError(f"unknown date_from {value!r}: use one of {', '.join(DATE_FROM)}")


def require_hour(date: datetime.date, where: str) -> None:
    """Raise ConfigError when *date* has no hour and *where* (a layout) uses ``{hh}``."""
    if not has_hour(date):
        shown = format_date(date)
        raise ConfigError(f"--date {shown} has no hour, and the {where} uses {{hh}}: use --date {shown}T07")


def file_date_rule(
    date_from: str, timezone: str | None, *, hourly: bool
) -> Callable[[str, str, os.stat_result], datetime.date] | None:
    """How a run's planner dates each file under rule *date_from*: None for ``run`` (the run's date)."""
    if date_from == "mtime":
        return date_from_mtime(timezone, hourly=hourly)
    if date_from == "name":
        return date_from_name(hourly=hourly)
    return None


def date_from_mtime(timezone: str | None, *, hourly: bool) -> Callable[[str, str, os.stat_result], datetime.date]:
    """The rule ``mtime``: a file's date (and hour) is its modification time's, in *timezone*."""
    zone = None if timezone is None else _zone(timezone)

    def rule(shown: str, relative: str, st: os.stat_result) -> datetime.date:
        moment = datetime.datetime.fromtimestamp(st.st_mtime, zone)
        return on_the_hour(moment, hourly=hourly)

    return rule


def date_from_name(*, hourly: bool) -> Callable[[str, str, os.stat_result], datetime.date]:
    """The rule ``name``: the first date (with an hour, if *hourly*) in a file's path relative to its source."""
    forms = (
        "YYYY-MM-DDTHH, YYYYMMDDHH or YYYY/MM/DD/HH, as the layout uses {hh}"
        if hourly
        else "YYYY-MM-DD, YYYYMMDD or YYYY/MM/DD"
    )

    def rule(shown: str, relative: str, st: os.stat_result) -> datetime.date:
        found = _first_date(relative, hourly=hourly)
        if found is None:
            what = "date and hour" if hourly else "date"
            raise SourceError(f"{shown}: no {what} in its name ({forms}) for --date-from name", path=shown)
        return found

    return rule


def _first_date(text: str, *, hourly: bool) -> datetime.date | None:
    """The first valid date (with an hour when *hourly*) written in *text*, or None."""
    for match in _IN_NAME.finditer(text):
        groups = {name[2:]: value for name, value in match.groupdict().items() if value is not None}
        if hourly and "h" not in groups:
            continue
        try:
            day = datetime.date(int(groups["y"]), int(groups["m"]), int(groups["d"]))
            if not hourly:
                return day
            return datetime.datetime(day.year, day.month, day.day, int(groups["h"]))
        except ValueError:
            continue
    return None
