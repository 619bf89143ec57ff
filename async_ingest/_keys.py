"""The date-partitioned key builder: pure, no I/O, the date passed in."""

from __future__ import annotations

import datetime
import string
import unicodedata
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


def default_format(filename: str) -> str:
    """The format piece derived from a file name: its extension, upper-cased."""
    return PurePath(filename).suffix[1:].upper()


def default_category(filename: str) -> str:
    """The category piece derived from a file name: its stem, title-cased."""
    return PurePath(filename).stem.title()


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
    if any(unicodedata.category(ch) == "Cc" for ch in value):
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

    def __post_init__(self) -> None:
        template = LAYOUTS.get(self.layout, self.layout)
        object.__setattr__(self, "layout", template)
        object.__setattr__(self, "_parts", _parse_template(template))
        check_piece("zone", self.zone)
        check_piece("origin", self.origin)
        if self.format is not None:
            check_piece("format", self.format)

    @property
    def hourly(self) -> bool:
        """True when the template uses ``{hh}``: its dates need an hour."""
        return any(name == "hh" for _, name in self._parts)

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
        fmt = self.format if self.format is not None else default_format(filename)
        if not fmt:
            raise InvalidKeyError(
                f"cannot derive the format of {filename!r} (it has no extension); set it explicitly",
                piece="format",
                value=fmt,
            )
        values = {
            "zone": self.zone,
            "origin": self.origin,
            "format": fmt,
            "category": category if category is not None else default_category(filename),
            "yyyy": f"{day.year:04d}",
            "mm": f"{day.month:02d}",
            "dd": f"{day.day:02d}",
            "hh": f"{day.hour:02d}" if isinstance(day, datetime.datetime) else "",
            "filename": filename,
            "stem": PurePath(filename).stem,
        }
        for name, value in values.items():
            if name != "hh" or self.hourly:
                check_piece(name, value)
        return values

    def key_for(self, filename: str, *, category: str | None = None, date: datetime.date | None = None) -> str:
        """The object key for a file called *filename* (a base name, not a path), on *date* if given."""
        return self.locate(filename, category=category, date=date)[0]

    def locate(
        self, filename: str, *, category: str | None = None, date: datetime.date | None = None
    ) -> tuple[str, str]:
        """The key for *filename* (on *date*, else the builder's), and the category it was filed under."""
        values = self.fields_for(filename, category=category, date=date)
        key = "".join(literal + (values[name] if name else "") for literal, name in self._parts)
        for segment in key.split("/"):
            if segment in {"", ".", ".."}:
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
