"""End to end through real processes: gateway → services → outbox → NATS → consumers → gateway."""

from __future__ import annotations

import signal
import time
import uuid
from typing import Any

import httpx
import pytest

from crm_common.auth import Role
from crm_platform.dev import Platform
from tests.support import bearer, customer_token, staff_token

pytestmark = pytest.mark.e2e

ADMIN = bearer(staff_token(Role.ADMIN))

CUSTOMER_QUERY = """
query Customer($id: UUID!) {
  customer(id: $id) { id displayName email campaignAudience { customerId displayName } }
}
"""


def graphql(
    platform: Platform, query: str, variables: dict[str, Any] | None = None, **kwargs: Any
) -> httpx.Response:
    headers = kwargs.pop("headers", ADMIN)
    return httpx.post(
        platform.url("gateway") + "/graphql",
        json={"query": query, "variables": variables or {}},
        headers=headers,
        timeout=10,
        **kwargs,
    )


def create_customer(platform: Platform, name: str, request_id: str | None = None) -> dict[str, Any]:
    headers = dict(ADMIN)
    if request_id:
        headers["X-Request-ID"] = request_id
    response = httpx.post(
        platform.url("identity") + "/v1/identify",
        json={
            "identifiers": [{"type": "external:e2e", "value": str(uuid.uuid4())}],
            "traits": {"name": name},
        },
        headers=headers,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return {"id": response.json()["customer_id"]}


def wait_for_audience(platform: Platform, customer_id: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = graphql(platform, CUSTOMER_QUERY, {"id": customer_id}).json()
        customer = (body.get("data") or {}).get("customer")
        if customer and customer["campaignAudience"]:
            return customer
        if time.monotonic() > deadline:
            raise AssertionError(f"campaign never projected {customer_id}: {body}")
        time.sleep(0.1)


def test_gateway_reaches_every_service(platform: Platform) -> None:
    response = graphql(platform, "{ platform { name version ready status } }")
    assert response.status_code == 200
    services = {entry["name"]: entry for entry in response.json()["data"]["platform"]}
    assert set(services) == {"identity", "campaign", "feedback"}
    assert all(entry["ready"] and entry["status"] == "ok" for entry in services.values())


def test_customer_created_in_identity_reaches_campaign_through_events(platform: Platform) -> None:
    created = create_customer(platform, "송지아", request_id="e2e-flow-1")
    customer = wait_for_audience(platform, created["id"])
    assert customer["displayName"] == "송지아"
    assert customer["campaignAudience"] == {"customerId": created["id"], "displayName": "송지아"}


def test_customer_token_reads_itself_through_the_gateway_but_not_others(platform: Platform) -> None:
    me = create_customer(platform, "Alice Kang")
    other = create_customer(platform, "Bob Yoon")
    token = bearer(customer_token(me["id"]))
    own = graphql(platform, "{ me { id displayName } }", headers=token).json()
    assert own == {"data": {"me": {"id": me["id"], "displayName": "Alice Kang"}}}
    # A customer token reads itself through `me` only, not by id, not even its own.
    for customer_id in (other["id"], me["id"]):
        refused = graphql(platform, CUSTOMER_QUERY, {"id": customer_id}, headers=token).json()
        assert refused["data"]["customer"] is None
        assert refused["errors"][0]["extensions"] == {"code": "FORBIDDEN"}


def test_gateway_without_a_token_is_401(platform: Platform) -> None:
    response = graphql(platform, "{ platform { name } }", headers={})
    assert response.status_code == 401


def test_killed_worker_loses_nothing(platform: Platform) -> None:
    worker = platform.child("campaign-worker")
    assert worker.process is not None
    worker.process.send_signal(signal.SIGKILL)
    worker.process.wait()
    created = create_customer(platform, "Killed Worker Case")
    time.sleep(0.5)
    body = graphql(platform, CUSTOMER_QUERY, {"id": created["id"]}).json()
    assert body["data"]["customer"]["campaignAudience"] is None  # nobody consumed it yet
    worker.start()
    wait_for_audience(platform, created["id"])


def test_stopped_service_leaves_other_fields_intact(platform: Platform) -> None:
    created = create_customer(platform, "Partial Failure")
    wait_for_audience(platform, created["id"])
    campaign = platform.child("campaign")
    campaign.stop()
    try:
        response = graphql(platform, CUSTOMER_QUERY, {"id": created["id"]})
        assert response.status_code == 200
        body = response.json()
        assert body["data"]["customer"]["displayName"] == "Partial Failure"
        assert body["data"]["customer"]["campaignAudience"] is None
        assert [e["extensions"]["service"] for e in body["errors"]] == ["campaign"]
    finally:
        campaign.start()
        platform.wait_ready()
