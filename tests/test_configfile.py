"""The config file: discovery, conversions, sources, and errors that name file, line and key.  No server."""

from __future__ import annotations

import datetime
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from async_ingest import ConfigError, Shard, Source
from async_ingest._configfile import SETTINGS, FileSettings, find_config_file, load_config_file
from async_ingest._settings import SETTINGS as TABLE

MiB = 2**20


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(directory: Path, text: str, name: str = "async-ingest.toml") -> FileSettings:
    return load_config_file(write(directory, name, text))


def error_of(directory: Path, text: str, name: str = "async-ingest.toml") -> str:
    with pytest.raises(ConfigError) as caught:
        load(directory, text, name)
    return str(caught.value)


# -- discovery -------------------------------------------------------------------------------------------------------


def test_find_explicit(tmp_path: Path) -> None:
    """--config wins over the files of the working directory, and may have any name."""
    write(tmp_path, "async-ingest.toml", 'bucket = "found"\n')
    chosen = write(tmp_path, "other.toml", 'bucket = "chosen"\n')
    assert find_config_file(chosen, tmp_path) == chosen
    assert find_config_file(Path("other.toml"), tmp_path) == chosen  # relative to cwd


@pytest.mark.parametrize(
    ("make_dir", "expected"),
    [pytest.param(False, "no such file", id="missing"), pytest.param(True, "is not a file", id="directory")],
)
def test_find_explicit_must_be_a_file(tmp_path: Path, make_dir: bool, expected: str) -> None:
    """A --config that is missing or a directory is an error naming it, not a silent fallback."""
    write(tmp_path, "async-ingest.toml", 'bucket = "found"\n')
    if make_dir:
        (tmp_path / "conf.toml").mkdir()
    with pytest.raises(ConfigError, match=rf"conf\.toml: {expected}"):
        find_config_file(Path("conf.toml"), tmp_path)


def test_find_own_file_before_pyproject(tmp_path: Path) -> None:
    """async-ingest.toml wins over a pyproject.toml that also has the table."""
    write(tmp_path, "pyproject.toml", '[tool.async-ingest]\nbucket = "py"\n')
    own = write(tmp_path, "async-ingest.toml", 'bucket = "own"\n')
    assert find_config_file(None, tmp_path) == own


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('[tool.async-ingest]\nbucket = "lake"\n', id="table"),
        pytest.param('[tool."async-ingest"]\nbucket = "lake"\n', id="quoted"),
        pytest.param('[[tool.async-ingest.sources]]\npath = "a.csv"\n', id="sources-only"),
    ],
)
def test_find_pyproject_with_table(tmp_path: Path, text: str) -> None:
    pyproject = write(tmp_path, "pyproject.toml", '[project]\nname = "x"\n\n' + text)
    assert find_config_file(None, tmp_path) == pyproject


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('[project]\nname = "x"\n\n[tool.ruff]\nline-length = 120\n', id="other-tools"),
        pytest.param("[project\nname = broken", id="broken-but-not-ours"),
        pytest.param("[tool.ruff]\n# async-ingest is mentioned but has no table\nx = 1\n", id="mentioned"),
        pytest.param('[project]\ndependencies = ["async-ingest>=1"\n', id="broken-depends-on-us"),
    ],
)
def test_find_pyproject_without_table(tmp_path: Path, text: str) -> None:
    """A pyproject.toml without [tool.async-ingest] is not a config file, even if it does not parse."""
    write(tmp_path, "pyproject.toml", text)
    assert find_config_file(None, tmp_path) is None


def test_find_broken_pyproject_of_ours(tmp_path: Path) -> None:
    """A pyproject.toml meant for async-ingest that does not parse is an error, not ignored."""
    write(tmp_path, "pyproject.toml", '[tool.async-ingest]\nbucket = "lake\n')
    with pytest.raises(ConfigError, match=r"pyproject\.toml:2: invalid TOML"):
        find_config_file(None, tmp_path)


def test_find_none(tmp_path: Path) -> None:
    assert find_config_file(None, tmp_path) is None


def test_find_relative_cwd_keeps_paths_relative(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With cwd=Path(), the path found (and so every message) stays short."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "async-ingest.toml", "")
    assert find_config_file(None, Path()) == Path("async-ingest.toml")


# -- conversions -----------------------------------------------------------------------------------------------------


CONVERSIONS = [
    pytest.param('bucket = "lake"', "bucket", "lake", id="bucket"),
    pytest.param('endpoint-url = "http://localhost:9000"', "endpoint_url", "http://localhost:9000", id="endpoint"),
    pytest.param('region = "eu-west-1"', "region", "eu-west-1", id="region"),
    pytest.param('profile = "lake"', "profile", "lake", id="profile"),
    pytest.param('layout = "hive"', "layout", "hive", id="layout"),
    pytest.param('zone = "Landing"', "zone", "Landing", id="zone"),
    pytest.param('origin = "Partner"', "origin", "Partner", id="origin"),
    pytest.param('format = "CSV"', "format", "CSV", id="format"),
    pytest.param('tz = "Europe/Lisbon"', "tz", "Europe/Lisbon", id="tz"),
    pytest.param('date-from = "mtime"', "date_from", "mtime", id="date-from"),
    pytest.param('content_type = "text/csv"', "content_type", "text/csv", id="content-type"),
    pytest.param('sse = "aws:kms"', "sse", "aws:kms", id="sse"),
    pytest.param('sse-kms-key-id = "alias/lake"', "sse_kms_key_id", "alias/lake", id="sse-kms-key-id"),
    pytest.param('storage-class = "STANDARD_IA"', "storage_class", "STANDARD_IA", id="storage-class"),
    pytest.param('acl = "bucket-owner-full-control"', "acl", "bucket-owner-full-control", id="acl"),
    pytest.param('[tags]\nteam = "data"\nstage = ""', "tags", {"team": "data", "stage": ""}, id="tags-table"),
    pytest.param('tags = ["team=data", "stage="]', "tags", {"team": "data", "stage": ""}, id="tags-array"),
    pytest.param('manifest-layout = "_m/{filename}"', "manifest_layout", "_m/{filename}", id="manifest-layout"),
    pytest.param('prefix = "Raw/"', "prefix", "Raw/", id="prefix"),
    pytest.param('preset = "minio"', "preset", "minio", id="preset"),
    pytest.param('log-level = "debug"', "log_level", "debug", id="log-level"),
    pytest.param('log_format = "json"', "log_format", "json", id="log-format"),
    pytest.param("date = 2022-05-02", "date", datetime.date(2022, 5, 2), id="date-toml"),
    pytest.param('date = "2022-05-02"', "date", datetime.date(2022, 5, 2), id="date-string"),
    pytest.param('date = "2022-05-02T07"', "date", datetime.datetime(2022, 5, 2, 7), id="date-hour"),
    pytest.param("concurrency = 16", "concurrency", 16, id="concurrency-int"),
    pytest.param('concurrency = "16"', "concurrency", 16, id="concurrency-string"),
    pytest.param("workers = 2", "workers", 2, id="workers"),
    pytest.param('move-source = "done"', "move_source", Path("done"), id="move-source"),
    pytest.param("delete_source = true", "delete_source", True, id="delete-source"),
    pytest.param('shard = "3/8"', "shard", Shard(3, 8), id="shard"),
    pytest.param('run-id = "nightly-2026-01-01"', "run_id", "nightly-2026-01-01", id="run-id"),
    pytest.param("part-size = 10485760", "part_size", 10 * MiB, id="part-size-int"),
    pytest.param('part_size = "8MiB"', "part_size", 8 * MiB, id="part-size-string"),
    pytest.param('multipart-threshold = "16M"', "multipart_threshold", 16 * MiB, id="threshold-string"),
    pytest.param("multipart-threshold = 0", "multipart_threshold", 0, id="threshold-zero"),
    pytest.param('buffer-memory = "64MiB"', "buffer_memory", 64 * MiB, id="buffer-memory"),
    pytest.param('max-bandwidth = "200Mbit/s"', "max_bandwidth", 25_000_000, id="max-bandwidth"),
    pytest.param("max_bandwidth = 1048576", "max_bandwidth", MiB, id="max-bandwidth-int"),
    pytest.param('checksum = "sha256"', "checksum", "sha256", id="checksum"),
    pytest.param(
        'request-checksum-calculation = "when_supported"',
        "request_checksum_calculation",
        "when_supported",
        id="request-checksum-calculation",
    ),
    pytest.param('addressing-style = "path"', "addressing_style", "path", id="addressing-style"),
    pytest.param('if-exists = "overwrite"', "if_exists", "overwrite", id="if-exists"),
    pytest.param(
        'metadata = { team = "data", "source-system" = "crm" }',
        "metadata",
        {"team": "data", "source-system": "crm"},
        id="metadata-inline",
    ),
    pytest.param('[metadata]\nteam = "data"', "metadata", {"team": "data"}, id="metadata-table"),
    pytest.param("metadata = {}", "metadata", {}, id="metadata-empty"),
    pytest.param("manifest = false", "manifest", False, id="manifest"),
    pytest.param("success-marker = true", "success_marker", True, id="success-marker"),
    pytest.param('once = "7d"', "once", datetime.timedelta(days=7), id="once"),
    pytest.param("follow_symlinks = false", "follow_symlinks", False, id="follow-symlinks"),
    pytest.param("recursive = true", "recursive", True, id="recursive"),
    pytest.param("category-from-parent = true", "category_from_parent", True, id="category-from-parent"),
    pytest.param("quiet = true", "quiet", True, id="quiet"),
    pytest.param('include = "*.csv"', "include", ("*.csv",), id="include-string"),
    pytest.param('include = ["*.csv", "*.json"]', "include", ("*.csv", "*.json"), id="include-list"),
    pytest.param("exclude = []", "exclude", (), id="exclude-empty"),
    pytest.param('older-than = "7d"', "older_than", datetime.timedelta(days=7), id="older-than"),
    pytest.param("max-attempts = 1", "max_attempts", 1, id="max-attempts"),
    pytest.param("connect-timeout = 2.5", "connect_timeout", 2.5, id="connect-timeout"),
    pytest.param('read-timeout = "30"', "read_timeout", 30.0, id="read-timeout"),
]


@pytest.mark.parametrize(("toml", "name", "expected"), CONVERSIONS)
def test_conversion(tmp_path: Path, toml: str, name: str, expected: Any) -> None:
    """Each setting comes out as the type the command line produces, under its argparse dest."""
    settings = load(tmp_path, toml + "\n")
    assert settings.values == {name: expected}
    assert type(settings.values[name]) is type(expected)
    assert settings.lines == {name: 1}
    assert settings.sources == ()


def test_every_setting_is_covered() -> None:
    """Every setting a file may hold has a conversion test, and the file holds exactly the table's file settings."""
    assert {param.values[1] for param in CONVERSIONS} == set(SETTINGS)
    assert set(SETTINGS) == {setting.name for setting in TABLE if setting.applies in ("both", "cli")}


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        pytest.param("bucket = 3", "bucket: must be a string, got 3", id="string"),
        pytest.param(
            'concurrency = "many"', "concurrency: must be a whole number of at least 1, got 'many'", id="count-text"
        ),
        pytest.param("concurrency = 0", "concurrency: must be a whole number of at least 1, got 0", id="count-zero"),
        pytest.param("concurrency = 2.5", "concurrency: must be a whole number of at least 1, got 2.5", id="float"),
        pytest.param("concurrency = true", "concurrency: must be a whole number of at least 1, got true", id="bool"),
        pytest.param('part-size = "big"', "part-size: must be a number of bytes or a size with a unit", id="size"),
        pytest.param("part-size = -1", "part-size: must be a number of bytes", id="size-negative"),
        pytest.param('date = "02/05/2022"', "date: must be a date such as 2022-05-02", id="date-form"),
        pytest.param('date = "2022-02-30"', "date: must be a date such as 2022-05-02", id="date-impossible"),
        pytest.param("date = 2022-05-02T10:00:00", "got the date-time 2022-05-02T10:00:00", id="date-time"),
        pytest.param('older-than = "a day"', "older-than: must be an age such as", id="age"),
        pytest.param("older-than = 3600", "older-than: must be an age such as", id="age-number"),
        pytest.param(
            'checksum = "crc64"',
            "checksum: must be one of crc64nvme, crc32c, crc32, sha256, none; got 'crc64' (did you mean 'crc64nvme'?)",
            id="choice",
        ),
        pytest.param(
            'sse = "aes256"',
            "sse: must be one of AES256, aws:kms; got 'aes256' (did you mean 'AES256'?)",
            id="choice-case",
        ),
        pytest.param('log-level = "verbose"', "log-level: must be one of debug, info, warning, error", id="level"),
        pytest.param('manifest = "no"', "manifest: must be true or false, got 'no'", id="bool-string"),
        pytest.param("include = [1]", "include: must be a glob pattern or an array of them, got an array", id="list"),
        pytest.param('metadata = "team=data"', "metadata: must be a table of names and strings", id="metadata"),
        pytest.param("metadata = { n = 1 }", "metadata: n: must be a string, got 1", id="metadata-value"),
        pytest.param('metadata = { "" = "x" }', "metadata: names must not be empty", id="metadata-name"),
        pytest.param('acl = "public"', "acl: must be one of private, public-read, public-read-write", id="acl"),
        pytest.param('max-bandwidth = "fast"', "max-bandwidth: must be bytes per second or a rate", id="rate"),
        pytest.param("max-bandwidth = 0", "max-bandwidth: must be bytes per second or a rate", id="rate-zero"),
        pytest.param('tags = "team=data"', "tags: must be a table of keys and strings", id="tags"),
        pytest.param('tags = ["team"]', "tags: invalid tag 'team': use KEY=VALUE", id="tags-form"),
        pytest.param('tags = ["a=1", "a=2"]', "tags: invalid tags: key 'a' is given twice", id="tags-twice"),
        pytest.param("tags = [1]", 'tags: the array holds 1: give "KEY=VALUE" strings', id="tags-type"),
    ],
)
def test_wrong_value_names_file_line_and_key(tmp_path: Path, toml: str, expected: str) -> None:
    path = write(tmp_path, "async-ingest.toml", f'# lake settings\nzone = "Raw"\n\n{toml}\n')
    with pytest.raises(ConfigError) as caught:
        load_config_file(path)
    assert str(caught.value).startswith(f"{path}:4: ")
    assert expected in str(caught.value)


def test_error_message_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The message reads file:line: key: problem, with the path as found."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "async-ingest.toml", 'bucket = "lake"\nlayout = "hive"\n\n# transfer\n\n\nconcurrency = "many"\n')
    path = find_config_file(None, Path())
    assert path is not None
    with pytest.raises(ConfigError) as caught:
        load_config_file(path)
    assert str(caught.value) == "async-ingest.toml:7: concurrency: must be a whole number of at least 1, got 'many'"


def test_long_values_are_shortened(tmp_path: Path) -> None:
    message = error_of(tmp_path, f'concurrency = "{"x" * 500}"\n')
    assert "x" * 60 not in message
    assert message.endswith("xxx...'")


# -- unknown and refused keys ----------------------------------------------------------------------------------------


def test_unknown_setting_suggests(tmp_path: Path) -> None:
    path = write(tmp_path, "async-ingest.toml", 'zone = "Raw"\n\nbukcet = "lake"\n')
    with pytest.raises(ConfigError) as caught:
        load_config_file(path)
    assert str(caught.value) == f"{path}:3: unknown setting 'bukcet' (did you mean 'bucket'?)"


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        pytest.param('Bucket = "x"', "unknown setting 'Bucket' (did you mean 'bucket'?)", id="case"),
        pytest.param('part-sise = "8MiB"', "unknown setting 'part-sise' (did you mean 'part_size'?)", id="dashes"),
        pytest.param('colour = "blue"', "unknown setting 'colour'", id="no-suggestion"),
        pytest.param("[aws]\nregion = 'x'", "unknown setting 'aws'", id="table"),
        pytest.param("dry-run = true", "'dry-run' can only be given on the command line", id="flag-only"),
    ],
)
def test_unknown_settings(tmp_path: Path, toml: str, expected: str) -> None:
    message = error_of(tmp_path, f"{toml}\n")
    assert message.endswith(expected)
    assert ":1: " in message


def test_no_suggestion_when_nothing_is_close(tmp_path: Path) -> None:
    assert "did you mean" not in error_of(tmp_path, 'colour = "blue"\n')


def test_same_setting_twice(tmp_path: Path) -> None:
    message = error_of(tmp_path, "part-size = 1\npart_size = 2\n")
    assert message.endswith(":2: part_size is given twice (as 'part-size' and 'part_size')")


@pytest.mark.parametrize(
    "key",
    [
        "aws_access_key_id",
        "aws-secret-access-key",
        "aws_session_token",
        "secret",
        "password",
        "access_key",
        "Token",
        "sse_secret",
    ],
)
def test_secrets_refused(tmp_path: Path, key: str) -> None:
    """Credentials never come from the file; the message says where they come from and hides the value."""
    path = write(tmp_path, "async-ingest.toml", f'bucket = "lake"\n{key} = "hunter2-do-not-print"\n')
    with pytest.raises(ConfigError) as caught:
        load_config_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:2: {key}: credentials cannot be set in a config file")
    assert "standard AWS chain" in message
    assert "AWS_PROFILE" in message
    assert "hunter2" not in message


def test_secret_in_a_source_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[[sources]]\npath = "a.csv"\ntoken = "hunter2"\n')
    assert ":3: sources[0].token: credentials cannot be set" in message
    assert "hunter2" not in message


# -- TOML syntax -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line"),
    [
        pytest.param('bucket = "lake"\nzone = \nx = 1\n', 2, id="missing-value"),
        pytest.param('bucket = "lake"\n\n[metadata\n', 3, id="header"),
        pytest.param('bucket = "lake"\nbucket = "other"\n', 2, id="duplicate"),
        pytest.param('bucket = "lake"\nzone = "Raw\n', 2, id="unterminated"),
    ],
)
def test_toml_syntax_error_has_line(tmp_path: Path, text: str, line: int) -> None:
    path = write(tmp_path, "async-ingest.toml", text)
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}:{line}: invalid TOML: \w") as caught:
        load_config_file(path)
    assert "(at line" not in str(caught.value)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "async-ingest.toml"
    path.write_bytes(b'bucket = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config_file(path)


def test_empty_file(tmp_path: Path) -> None:
    settings = load(tmp_path, "# nothing yet\n")
    assert settings == FileSettings(path=tmp_path / "async-ingest.toml", values={}, sources=(), lines={})


# -- sources ---------------------------------------------------------------------------------------------------------

SOURCES = """\
bucket = "lake"
include = "*.csv"

[[sources]]
path = "data/movies.csv"
category = "Movies"

[[sources]]
# a pattern, kept as one
path = "exports/**/*.json"
include = ["a*", "b*"]
exclude = "*.tmp"
recursive = true
category-from-parent = true

[[sources]]
path = "/srv/shared/series.csv"
"""


def test_sources(tmp_path: Path) -> None:
    """Sources keep file order; relative paths are relative to the file's directory; globs stay patterns."""
    conf = tmp_path / "conf"
    conf.mkdir()
    settings = load(conf, SOURCES)
    assert settings.values == {"bucket": "lake", "include": ("*.csv",)}
    assert settings.sources == (
        Source(conf / "data" / "movies.csv", "Movies"),
        Source(
            conf / "exports/**/*.json",
            include=("a*", "b*"),
            exclude=("*.tmp",),
            recursive=True,
            category_from_parent=True,
        ),
        Source(Path("/srv/shared/series.csv")),
    )
    assert settings.lines == {
        "bucket": 1,
        "include": 2,
        "sources": 4,
        "sources[0]": 4,
        "sources[1]": 8,
        "sources[2]": 16,
    }


def test_sources_relative_to_the_file_not_the_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    write(conf, "ingest.toml", '[[sources]]\npath = "movies.csv"\n')
    monkeypatch.chdir(tmp_path)
    found = find_config_file(Path("conf/ingest.toml"), Path())
    assert found is not None
    assert load_config_file(found).sources == (Source(Path("conf/movies.csv")),)


def test_inline_sources(tmp_path: Path) -> None:
    settings = load(tmp_path, 'bucket = "lake"\nsources = [{ path = "a.csv", category = "A" }, { path = "b.csv" }]\n')
    assert settings.sources == (Source(tmp_path / "a.csv", "A"), Source(tmp_path / "b.csv"))
    assert settings.lines["sources[1]"] == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param('[[sources]]\ncategory = "Movies"\n', ":1: sources[0]: has no path", id="no-path"),
        pytest.param('[[sources]]\npath = ""\n', ":1: sources[0]: path is empty", id="empty-path"),
        pytest.param(
            '[[sources]]\npath = "a.csv"\n\n[[sources]]\npath = "b.csv"\ncategroy = "B"\n',
            ":6: sources[1]: unknown key 'categroy' (did you mean 'category'?)",
            id="unknown-key",
        ),
        pytest.param(
            '[[sources]]\npath = "a.csv"\nrecursive = "yes"\n',
            ":3: sources[0].recursive: must be true or false, got 'yes'",
            id="wrong-type",
        ),
        pytest.param("[[sources]]\npath = 3\n", ":2: sources[0].path: must be a string, got 3", id="path-type"),
        pytest.param(
            '[[sources]]\npath = "a.csv"\nbucket = "lake"\n',
            ":3: sources[0]: 'bucket' is a setting, not a key of a source: move it above the first [[sources]]",
            id="setting-below-sources",
        ),
        pytest.param(
            '[[sources]]\npath = "a.csv"\ninclude = "*"\ninclude_ = 1\n',
            ":4: sources[0]: unknown key 'include_' (did you mean 'include'?)",
            id="suggestion",
        ),
        pytest.param(
            '[[sources]]\npath = "a"\nrecursive = true\n"recursive" = true\n',
            ":4: invalid TOML: Cannot overwrite a value",
            id="duplicate",
        ),
        pytest.param('sources = "data/*.csv"\n', ":1: sources: must be an array of tables", id="not-array"),
        pytest.param('sources = ["data/*.csv"]\n', ":1: sources[0]: must be a table with a path", id="not-table"),
    ],
)
def test_source_errors(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in error_of(tmp_path, text)


# -- pyproject.toml --------------------------------------------------------------------------------------------------

PYPROJECT = """\
[project]
name = "lake-loader"
version = "1.0"

[tool.ruff]
line-length = 120
bucket = "not ours"

[tool.async-ingest]
bucket = "lake"
part-size = "16MiB"

[tool.async-ingest.metadata]
team = "data"

[[tool.async-ingest.sources]]
path = "data/movies.csv"
category = "Movies"

[[tool.async-ingest.sources]]
path = "data/*.csv"
"""


def test_pyproject(tmp_path: Path) -> None:
    path = write(tmp_path, "pyproject.toml", PYPROJECT)
    assert find_config_file(None, tmp_path) == path
    settings = load_config_file(path)
    assert settings.values == {"bucket": "lake", "part_size": 16 * MiB, "metadata": {"team": "data"}}
    assert settings.sources == (Source(tmp_path / "data/movies.csv", "Movies"), Source(tmp_path / "data/*.csv"))
    assert settings.lines == {
        "bucket": 10,
        "part_size": 11,
        "metadata": 13,
        "sources": 16,
        "sources[0]": 16,
        "sources[1]": 20,
    }


def test_pyproject_errors_point_into_the_table(tmp_path: Path) -> None:
    """Lines come from [tool.async-ingest], not from another tool's table with the same key."""
    text = PYPROJECT.replace('part-size = "16MiB"', 'part-size = "16MiB"\nbuckt = "x"')
    assert error_of(tmp_path, text, "pyproject.toml").endswith(
        "pyproject.toml:12: unknown setting 'buckt' (did you mean 'bucket'?)"
    )
    text = PYPROJECT.replace('category = "Movies"', 'category = "Movies"\ncolour = "x"')
    assert ":19: sources[0]: unknown key 'colour'" in error_of(tmp_path, text, "pyproject.toml")


def test_pyproject_without_table(tmp_path: Path) -> None:
    """--config pyproject.toml without the table is an error, not an empty configuration."""
    assert error_of(tmp_path, '[project]\nname = "x"\n', "pyproject.toml").endswith(
        "pyproject.toml: no [tool.async-ingest] table"
    )


def test_pyproject_table_of_wrong_type(tmp_path: Path) -> None:
    assert "pyproject.toml:2: tool.async-ingest: must be a table" in error_of(
        tmp_path, '[tool]\nasync-ingest = "yes"\n', "pyproject.toml"
    )


# -- line finding ----------------------------------------------------------------------------------------------------


def test_lines_skip_multiline_strings_and_other_tables(tmp_path: Path) -> None:
    """A 'key =' inside a multi-line string or a sub-table does not fool the line finder."""
    text = (
        'layout = """\n'  # 1
        "bucket = not really\n"  # 2
        '"""\n'  # 3
        "\n"  # 4
        "[metadata]\n"  # 5
        'zone = "a metadata value"\n'  # 6
        "\n"  # 7
        "[[sources]]\n"  # 8
        'path = "a.csv"\n'  # 9
    )
    settings = load(tmp_path, text)
    assert settings.lines["layout"] == 1
    assert settings.lines["metadata"] == 5
    assert settings.lines["sources[0]"] == 8
    message = error_of(tmp_path, text.replace("\n\n[metadata]", "\nbucket = 3\n[metadata]"))
    assert ":4: bucket: must be a string, got 3" in message


def test_metadata_error_points_at_its_entry(tmp_path: Path) -> None:
    """A wrong value under [metadata] is reported at its own line, not the table's header."""
    assert ":3: metadata: team: must be a string" in error_of(tmp_path, 'bucket = "lake"\n[metadata]\nteam = 1\n')
    second = 'bucket = "lake"\n[metadata]\nteam = "data"\n\nsize = 2\n'
    assert ":5: metadata: size: must be a string" in error_of(tmp_path, second)
    dotted = 'bucket = "lake"\n\nmetadata.team = "data"\nmetadata.size = 2\n'
    assert ":4: metadata: size: must be a string" in error_of(tmp_path, dotted)
    assert ":2: metadata: size:" in error_of(tmp_path, 'bucket = "lake"\nmetadata = { size = 2 }\n')


def test_dotted_key_line(tmp_path: Path) -> None:
    settings = load(tmp_path, 'bucket = "lake"\n\nmetadata.team = "data"\n')
    assert settings.values["metadata"] == {"team": "data"}
    assert settings.lines["metadata"] == 3


def test_quoted_key_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, 'bucket = "lake"\n"concurrency" = 0\n')
    assert ":2: concurrency: must be a whole number" in message


def test_docstring_example_loads(tmp_path: Path) -> None:
    """The example in the module's docstring is a valid config file."""
    import async_ingest._configfile as module

    assert module.__doc__ is not None
    example = module.__doc__.split("An example::\n\n", 1)[1].split("\n\nIn ``pyproject.toml``", 1)[0]
    settings = load(tmp_path, example)
    assert settings.values["bucket"] == "lake"
    assert settings.values["part_size"] == 16 * MiB
    assert settings.values["metadata"] == {"team": "data-platform"}
    assert settings.sources == (
        Source(tmp_path / "data/movies.csv", "Movies"),
        Source(tmp_path / "exports/*.csv", category_from_parent=True),
    )
