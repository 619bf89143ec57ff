"""Parsing the values users type: sizes, dates, ages, KEY=VALUE pairs.

Shared by the command line and the config file; errors are argparse.ArgumentTypeError,
whose message names the value and says what to type instead.
"""

from __future__ import annotations

import argparse
import datetime
import re

__all__ = ["parse_age", "parse_date", "parse_metadata", "parse_size", "positive_int"]

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)(b?)\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes from '8MiB', '8M', '16MB', '5242880'; K/M/G/T alone mean KiB/MiB/GiB/TiB."""
    match = _SIZE_RE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"invalid size {text!r}: use bytes or a unit, such as 8MiB")
    number, unit, binary, _ = match.groups()
    power = " kmgt".index(unit.lower()) if unit else 0
    base = 1000 if unit and not binary and text.strip()[-1:].lower() == "b" else 1024
    return int(float(number) * base**power)


def parse_date(text: str) -> datetime.date:
    """A processing date from YYYY-MM-DD."""
    problem = argparse.ArgumentTypeError(f"invalid date {text!r}: use YYYY-MM-DD, such as 2022-05-02")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise problem
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise problem from None


def parse_metadata(text: str) -> tuple[str, str]:
    """A KEY=VALUE pair."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"invalid metadata {text!r}: use KEY=VALUE")
    return key, value


def parse_age(text: str) -> datetime.timedelta:
    """An age such as 90m, 24h or 7d."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"invalid age {text!r}: use a number and s, m, h or d, such as 24h")
    number, unit = int(match.group(1)), match.group(2)
    return datetime.timedelta(seconds=number * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit])


def positive_int(text: str) -> int:
    """A whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}: use a whole number of at least 1")
    return value
