"""The config file: ``async-ingest.toml``, or ``[tool.async-ingest]`` in ``pyproject.toml``.

Reads the file's settings and sources, converted to the values the command line would
produce; the command line merges them (flags > environment > file > defaults).  An example::

    # async-ingest.toml
    bucket = "lake"
    layout = "hive"
    zone = "Raw"
    origin = "Local"
    concurrency = 16
    part-size = "16MiB"            # or a number of bytes
    checksum = "crc64nvme"
    if-exists = "skip"
    exclude = ["*.tmp", "*.partial"]

    [metadata]
    team = "data-platform"

    [[sources]]
    path = "data/movies.csv"       # relative to this file's directory
    category = "Movies"

    [[sources]]
    path = "exports/*.csv"         # a glob pattern, expanded at run time
    category-from-parent = true

In ``pyproject.toml`` the same settings go under ``[tool.async-ingest]``, and sources
under ``[[tool.async-ingest.sources]]``.  Keys may be written with ``-`` or ``_``.

Credentials are never read from the file: they come only from the standard AWS chain
(environment variables, ``AWS_PROFILE`` and ``~/.aws``, instance and task roles).

Every error names the file, the line and the key::

    async-ingest.toml:7: concurrency: must be a whole number of at least 1, got 'many'
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._exceptions import ConfigError
from ._parse import BOOL, PATTERNS, TEXT, Invalid, Kind, got
from ._plan import Source
from ._settings import SETTINGS as TABLE

__all__ = ["CONFIG_FILE_NAME", "SETTINGS", "FileSettings", "find_config_file", "load_config_file"]

CONFIG_FILE_NAME = "async-ingest.toml"
PYPROJECT_NAME = "pyproject.toml"
#: The table of pyproject.toml that holds the settings.
PYPROJECT_TABLE: tuple[str, ...] = ("tool", "async-ingest")

#: Words that mark a key as a credential, refused wherever it appears.
_SECRET_WORDS = ("secret", "password", "token", "access_key")

_CREDENTIALS_HINT = (
    "credentials cannot be set in a config file; they come only from the standard AWS chain "
    "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN environment variables, "
    "AWS_PROFILE and ~/.aws, instance and task roles)"
)


@dataclass(frozen=True)
class FileSettings:
    """What a config file declares.

    ``values`` maps a setting's name (the command line's argparse ``dest``) to its value,
    already converted to the type the command line produces.  ``lines`` maps each setting
    name, and ``"sources[N]"`` (0-based) for each source, to its 1-based line in the file.
    """

    path: Path
    values: dict[str, Any]
    sources: tuple[Source, ...]
    lines: dict[str, int]


#: The settings a file may hold (named as the command line's argparse dest) and their kinds of value.
SETTINGS: Mapping[str, Kind] = {setting.name: setting.kind for setting in TABLE if setting.in_file}

#: Settings that only make sense for one run, given on the command line.
_FLAG_ONLY = frozenset(setting.name for setting in TABLE if setting.applies == "run")

#: The keys of a ``[[sources]]`` entry and their kinds of value (``path`` is handled apart).
SOURCE_KEYS: Mapping[str, Kind] = {
    "path": TEXT,
    "category": TEXT,
    "include": PATTERNS,
    "exclude": PATTERNS,
    "recursive": BOOL,
    "category_from_parent": BOOL,
}


def _is_secret(name: str) -> bool:
    lowered = name.lower().replace("-", "_")
    return any(word in lowered for word in _SECRET_WORDS)


def _suggest(name: str, known: Mapping[str, object]) -> str:
    close = difflib.get_close_matches(name.lower().replace("-", "_"), list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# -- line numbers --------------------------------------------------------------------------------------------------

_HEADER_RE = re.compile(r"""^\s*(\[\[?)\s*([A-Za-z0-9_\-."' ]+?)\s*\]\]?\s*(?:#.*)?$""")
_TRIPLE_QUOTE_RE = re.compile(r"\"\"\"|'''")
_MENTIONS_TABLE_RE = re.compile(r"""\btool\s*\.\s*["']?async-ingest\b""")


@dataclass(frozen=True)
class _Block:
    """A table header and the lines up to the next one; the root block has no header (line 0)."""

    name: tuple[str, ...]
    array: bool
    line: int
    body: tuple[tuple[int, str], ...]


class _LineIndex:
    """Where keys sit in a TOML text; tomllib does not say, so this scans for them.

    A heuristic: it knows table headers, ``key =`` lines and multi-line strings, which is
    all it needs to point a message at the right line of a hand-written file.
    """

    def __init__(self, text: str, root: tuple[str, ...]) -> None:
        self.root = root
        blocks: list[_Block] = []
        name: tuple[str, ...] = ()
        array = False
        start = 0
        body: list[tuple[int, str]] = []
        delimiter: str | None = None  # inside a multi-line string closed by this
        for number, line in enumerate(text.splitlines(), start=1):
            in_string = delimiter is not None
            for match in _TRIPLE_QUOTE_RE.finditer(line):
                if delimiter is None:
                    delimiter = match.group()
                elif match.group() == delimiter:
                    delimiter = None
            if in_string:
                continue
            header = _HEADER_RE.match(line)
            if header:
                blocks.append(_Block(name, array, start, tuple(body)))
                name = tuple(part.strip().strip("\"'") for part in header.group(2).split("."))
                array = header.group(1) == "[["
                start = number
                body = []
            else:
                body.append((number, line))
        blocks.append(_Block(name, array, start, tuple(body)))
        self.blocks = tuple(blocks)

    @staticmethod
    def _find(block: _Block, key: str, after: str = "=") -> int | None:
        pattern = re.compile(rf"""^\s*(?:"{re.escape(key)}"|'{re.escape(key)}'|{re.escape(key)})\s*{after}""")
        for number, line in block.body:
            if pattern.match(line):
                return number
        return None

    def _table_line(self) -> int:
        for block in self.blocks:
            if block.name == self.root and not block.array:
                return max(block.line, 1)
        return 1

    def setting(self, key: str) -> int:
        """The line of *key* in the settings table (its ``key =``, ``[key]`` or ``key.sub =`` line)."""
        for block in self.blocks:
            if block.name == self.root and not block.array and (found := self._find(block, key)):
                return found
        for block in self.blocks:
            if block.name == (*self.root, key):
                return block.line
        for block in self.blocks:
            if block.name == self.root and not block.array and (found := self._find(block, key, after=r"\.")):
                return found
        return self._table_line()

    def member(self, key: str, member: str) -> int:
        """The line of entry *member* of the table *key* (``[key]`` then ``member =``, or ``key.member =``)."""
        for block in self.blocks:
            if block.name == (*self.root, key) and not block.array and (found := self._find(block, member)):
                return found
        dotted = rf"\s*\.\s*(?:\"{re.escape(member)}\"|'{re.escape(member)}'|{re.escape(member)})\s*="
        for block in self.blocks:
            if block.name == self.root and not block.array and (found := self._find(block, key, after=dotted)):
                return found
        return self.setting(key)

    def source(self, index: int, key: str | None = None) -> int:
        """The line of ``[[sources]]`` number *index* (0-based), or of *key* inside it."""
        entries = [block for block in self.blocks if block.name == (*self.root, "sources") and block.array]
        if index >= len(entries):  # an inline array, sources = [{ path = ... }]
            return self.setting("sources")
        entry = entries[index]
        if key is not None and (found := self._find(entry, key)):
            return found
        return entry.line


# -- finding and loading ---------------------------------------------------------------------------------------------


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _parse_toml(path: Path, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        where = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
        if where:
            line = int(where.group(1))
            message = f"{message[: where.start()]} (column {where.group(2)})"
        else:
            line = max(1, len(text.splitlines()))
            message = message.replace(" (at end of document)", " (at the end of the file)")
        raise ConfigError(f"{path}:{line}: invalid TOML: {message}") from None


def _pyproject_table(document: Mapping[str, Any]) -> object:
    tool = document.get(PYPROJECT_TABLE[0])
    return tool.get(PYPROJECT_TABLE[1]) if isinstance(tool, dict) else None


def find_config_file(explicit: Path | None, cwd: Path) -> Path | None:
    """The config file to read: *explicit* if given, else one found in *cwd*, else None.

    *explicit* (``--config``) must be an existing file; a relative one is taken relative to *cwd*.
    Otherwise ``async-ingest.toml`` in *cwd* wins, then ``pyproject.toml`` if it has a
    ``[tool.async-ingest]`` table.  Pass ``cwd=Path()`` to keep the paths (and messages) relative.
    """
    if explicit is not None:
        candidate = cwd / explicit
        if not candidate.exists():
            raise ConfigError(f"config file {explicit}: no such file")
        if not candidate.is_file():
            raise ConfigError(f"config file {explicit}: is not a file")
        return candidate
    own = cwd / CONFIG_FILE_NAME
    if own.is_file():
        return own
    pyproject = cwd / PYPROJECT_NAME
    if pyproject.is_file():
        text = _read(pyproject)
        if not _MENTIONS_TABLE_RE.search(text):
            return None  # not ours: a broken pyproject.toml of another tool is no reason to fail
        if _pyproject_table(_parse_toml(pyproject, text)) is not None:
            return pyproject
    return None


def load_config_file(path: Path) -> FileSettings:
    """Read *path* (``[tool.async-ingest]`` if it is a pyproject.toml); raises ConfigError naming file, line, key."""
    text = _read(path)
    document = _parse_toml(path, text)
    if path.name == PYPROJECT_NAME:
        root = PYPROJECT_TABLE
        table = _pyproject_table(document)
        if table is None:
            raise ConfigError(f"{path}: no [tool.async-ingest] table")
        if not isinstance(table, dict):
            line = _LineIndex(text, PYPROJECT_TABLE[:1]).setting(PYPROJECT_TABLE[1])
            raise ConfigError(f"{path}:{line}: tool.async-ingest: must be a table, got {got(table)}")
    else:
        root = ()
        table = document
    index = _LineIndex(text, root)

    values: dict[str, Any] = {}
    lines: dict[str, int] = {}
    written: dict[str, str] = {}  # setting name -> the key as the file spells it
    sources: tuple[Source, ...] = ()
    for key, value in table.items():
        line = index.setting(key)
        name = key.replace("-", "_")
        if _is_secret(key):
            raise ConfigError(f"{path}:{line}: {key}: {_CREDENTIALS_HINT}")
        if name in written:
            raise ConfigError(f"{path}:{line}: {name} is given twice (as {written[name]!r} and {key!r})")
        written[name] = key
        if name == "sources":
            lines[name] = line
            sources = _sources(path, value, index, lines)
            continue
        kind = SETTINGS.get(name)
        if kind is None:
            if name in _FLAG_ONLY:
                raise ConfigError(f"{path}:{line}: {key!r} can only be given on the command line")
            raise ConfigError(f"{path}:{line}: unknown setting {key!r}{_suggest(key, SETTINGS)}")
        try:
            values[name] = kind.from_file(value)
        except Invalid as exc:
            where = index.member(key, exc.member) if exc.member else line
            raise ConfigError(f"{path}:{where}: {key}: {exc}") from None
        lines[name] = line
    return FileSettings(path=path, values=values, sources=sources, lines=lines)


def _sources(path: Path, value: object, index: _LineIndex, lines: dict[str, int]) -> tuple[Source, ...]:
    if not isinstance(value, list):
        raise ConfigError(
            f"{path}:{index.setting('sources')}: sources: must be an array of tables, "
            f'written as [[sources]] entries, each with path = "...", got {got(value)}'
        )
    sources: list[Source] = []
    for number, entry in enumerate(value):
        label = f"sources[{number}]"
        line = index.source(number)
        lines[label] = line
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}:{line}: {label}: must be a table with a path, got {got(entry)}")
        fields: dict[str, Any] = {}
        for key, item in entry.items():
            where = index.source(number, key)
            name = key.replace("-", "_")
            if _is_secret(key):
                raise ConfigError(f"{path}:{where}: {label}.{key}: {_CREDENTIALS_HINT}")
            kind = SOURCE_KEYS.get(name)
            if kind is None:
                if name in SETTINGS:  # a setting written below a [[sources]] header lands in that source
                    raise ConfigError(
                        f"{path}:{where}: {label}: {key!r} is a setting, not a key of a source: "
                        "move it above the first [[sources]] entry"
                    )
                raise ConfigError(f"{path}:{where}: {label}: unknown key {key!r}{_suggest(key, SOURCE_KEYS)}")
            if name in fields:
                raise ConfigError(f"{path}:{where}: {label}: {name} is given twice")
            try:
                fields[name] = kind.from_file(item)
            except Invalid as exc:
                raise ConfigError(f"{path}:{where}: {label}.{key}: {exc}") from None
        text = fields.pop("path", None)
        if not text:
            problem = "path is empty" if text == "" else 'has no path: add path = "FILE, DIRECTORY or PATTERN"'
            raise ConfigError(f"{path}:{line}: {label}: {problem}")
        # Relative to the config file, so that the file works from any directory; globs stay patterns.
        sources.append(Source(path.parent / Path(text).expanduser(), **fields))
    return tuple(sources)
