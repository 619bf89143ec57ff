"""Canned ACLs and object tags: their kinds of setting value, their checks against S3's rules, the request fields.

Both go with the request that creates the object (``ACL=`` and ``Tagging=`` on PutObject and
CreateMultipartUpload), so an object is never visible without them.  Tags are checked here,
before anything is sent, against S3's limits: at most 10 per object, keys of 1 to 128 and
values of up to 256 Unicode characters, keys unique, made of letters, digits, spaces and
``+ - = . _ : / @``, and no key under the ``aws:`` prefix S3 reserves.
"""

from __future__ import annotations

import argparse
import difflib
import unicodedata
from collections.abc import Mapping
from typing import Any, Literal, get_args
from urllib.parse import quote, urlencode

from ._exceptions import ConfigError
from ._parse import Invalid, Kind, got

__all__ = ["ACL", "ACLS", "TAGS", "Acl", "acl_args", "check_acl_and_tags", "parse_acl", "parse_tag", "tagging"]

Acl = Literal[
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
]
#: S3's canned ACLs, by S3's names.
ACLS: tuple[Acl, ...] = get_args(Acl)

MAX_TAGS = 10
MAX_KEY = 128
MAX_VALUE = 256
_TAG_PUNCTUATION = frozenset("+-=._:/@ ")


def parse_acl(text: str) -> str:
    """One of S3's canned ACLs, written exactly; a near miss is named in the error."""
    if text in ACLS:
        return text
    close = difflib.get_close_matches(text.lower(), ACLS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise argparse.ArgumentTypeError(f"invalid ACL {text!r}: use one of {', '.join(ACLS)}{hint}")


def parse_tag(text: str) -> tuple[str, str]:
    """A KEY=VALUE tag; the value may be empty (KEY=)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"invalid tag {text!r}: use KEY=VALUE (an empty value is KEY=)")
    return key, value


def _unique(pairs: list[tuple[str, str]]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for key, value in pairs:
        if key in tags:
            raise argparse.ArgumentTypeError(f"invalid tags: key {key!r} is given twice; tag keys must be unique")
        tags[key] = value
    return tags


def _from_flags(pairs: list[tuple[str, str]]) -> dict[str, str]:
    try:
        return _unique(pairs)
    except argparse.ArgumentTypeError as exc:
        raise ConfigError(f"--tag: {exc}") from None


def _from_text(text: str) -> dict[str, str]:
    return _unique([parse_tag(item.strip()) for item in text.split(",") if item.strip()])


def _from_file(value: Mapping[object, object] | list[object]) -> dict[str, str]:
    """A table of keys and strings, or an array of "KEY=VALUE" strings."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(item, str):
                raise Invalid(f"{key}: must be a string, got {got(item)}", member=str(key))
        return {str(key): str(item) for key, item in value.items()}
    pairs = []
    for item in value:
        if not isinstance(item, str):
            raise Invalid(f'the array holds {got(item)}: give "KEY=VALUE" strings')
        try:
            pairs.append(parse_tag(item))
        except argparse.ArgumentTypeError as exc:
            raise Invalid(str(exc)) from None
    try:
        return _unique(pairs)
    except argparse.ArgumentTypeError as exc:
        raise Invalid(str(exc)) from None


ACL = Kind(parse_acl, f"one of {', '.join(ACLS)}")
TAGS = Kind(
    _from_text,
    'a table of keys and strings, such as { team = "data" }, or an array of "KEY=VALUE"',
    (dict, list),
    text_in_file=False,
    check=_from_file,
    show=lambda value: ",".join(f"{key}={item}" for key, item in value.items()),
    item=parse_tag,
    collect=_from_flags,
)


def _allowed(character: str) -> bool:
    return unicodedata.category(character)[0] in "LNZ" or character in _TAG_PUNCTUATION


def _tag_problem(key: str, value: str) -> str | None:
    if not 1 <= len(key) <= MAX_KEY:
        return f"the key is {len(key)} characters long; S3 takes 1 to {MAX_KEY}"
    if len(value) > MAX_VALUE:
        return f"the value is {len(value)} characters long; S3 takes at most {MAX_VALUE}"
    if key.lower().startswith("aws:"):
        return "keys starting with 'aws:' are reserved by AWS"
    bad = next((c for c in key + value if not _allowed(c)), None)
    if bad is not None:
        return f"{bad!r} is not allowed: use letters, digits, spaces and + - = . _ : / @"
    return None


def check_acl_and_tags(acl: str | None, tags: Mapping[str, str]) -> None:
    """Raise ConfigError if *acl* is not a canned ACL or *tags* break S3's tagging rules."""
    if acl is not None:
        try:
            parse_acl(acl)
        except argparse.ArgumentTypeError as exc:
            raise ConfigError(str(exc)) from None
    if len(tags) > MAX_TAGS:
        raise ConfigError(f"{len(tags)} tags given: S3 allows at most {MAX_TAGS} per object")
    for key, value in tags.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ConfigError(f"invalid tag {key!r}={value!r}: keys and values are strings")
        problem = _tag_problem(key, value)
        if problem is not None:
            shown = key if len(key) <= 40 else key[:37] + "..."
            raise ConfigError(f"invalid tag {shown!r}: {problem}")


def tagging(tags: Mapping[str, str]) -> dict[str, Any]:
    """The ``Tagging`` field that stores *tags* with the object (URL-encoded, as S3 takes it); none without tags."""
    return {"Tagging": urlencode(dict(tags), quote_via=quote, safe="")} if tags else {}


def acl_args(acl: str | None) -> dict[str, Any]:
    """The ``ACL`` field of every object the run writes; none without an ACL (the bucket's rules apply)."""
    return {"ACL": acl} if acl else {}
