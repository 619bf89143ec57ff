"""Parsing the values users type: sizes, dates, ages, KEY=VALUE pairs; and the kinds of setting values.

Shared by the command line, the environment and the config file; text parsers raise
argparse.ArgumentTypeError, whose message names the value and says what to type instead.
A :class:`Kind` bundles a text parser with what a config file may hold instead of text and
how a value is written back for people (``40MiB``, ``24h``).
"""

from __future__ import annotations

import argparse
import datetime
import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ._dates import format_date

__all__ = [
    "AGE",
    "BOOL",
    "COUNT",
    "DATE",
    "METADATA",
    "PATTERNS",
    "RATE",
    "SECONDS",
    "SIZE",
    "TEXT",
    "Invalid",
    "Kind",
    "choice",
    "format_age",
    "format_rate",
    "format_size",
    "got",
    "parse_age",
    "parse_date",
    "parse_metadata",
    "parse_rate",
    "parse_size",
    "positive_int",
]

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)(b?)\s*$", re.IGNORECASE)
_AGE_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_size(text: str) -> int:
    """Bytes from '8MiB', '8M', '16MB', '5242880'; K/M/G/T alone mean KiB/MiB/GiB/TiB."""
    match = _SIZE_RE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"invalid size {text!r}: use bytes or a unit, such as 8MiB")
    number, unit, binary, _ = match.groups()
    power = " kmgt".index(unit.lower()) if unit else 0
    base = 1000 if unit and not binary and text.strip()[-1:].lower() == "b" else 1024
    return int(float(number) * base**power)


def format_size(size: int) -> str:
    """A size as people write it: the largest binary unit that divides it exactly ('40MiB')."""
    for power, unit in ((4, "TiB"), (3, "GiB"), (2, "MiB"), (1, "KiB")):
        if size and size % 1024**power == 0:
            return f"{size // 1024**power}{unit}"
    return str(size)


_RATE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:([kKMGT]?)(i?)(B|bit|b(?=ps))(?:/s|ps)?)?\s*$")


def parse_rate(text: str) -> int:
    """Bytes per second from '50MiB/s', '10MB/s', '200Mbit/s', '200Mbps' or a plain number of bytes per second.

    B is bytes and bit is bits; with i the unit is binary (KiB = 1024 B), without it decimal (KB = 1000 B).
    """
    match = _RATE_RE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(
            f"invalid rate {text!r}: use bytes per second or a rate such as 50MiB/s, 10MB/s or 200Mbit/s"
        )
    number, prefix, binary, unit = match.groups()
    power = " KMGT".index(prefix.upper()) if prefix else 0
    rate = float(number) * (1024 if binary else 1000) ** power / (8 if unit in ("bit", "b") else 1)
    if rate < 1:
        raise argparse.ArgumentTypeError(f"invalid rate {text!r}: use at least 1 byte per second, such as 50MiB/s")
    return int(rate)


def format_rate(rate: int) -> str:
    """A rate as people write it, read back exactly by parse_rate: '50MiB/s', '25MB/s', '1000B/s'."""
    for power in (4, 3, 2, 1):
        for base, unit in ((1024, "iB"), (1000, "B")):
            if rate % base**power == 0:
                return f"{rate // base**power}{' KMGT'[power]}{unit}/s"
    return f"{rate}B/s"


def parse_date(text: str) -> datetime.date:
    """A processing date from YYYY-MM-DD, or a processing hour from YYYY-MM-DDTHH (a datetime on the hour)."""
    problem = argparse.ArgumentTypeError(
        f"invalid date {text!r}: use YYYY-MM-DD or YYYY-MM-DDTHH, such as 2022-05-02 or 2022-05-02T07"
    )
    match = re.fullmatch(r"(\d{4}-\d{2}-\d{2})(?:T(\d{2}))?", text)
    if not match:
        raise problem
    try:
        day = datetime.date.fromisoformat(match.group(1))
        if match.group(2) is None:
            return day
        return datetime.datetime(day.year, day.month, day.day, int(match.group(2)))
    except ValueError:
        raise problem from None


def parse_metadata(text: str) -> tuple[str, str]:
    """A KEY=VALUE pair."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"invalid metadata {text!r}: use KEY=VALUE")
    return key.strip(), value


def parse_age(text: str) -> datetime.timedelta:
    """An age such as 90m, 24h or 7d."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"invalid age {text!r}: use a number and s, m, h or d, such as 24h")
    return datetime.timedelta(seconds=int(match.group(1)) * _AGE_UNITS[match.group(2)])


def format_age(age: datetime.timedelta) -> str:
    """An age as people write it: '24h', '7d', '90m'."""
    seconds = int(age.total_seconds())
    for unit, length in _AGE_UNITS.items():
        if seconds % length == 0 and (unit != "d" or seconds // length > 1):
            return f"{seconds // length}{unit}"
    return f"{seconds}s"  # pragma: no cover - the loop always ends at seconds


def positive_int(text: str) -> int:
    """A whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}: use a whole number of at least 1")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"invalid number of seconds {text!r}: use a number above 0")
    return value


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r}: use true or false")


def _items(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


class Invalid(ValueError):
    """A config-file value of the wrong type or form; *member* names the entry of a table at fault."""

    def __init__(self, message: str, member: str | None = None) -> None:
        super().__init__(message)
        self.member = member


def got(value: object) -> str:
    """How a TOML value is shown in a message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        return f"the date-time {value.isoformat()}"
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else repr(value[:57] + "...")
    return repr(value)


@dataclass(frozen=True)
class Kind:
    """One kind of setting value: read from text, taken from a config file, written for people.

    ``parse`` reads the environment's text (and a flag's, unless ``item`` is set: then each
    occurrence of a repeatable flag is one ``item``, and ``collect`` makes the value of them).
    In a config file a string goes through ``parse`` if ``text_in_file``; a value of one of
    ``file_types`` goes through ``check``.
    """

    parse: Callable[[str], Any]
    wanted: str
    file_types: tuple[type, ...] = (str,)
    text_in_file: bool = True
    check: Callable[[Any], Any] | None = None
    show: Callable[[Any], str] = str
    item: Callable[[str], Any] | None = None
    collect: Callable[[list[Any]], Any] = list
    choices: tuple[str, ...] = ()

    def problem(self, value: object) -> str:
        """What is wrong with a config-file *value*."""
        if not self.choices:
            return f"must be {self.wanted}, got {got(value)}"
        lowered = {option.lower(): option for option in self.choices}
        close = difflib.get_close_matches(value.lower(), lowered, n=1) if isinstance(value, str) else []
        hint = f" (did you mean {lowered[close[0]]!r}?)" if close else ""
        return f"must be {self.wanted}; got {got(value)}{hint}"

    def from_file(self, value: object) -> Any:
        """The setting's value from a TOML *value*; raises Invalid."""
        try:
            if isinstance(value, str) and self.text_in_file:
                return self.parse(value)
            if isinstance(value, self.file_types) and (bool in self.file_types or not isinstance(value, bool)):
                return self.check(value) if self.check else value
        except argparse.ArgumentTypeError:
            pass
        raise Invalid(self.problem(value))


def choice(*choices: str) -> Kind:
    """One of *choices*, written exactly."""

    def convert(text: str) -> str:
        if text not in choices:
            raise argparse.ArgumentTypeError(f"invalid choice {text!r}: use one of {', '.join(choices)}")
        return text

    return Kind(convert, f"one of {', '.join(choices)}", choices=choices)


def _whole_number(parse: Callable[[str], int]) -> Callable[[int], int]:
    return lambda value: parse(str(value))


def _amount(parse: Callable[[str], int], wanted: str, show: Callable[[int], str]) -> Kind:
    """A whole amount with a unit (a size, a rate): text, or a whole number in a config file."""
    return Kind(parse, wanted, (int,), check=_whole_number(parse), show=show)


def _not_a_time(value: datetime.date) -> datetime.date:
    if isinstance(value, datetime.datetime):
        raise argparse.ArgumentTypeError("a date, not a date-time")
    return value


def _patterns(value: Iterable[object]) -> tuple[str, ...]:
    items = tuple(value)
    if not all(isinstance(item, str) for item in items):
        raise argparse.ArgumentTypeError("patterns are strings")
    return items  # type: ignore[return-value]


def _metadata_table(value: Mapping[object, object]) -> dict[str, str]:
    for name, item in value.items():
        if not name:
            raise Invalid("names must not be empty")
        if not isinstance(item, str):
            raise Invalid(f"{name}: must be a string, got {got(item)}", member=str(name))
    return {str(name): item for name, item in value.items() if isinstance(item, str)}


TEXT = Kind(str, "a string", text_in_file=False)
COUNT = Kind(positive_int, "a whole number of at least 1", (int,), check=_whole_number(positive_int))


SIZE = _amount(parse_size, 'a number of bytes or a size with a unit, such as "8MiB"', format_size)
SECONDS = Kind(_seconds, "a number of seconds above 0", (int, float), check=lambda value: _seconds(str(value)))
RATE = _amount(parse_rate, 'bytes per second or a rate such as "50MiB/s", "10MB/s" or "200Mbit/s"', format_rate)
DATE = Kind(
    parse_date,
    'a date such as 2022-05-02 (YYYY-MM-DD), or "2022-05-02T07" with the hour',
    (datetime.date,),
    check=_not_a_time,
    show=format_date,
)
AGE = Kind(parse_age, 'an age such as "90m", "24h" or "7d"', show=format_age)
BOOL = Kind(_boolean, "true or false", (bool,), text_in_file=False, show=lambda value: str(value).lower())
PATTERNS = Kind(
    lambda text: tuple(_items(text)),
    "a glob pattern or an array of them",
    (list,),
    check=_patterns,
    show=", ".join,
    item=str,
    collect=tuple,
)
METADATA = Kind(
    lambda text: dict(parse_metadata(item) for item in _items(text)),
    'a table of names and strings, such as { team = "data" }',
    (dict,),
    text_in_file=False,
    check=_metadata_table,
    show=lambda value: ",".join(f"{name}={item}" for name, item in value.items()),
    item=parse_metadata,
    collect=dict,
)
