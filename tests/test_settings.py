"""Settings layers: flags > environment > config file > preset > defaults.  Pure, no server."""

from __future__ import annotations

import datetime
from dataclasses import fields
from typing import get_type_hints

import pytest

from async_ingest import ConfigError, IngestConfig, IngestSettings
from async_ingest._options import GROUPS, Setting
from async_ingest._settings import BY_NAME, DEFAULTS, PRESETS, SETTINGS, resolve_settings

MiB = 2**20


def test_defaults() -> None:
    """With nothing given, every setting is its default and says so."""
    settings = resolve_settings({}, {})
    assert settings.values == DEFAULTS
    assert set(settings.origins.values()) == {"default"}


@pytest.mark.parametrize(
    ("flags", "env", "file", "expected", "origin"),
    [
        pytest.param({"concurrency": 4}, {"ASYNC_INGEST_CONCURRENCY": "16"}, {"concurrency": 32}, 4, "flag", id="flag"),
        pytest.param(
            {}, {"ASYNC_INGEST_CONCURRENCY": "16"}, {"concurrency": 32}, 16, "env ASYNC_INGEST_CONCURRENCY", id="env"
        ),
        pytest.param({}, {}, {"concurrency": 32}, 32, "lake.toml", id="file"),
        pytest.param({}, {}, {}, 8, "default", id="default"),
    ],
)
def test_precedence(
    flags: dict[str, object], env: dict[str, str], file: dict[str, object], expected: int, origin: str
) -> None:
    """Each layer wins over the ones below it, and the origin is recorded."""
    settings = resolve_settings(flags, env, file, "lake.toml")
    assert settings.values["concurrency"] == expected
    assert settings.origins["concurrency"] == origin


def test_environment_is_converted() -> None:
    """Environment values are typed like flags: sizes, booleans, lists, dates, ages."""
    settings = resolve_settings(
        {},
        {
            "ASYNC_INGEST_PART_SIZE": "16MiB",
            "ASYNC_INGEST_RECURSIVE": "true",
            "ASYNC_INGEST_EXCLUDE": "*.tmp, *.bak",
            "ASYNC_INGEST_DATE": "2022-05-02",
            "ASYNC_INGEST_OLDER_THAN": "7d",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
            "AWS_REGION": "eu-west-1",
        },
    )
    values = settings.values
    assert values["part_size"] == 16 * MiB
    assert values["recursive"] is True
    assert values["exclude"] == ("*.tmp", "*.bak")
    assert values["date"] == datetime.date(2022, 5, 2)
    assert values["older_than"] == datetime.timedelta(days=7)
    assert values["endpoint_url"] == "http://127.0.0.1:9000"
    assert settings.origins["region"] == "env AWS_REGION"


def test_invalid_environment_names_the_variable() -> None:
    """A bad value in the environment is an error naming the variable."""
    with pytest.raises(ConfigError, match="ASYNC_INGEST_CONCURRENCY"):
        resolve_settings({}, {"ASYNC_INGEST_CONCURRENCY": "many"})


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_make_valid_configs(name: str) -> None:
    """Every preset yields a configuration the library accepts, and explicit settings still win."""
    settings = resolve_settings({"preset": name, "bucket": "lake"}, {})
    config = settings.config()
    for key, value in PRESETS[name].values.items():
        assert getattr(config, key) == value
        assert settings.origins[key] == f"preset {name}"
    overridden = resolve_settings({"preset": name, "bucket": "lake", "checksum": "sha256"}, {}).config()
    assert overridden.checksum == "sha256"


def test_print_config_redacts_credentials_in_urls() -> None:
    """Secrets that slip into an endpoint URL are not shown."""
    described = resolve_settings({"endpoint_url": "http://user:pa55@127.0.0.1:9000"}, {}).describe()
    assert described["endpoint_url"] == {"value": "http://***@127.0.0.1:9000", "from": "flag"}


def test_missing_bucket_says_how_to_give_one() -> None:
    """No bucket anywhere: the error lists the ways to give one."""
    with pytest.raises(ConfigError, match="ASYNC_INGEST_BUCKET"):
        resolve_settings({}, {}).config()


# -- the table -------------------------------------------------------------------------------------------------------


def test_every_field_is_a_setting() -> None:
    """Each IngestConfig field is declared once in the table, under its own name or its flag's."""
    assert [setting.field for setting in SETTINGS if setting.field] == [f.name for f in fields(IngestConfig)]
    assert len(BY_NAME) == len(SETTINGS)


@pytest.mark.parametrize("setting", [pytest.param(s, id=s.name) for s in SETTINGS])
def test_setting_is_complete(setting: Setting) -> None:
    """Every setting has help, a flag unless library-only, and values that read back as they are shown."""
    assert setting.help
    assert bool(setting.flag_names) is (setting.applies != "library")
    assert (setting.group in GROUPS) or setting.group is None
    if setting.default not in (None, "", (), {}):
        assert setting.kind.parse(setting.show(setting.default)) == setting.default


@pytest.mark.parametrize(
    "setting", [pytest.param(s, id=s.name) for s in SETTINGS if s.applies in ("both", "cli") and s.default]
)
def test_environment_reads_every_setting(setting: Setting) -> None:
    """Each setting's variable is read through its own parser into the value a flag would give."""
    shown = setting.show(setting.default)
    settings = resolve_settings({}, {setting.env_names[0]: shown})
    assert settings.values[setting.name] == setting.default
    assert settings.origins[setting.name] == f"env {setting.env_names[0]}"


def test_settings_dict_matches_the_config() -> None:
    """IngestSettings has every IngestConfig field but the bucket, with the same types."""
    config = get_type_hints(IngestConfig)
    del config["bucket"]
    assert get_type_hints(IngestSettings) == config
    assert IngestSettings.__total__ is False


def test_metadata_from_environment() -> None:
    """Metadata from the environment is KEY=VALUE pairs, comma-separated, checked like a flag's."""
    settings = resolve_settings({}, {"ASYNC_INGEST_METADATA": "team=data, source=crm"})
    assert settings.values["metadata"] == {"team": "data", "source": "crm"}
    assert settings.config(bucket="lake").metadata == {"team": "data", "source": "crm"}
    with pytest.raises(ConfigError, match="ASYNC_INGEST_METADATA: invalid metadata 'team'"):
        resolve_settings({}, {"ASYNC_INGEST_METADATA": "team"})


def test_listing_shows_values_as_people_write_them() -> None:
    """The --print-config rows: sizes with units, ages in hours or days, origins."""
    rows = {name: (value, origin) for name, value, origin in resolve_settings({"part_size": 16 * MiB}, {}).rows()}
    assert rows["part_size"] == ("16MiB", "flag")
    assert rows["buffer_memory"] == ("40MiB", "default")
    assert rows["older_than"] == ("24h", "default")
    assert rows["manifest"] == ("true", "default")
