"""The date-partitioned key builder: pure, no I/O, the date passed in."""

from __future__ import annotations

import datetime
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from types import MappingProxyType

from ._exceptions import InvalidKeyError

__all__ = ["LAYOUTS", "KeyBuilder", "default_category", "default_format"]

#: Named layouts accepted wherever a template is (read-only).
LAYOUTS: Mapping[str, str] = MappingProxyType(
    {
        "default": "{zone}/{origin}/{format}/{category}/{yyyy}/{mm}/{dd}/{filename}",
        "hive": "{zone}/{origin}/{format}/{category}/year={yyyy}/month={mm}/day={dd}/{filename}",
    }
)

#: The fields a template may use.
FIELDS = frozenset({"zone", "origin", "format", "category", "yyyy", "mm", "dd", "hh", "filename", "stem"})

#: S3's limit on a key's length, in UTF-8 bytes.
MAX_KEY_BYTES = 1024

#: Unicode's control characters (category Cc): C0, DEL and C1.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")

#: The pieces whose values repeat from file to file, in the order they are checked: each distinct
#: combination is checked once.
_REPEATING = ("zone", "origin", "format", "category", "yyyy", "mm", "dd", "hh")

#: Distinct repeating pieces and dates a KeyBuilder remembers (categories from file names may not repeat).
_CHECKED_LIMIT = 4096


def _split_name(filename: str) -> tuple[str, str]:
    """A base name's stem and suffix, as PurePath gives them."""
    dot = filename.rfind(".")
    if 0 < dot < len(filename) - 1:
        return filename[:dot], filename[dot:]
    return filename, ""


def default_format(filename: str) -> str:
    """The format piece derived from a file name: its extension, upper-cased."""
    suffix = _split_name(filename)[1] if "/" not in filename else PurePath(filename).suffix
    return suffix[1:].upper()


def default_category(filename: str) -> str:
    """The category piece derived from a file name: its stem, title-cased."""
    stem = _split_name(filename)[0] if "/" not in filename else PurePath(filename).stem
    return stem.title()


def check_piece(name: str, value: str) -> str:
    """Return *value* if it is safe as one key segment, else raise InvalidKeyError."""
    if not value:
        raise InvalidKeyError(f"key piece {name!r} is empty", piece=name, value=value)
    if value in {".", ".."}:
        raise InvalidKeyError(
            f"key piece {name!r} is {value!r}, which would escape the prefix", piece=name, value=value
        )
    if "/" in value:
        raise InvalidKeyError(f"key piece {name!r} = {value!r} contains '/'", piece=name, value=value)
    if _CONTROL.search(value):
        raise InvalidKeyError(f"key piece {name!r} = {value!r} contains a control character", piece=name, value=value)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidKeyError(
            f"key piece {name!r} = {value!r} is not valid UTF-8 (S3 keys must be UTF-8)",
            piece=name,
            value=value,
        ) from None
    return value


def _parse_template(template: str) -> tuple[tuple[str, str | None], ...]:
    """Split a template into (literal, field) pairs, rejecting anything but plain fields."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise InvalidKeyError(f"layout {template!r} is malformed: {exc}", piece="layout", value=template) from None
    parts: list[tuple[str, str | None]] = []
    for literal, name, spec, conversion in parsed:
        if name is not None:
            if name not in FIELDS:
                known = ", ".join(sorted(FIELDS))
                raise InvalidKeyError(
                    f"layout {template!r} uses unknown field {{{name}}}; known fields: {known}",
                    piece="layout",
                    value=template,
                )
            if spec or conversion:
                raise InvalidKeyError(
                    f"layout {template!r}: field {{{name}}} may not carry a format spec or conversion",
                    piece="layout",
                    value=template,
                )
        parts.append((literal, name))
    if not any(name for _, name in parts):
        raise InvalidKeyError(f"layout {template!r} uses no field", piece="layout", value=template)
    if template.startswith("/"):
        raise InvalidKeyError(f"layout {template!r} starts with '/'", piece="layout", value=template)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in template):
        raise InvalidKeyError(f"layout {template!r} contains a control character", piece="layout", value=template)
    return tuple(parts)


@dataclass(frozen=True)
class KeyBuilder:
    """Builds object keys for one run: one template, one processing date.

    >>> kb = KeyBuilder(date=datetime.date(2022, 5, 2))
    >>> kb.key_for("movies.csv")
    'Raw/Local/CSV/Movies/2022/05/02/movies.csv'

    ``date`` is a :class:`datetime.date`, or a :class:`datetime.datetime` whose hour
    fills ``{hh}``.  A file may be given its own date (``date=`` of ``key_for``), for
    runs whose partitions come from the files.

    Values are substituted as plain text, never re-parsed, so braces in a file
    name cannot smuggle in template fields.
    """

    date: datetime.date
    layout: str = LAYOUTS["default"]
    zone: str = "Raw"
    origin: str = "Local"
    format: str | None = None
    _parts: tuple[tuple[str, str | None], ...] = field(init=False, repr=False, compare=False)
    _hourly: bool = field(init=False, repr=False, compare=False)
    #: The repeating pieces already checked (format, category and date fields): each distinct set once.
    _checked: set[tuple[str, ...]] = field(init=False, repr=False, compare=False, default_factory=set)
    _dates: dict[datetime.date, tuple[str, str, str, str]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        template = LAYOUTS.get(self.layout, self.layout)
        object.__setattr__(self, "layout", template)
        object.__setattr__(self, "_parts", _parse_template(template))
        object.__setattr__(self, "_hourly", any(name == "hh" for _, name in self._parts))
        check_piece("zone", self.zone)
        check_piece("origin", self.origin)
        if self.format is not None:
            check_piece("format", self.format)

    @property
    def hourly(self) -> bool:
        """True when the template uses ``{hh}``: its dates need an hour."""
        return self._hourly

    def fields_for(
        self, filename: str, *, category: str | None = None, date: datetime.date | None = None
    ) -> dict[str, str]:
        """The validated value of every template field for *filename* (on *date*, else the builder's)."""
        check_piece("filename", filename)
        day = self.date if date is None else date
        if self.hourly and not isinstance(day, datetime.datetime):
            raise InvalidKeyError(
                f"layout {self.layout!r} uses {{hh}}, and the date {day.isoformat()} has no hour",
                piece="hh",
                value=day.isoformat(),
            )
        stem, suffix = _split_name(filename)
        fmt = self.format if self.format is not None else suffix[1:].upper()
        if not fmt:
            raise InvalidKeyError(
                f"cannot derive the format of {filename!r} (it has no extension); set it explicitly",
                piece="format",
                value=fmt,
            )
        cat = category if category is not None else stem.title()
        yyyy, mm, dd, hh = self._date_fields(day)
        values = {
            "zone": self.zone,
            "origin": self.origin,
            "format": fmt,
            "category": cat,
            "yyyy": yyyy,
            "mm": mm,
            "dd": dd,
            "hh": hh,
            "filename": filename,
            "stem": stem,
        }
        repeating = (fmt, cat, yyyy, mm, dd, hh)
        if repeating not in self._checked:
            for name in _REPEATING:
                if name != "hh" or self._hourly:
                    check_piece(name, values[name])
            if len(self._checked) < _CHECKED_LIMIT:
                self._checked.add(repeating)
        check_piece("stem", stem)
        return values

    def _date_fields(self, day: datetime.date) -> tuple[str, str, str, str]:
        """``yyyy``, ``mm``, ``dd`` and ``hh`` (empty for a date without an hour) of *day*, worked out once per day."""
        found = self._dates.get(day)
        if found is None:
            hour = f"{day.hour:02d}" if isinstance(day, datetime.datetime) else ""
            found = (f"{day.year:04d}", f"{day.month:02d}", f"{day.day:02d}", hour)
            if len(self._dates) < _CHECKED_LIMIT:
                self._dates[day] = found
        return found

    def key_for(self, filename: str, *, category: str | None = None, date: datetime.date | None = None) -> str:
        """The object key for a file called *filename* (a base name, not a path), on *date* if given."""
        return self.locate(filename, category=category, date=date)[0]

    def locate(
        self, filename: str, *, category: str | None = None, date: datetime.date | None = None
    ) -> tuple[str, str]:
        """The key for *filename* (on *date*, else the builder's), and the category it was filed under."""
        values = self.fields_for(filename, category=category, date=date)
        key = self.layout.format_map(values)  # values are inserted as they are, never parsed as a template
        segments = key.split("/")
        if "" in segments or "." in segments or ".." in segments:
            raise InvalidKeyError(
                f"key {key!r} has an empty, '.' or '..' segment; check the layout",
                piece="key",
                value=key,
            )
        if len(key.encode("utf-8")) > MAX_KEY_BYTES:
            raise InvalidKeyError(
                f"key for {filename!r} is {len(key.encode('utf-8'))} bytes; S3 allows {MAX_KEY_BYTES}",
                piece="key",
                value=key,
            )
        return key, values["category"]
