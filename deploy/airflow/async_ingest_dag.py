"""async-ingest every night from Airflow: one Kubernetes pod per shard, mapped over the shards.

Copy this file into the DAGs folder.  It needs the cncf.kubernetes provider
(``pip install apache-airflow-providers-cncf-kubernetes``) and a Kubernetes
cluster the workers can reach, with the service account and volume of
``deploy/kubernetes`` (serviceaccount.yaml, or secret.yaml for static keys).

Change: SHARDS, IMAGE, BUCKET, REGION, NAMESPACE and the volume's claim.  Each
mapped task runs ``async-ingest --shard INDEX/SHARDS`` with its own index; they
all share one run id, the DAG run's ``run_id`` made a safe key piece (Airflow's
``scheduled__2026-01-01T02:30:00+00:00`` becomes
``scheduled__2026-01-01T02-30-00-00-00``), so a cleared and re-run task lands
into the same run, and each DAG run is a run of its own.  ``--date {{ ds }}``
lands under the DAG run's logical date, so backfills land where they belong.
"""

from __future__ import annotations

import datetime
import re

import pendulum
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from kubernetes.client import models as k8s

try:  # Airflow 3
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

SHARDS = 8
IMAGE = "registry.example.com/data/async-ingest:0.1.0"
BUCKET = "my-data-lake"
REGION = "eu-west-1"
NAMESPACE = "data"


def key_piece(value: str) -> str:
    """*value* with every character but letters, digits, ``-``, ``_`` and ``.`` made ``-``."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", value)


with DAG(
    dag_id="async_ingest",
    schedule="30 2 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    user_defined_filters={"key_piece": key_piece},
    tags=["ingest"],
):
    KubernetesPodOperator.partial(
        task_id="land",
        name="async-ingest",
        namespace=NAMESPACE,
        image=IMAGE,
        service_account_name="async-ingest",
        env_vars={
            "ASYNC_INGEST_BUCKET": BUCKET,
            "AWS_REGION": REGION,
            "ASYNC_INGEST_RUN_ID": "{{ run_id | key_piece }}",
            "ASYNC_INGEST_DATE": "{{ ds }}",
        },
        env_from=[k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name="async-ingest-aws", optional=True))],
        container_resources=k8s.V1ResourceRequirements(
            requests={"cpu": "1", "memory": "512Mi"}, limits={"cpu": "2", "memory": "1Gi"}
        ),
        security_context=k8s.V1PodSecurityContext(run_as_non_root=True, run_as_user=10001, run_as_group=10001),
        container_security_context=k8s.V1SecurityContext(
            allow_privilege_escalation=False,
            read_only_root_filesystem=True,
            capabilities=k8s.V1Capabilities(drop=["ALL"]),
        ),
        volumes=[
            k8s.V1Volume(
                name="data",
                persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(
                    claim_name="landing-files", read_only=True
                ),
            ),
            k8s.V1Volume(name="tmp", empty_dir=k8s.V1EmptyDirVolumeSource(size_limit="64Mi")),
        ],
        volume_mounts=[
            k8s.V1VolumeMount(name="data", mount_path="/data", read_only=True),
            k8s.V1VolumeMount(name="tmp", mount_path="/tmp"),  # noqa: S108 (a mount point in the pod)
        ],
        retries=2,
        retry_delay=datetime.timedelta(minutes=5),
        on_finish_action="delete_succeeded_pod",
    ).expand(arguments=[["--shard", f"{index}/{SHARDS}", "--success-marker", "/data"] for index in range(SHARDS)])
