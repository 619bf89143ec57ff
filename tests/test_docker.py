"""The container image: build it, run it with no arguments against the test S3 server, check what landed.

Needs a Docker daemon reachable via DOCKER_HOST (or the default socket) and
BASE_IMAGE naming a Python base image the daemon has locally; without them these
tests skip, saying which is missing.  The image is built and run with
--network host, which lets the container reach the moto server on 127.0.0.1
(and works on a daemon without a bridge network).
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from .conftest import objects

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "async-ingest:pytest"
BUILD_TIMEOUT = 600
RUN_TIMEOUT = 120
NEEDS = (
    "these tests need a Docker daemon reachable via DOCKER_HOST and BASE_IMAGE naming a local "
    "Python base image (such as BASE_IMAGE=python:3.12-slim)"
)


def _docker(
    *args: str, env: dict[str, str] | None = None, timeout: float = RUN_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, env=env, timeout=timeout, check=False)


def _explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"


def _why_no_docker() -> str | None:
    """Why the image cannot be built here, or None when it can."""
    if shutil.which("docker") is None:
        return f"no docker CLI on PATH; {NEEDS}"
    try:
        version = _docker("version", "--format", "{{.Server.Version}}", timeout=30)
    except subprocess.TimeoutExpired:
        return f"the Docker daemon at DOCKER_HOST={os.environ.get('DOCKER_HOST', '(unset)')} did not answer; {NEEDS}"
    if version.returncode != 0:
        return f"no Docker daemon at DOCKER_HOST={os.environ.get('DOCKER_HOST', '(unset)')}; {NEEDS}"
    if not os.environ.get("BASE_IMAGE"):
        return f"BASE_IMAGE is not set; {NEEDS}"
    return None


@pytest.fixture(scope="module")
def image() -> str:
    """The image, built from the work tree with the local base image."""
    reason = _why_no_docker()
    if reason:
        pytest.skip(reason)
    build = _docker(
        "build",
        "--network",
        "host",
        "--build-arg",
        f"BASE_IMAGE={os.environ['BASE_IMAGE']}",
        "--tag",
        IMAGE,
        str(ROOT),
        timeout=BUILD_TIMEOUT,
    )
    assert build.returncode == 0, f"docker build failed: {_explain(build)}"
    return IMAGE


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small movies.csv and series.csv from the sample-data script, readable by the container's user."""
    data = tmp_path_factory.mktemp("docker-data")
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_sample_data.py"), str(data), "--scale", "0.001"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    # The container runs as a non-root uid: the mounted directory must be readable by others.
    data.chmod(0o755)
    for path in data.iterdir():
        path.chmod(0o644)
    # The script's record of the scale is hidden, so the image leaves it out.
    assert sorted(p.name for p in data.iterdir() if not p.name.startswith(".")) == ["movies.csv", "series.csv"]
    return data


def _settings(s3_endpoint: str, bucket: str, aws_env: dict[str, str]) -> dict[str, str]:
    """The container's environment: the bucket, the test endpoint and its credentials."""
    return {
        "ASYNC_INGEST_BUCKET": bucket,
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": aws_env["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": aws_env["AWS_SECRET_ACCESS_KEY"],
        "AWS_DEFAULT_REGION": aws_env["AWS_DEFAULT_REGION"],
        "AWS_EC2_METADATA_DISABLED": "true",
        # The default processing date is the container's local date.  Pin the zone,
        # so that the expected date does not depend on the base image's /etc/localtime.
        "TZ": "UTC",
    }


def _run(
    image: str, settings: dict[str, str], data: Path, args: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """docker run with /data mounted read-only; settings go by name (-e NAME), never on the command line."""
    passed = [arg for name in settings for arg in ("-e", name)]
    return _docker(
        "run",
        "--rm",
        "--network",
        "host",
        "--volume",
        f"{data}:/data:ro",
        *passed,
        image,
        *args,
        env={**os.environ, **settings},
    )


def _utc_today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


def _expected(data: Path, day: datetime.date) -> dict[str, bytes]:
    return {
        f"Raw/Local/CSV/{name.title()}/{day:%Y/%m/%d}/{name}.csv": (data / f"{name}.csv").read_bytes()
        for name in ("movies", "series")
    }


def test_image_lands_every_file_of_data_with_no_arguments(
    image: str, data_dir: Path, s3_endpoint: str, s3: Any, bucket: str, aws_env: dict[str, str]
) -> None:
    before = _utc_today()
    result = _run(image, _settings(s3_endpoint, bucket, aws_env), data_dir)
    after = _utc_today()

    assert result.returncode == 0, _explain(result)
    landed = objects(s3, bucket)
    # Besides the data, the run may write its own manifest (Raw/Local/_manifests/...).
    data = {key: body for key, body in landed.items() if "/_manifests/" not in key}
    # A run that straddles midnight UTC may use either date.
    assert data in [_expected(data_dir, day) for day in sorted({before, after})], sorted(landed)
    assert aws_env["AWS_SECRET_ACCESS_KEY"] not in result.stdout + result.stderr


def test_arguments_pass_through_to_the_cli(
    image: str, data_dir: Path, s3_endpoint: str, s3: Any, bucket: str, aws_env: dict[str, str]
) -> None:
    result = _run(
        image,
        _settings(s3_endpoint, bucket, aws_env),
        data_dir,
        ["--dry-run", "--json", "--date", "2022-05-02", "/data/movies.csv"],
    )

    assert result.returncode == 0, _explain(result)
    report = json.loads(result.stdout)
    assert report["dry_run"] is True
    assert [f["key"] for f in report["files"]] == ["Raw/Local/CSV/Movies/2022/05/02/movies.csv"]
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0  # a dry run writes nothing, not even a manifest


def test_no_volume_at_data_says_how_to_mount_one(image: str) -> None:
    result = _docker("run", "--rm", "--network", "host", image)

    assert result.returncode == 2, _explain(result)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, _explain(result)
    assert "/data" in lines[0]
    assert '-v "$PWD/data:/data:ro"' in lines[0]


def test_entrypoint_passes_the_exit_code_through(image: str) -> None:
    result = _docker("run", "--rm", "--network", "host", image, "--no-such-option")

    assert result.returncode == 2, _explain(result)
    assert "--no-such-option" in result.stderr
    assert "mounted" not in result.stderr


def test_image_runs_as_non_root_with_no_settings_baked_in(image: str) -> None:
    uid = _docker("run", "--rm", "--network", "host", "--entrypoint", "id", image, "-u")
    assert uid.returncode == 0, _explain(uid)
    assert uid.stdout.strip() != "0"

    inspected = _docker("image", "inspect", "--format", "{{json .Config}}", image)
    assert inspected.returncode == 0, _explain(inspected)
    config = json.loads(inspected.stdout)
    assert config["Entrypoint"] == ["async-ingest-entrypoint"]
    assert config["Cmd"] == ["/data"]
    assert config["User"] not in ("", "0", "root")
    names = {entry.partition("=")[0] for entry in config["Env"]}
    assert not {name for name in names if name.startswith(("AWS_", "ASYNC_INGEST_"))}
    assert {"PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "HOME"} <= names


def test_image_has_no_compilers_or_pip_caches(image: str) -> None:
    probe = _docker(
        "run",
        "--rm",
        "--network",
        "host",
        "--user",
        "0:0",
        "--entrypoint",
        "sh",
        image,
        "-c",
        "for tool in gcc cc c++ g++ clang make ld; do command -v $tool; done;"
        " ls -d /root/.cache/pip /home/*/.cache/pip /tmp/pip-* /opt/venv/bin/pip 2>/dev/null; true",
    )
    assert probe.returncode == 0, _explain(probe)
    assert probe.stdout.strip() == ""


def test_shards_in_containers_sharing_one_data_volume(
    image: str, data_dir: Path, s3_endpoint: str, s3: Any, bucket: str, aws_env: dict[str, str]
) -> None:
    """COUNT containers at once, one /data, the index in JOB_COMPLETION_INDEX: every file once, one marker each."""
    count = 3
    settings = _settings(s3_endpoint, bucket, aws_env)
    args = ["--shard", f"auto/{count}", "--run-id", "docker-shards", "--success-marker", "--date", "2022-05-02"]
    containers = []
    for index in range(count):
        shard_settings = {**settings, "JOB_COMPLETION_INDEX": str(index)}
        passed = [arg for name in shard_settings for arg in ("-e", name)]
        command = ["docker", "run", "--rm", "--network", "host", "--volume", f"{data_dir}:/data:ro", *passed]
        containers.append(
            subprocess.Popen(
                [*command, image, *args, "/data"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, **shard_settings},
            )
        )
    outputs = [container.communicate(timeout=RUN_TIMEOUT) for container in containers]
    assert [container.returncode for container in containers] == [0] * count, outputs
    landed = objects(s3, bucket, manifests=True)
    data = {key: body for key, body in landed.items() if "/_manifests/" not in key and not key.endswith("_SUCCESS")}
    assert data == _expected(data_dir, datetime.date(2022, 5, 2))
    markers = sorted(key for key in landed if key.endswith("/_SUCCESS"))
    assert markers == [f"Raw/Local/CSV/{name}/2022/05/02/_SUCCESS" for name in ("Movies", "Series")]
    manifests = sorted(key for key in landed if "/_manifests/" in key)
    assert manifests == [
        f"Raw/Local/_manifests/2022/05/02/docker-shards.shard-{index:04d}-of-{count:04d}.json" for index in range(count)
    ]
