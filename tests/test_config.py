"""Settings are validated when made, before anything is uploaded."""

from __future__ import annotations

import pytest

from async_ingest import ConfigError, IngestConfig, InvalidKeyError


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("ab", id="too-short"),
        pytest.param("a" * 64, id="too-long"),
        pytest.param("Data-Lake", id="uppercase"),
        pytest.param("data_lake", id="underscore"),
        pytest.param("-lake", id="leading-dash"),
        pytest.param("lake.", id="trailing-dot"),
        pytest.param("data..lake", id="double-dot"),
        pytest.param("192.168.1.1", id="ip-address"),
        pytest.param("xn--lake", id="reserved-prefix"),
        pytest.param("lake-s3alias", id="reserved-suffix"),
        pytest.param("s3://lake", id="url"),
    ],
)
def test_invalid_bucket_names(name: str) -> None:
    """Bucket names S3 would refuse are refused up front, naming the bucket."""
    with pytest.raises(ConfigError, match="invalid bucket name"):
        IngestConfig(bucket=name)


@pytest.mark.parametrize("name", ["data-lake-do-fulano", "abc", "my.lake.2022", "a" * 63])
def test_valid_bucket_names(name: str) -> None:
    """Names that follow S3's rules are accepted."""
    assert IngestConfig(bucket=name).bucket == name


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        pytest.param({"concurrency": 0}, "concurrency", id="concurrency"),
        pytest.param({"part_size": 1024}, "part size", id="part-size-small"),
        pytest.param({"part_size": 6 * 2**30}, "part size", id="part-size-large"),
        pytest.param({"multipart_threshold": -1}, "threshold", id="threshold"),
        pytest.param({"checksum": "md5"}, "checksum", id="checksum"),
        pytest.param({"timezone": "Mars/Olympus"}, "time zone", id="timezone"),
        pytest.param({"layout": "flat"}, "layout", id="layout-name"),
        pytest.param({"max_attempts": 0}, "attempts", id="attempts"),
        pytest.param(
            {"buffer_memory": 1},
            r"buffer memory 1 bytes is smaller than one part \(part size 8MiB\)",
            id="buffer-below-part",
        ),
        pytest.param(
            {"part_size": 16 * 2**20, "buffer_memory": 8 * 2**20},
            r"buffer memory 8MiB is smaller than one part \(part size 16MiB\)",
            id="buffer-below-larger-part",
        ),
    ],
)
def test_invalid_settings(settings: dict[str, object], message: str) -> None:
    """Each invalid setting is named in its error."""
    with pytest.raises(ConfigError, match=message):
        IngestConfig(bucket="lake", **settings)  # type: ignore[arg-type]


def test_invalid_key_piece_in_config() -> None:
    """Key pieces in the config are checked when the config is made, not at upload time."""
    with pytest.raises(InvalidKeyError, match="zone"):
        IngestConfig(bucket="lake", zone="Raw/..")
