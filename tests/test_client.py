"""The client's botocore settings: which request fields reach the endpoint rules, the User-Agent."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.session import AioSession

import async_ingest
from async_ingest._client import drop_unread_context_params

from .conftest import DAY
from .faultproxy import FaultProxy


def model(*names: str) -> dict[str, Any]:
    members = {name: {"shape": "String", "contextParam": {"name": name}} for name in names}
    return {"shapes": {"Request": {"type": "structure", "members": members}}}


def test_only_fields_no_rule_reads_are_dropped() -> None:
    """A field read by reference or in a URL template still reaches the rules; an unread one does not."""
    ruleset = {
        "parameters": {name: {"type": "String"} for name in ("Bucket", "Region", "Key")},
        "rules": [
            {
                "conditions": [{"fn": "isSet", "argv": [{"ref": "Bucket"}]}],
                "endpoint": {"url": "https://s3.{Region}.example.com"},
                "type": "endpoint",
            }
        ],
    }
    shapes = model("Bucket", "Region", "Key")
    assert drop_unread_context_params(shapes, ruleset) == ["Key"]
    members = shapes["shapes"]["Request"]["members"]
    assert {name for name, member in members.items() if "contextParam" in member} == {"Bucket", "Region"}


def test_s3_rules_still_get_the_bucket() -> None:
    """On botocore's real S3 model the bucket, which decides the endpoint, is never dropped."""
    loader = AioSession().get_component("data_loader")
    s3_model = copy.deepcopy(loader.load_service_model("s3", "service-2"))
    dropped = drop_unread_context_params(s3_model, loader.load_service_model("s3", "endpoint-rule-set-1"))
    assert "Bucket" not in dropped


@pytest.mark.anyio
async def test_requests_name_the_tool(proxy: FaultProxy, bucket: str, make_file: Callable[..., Path]) -> None:
    """Every request's User-Agent starts with async-ingest and its version, then the stack under it."""
    report = await async_ingest.ingest(
        [make_file("movies.csv", 10)], bucket=bucket, endpoint_url=proxy.url, date=DAY, manifest=False
    )
    assert report.ok, report.failed
    agents = {request.headers["user-agent"] for request in proxy.requests}
    assert len(agents) == 1
    [agent] = agents
    assert agent.startswith(f"async-ingest/{async_ingest.__version__} aiobotocore/")
    assert " botocore/" in agent
