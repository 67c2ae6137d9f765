"""The closed loop through real processes on loopback: identity → campaign read model → segment →
broadcast → delivery worker → in-app inbox → the customer reads it → identity's timeline and the
campaign's read model both learn of the send and the response, through NATS."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
import pytest

from crm_common.auth import Role
from crm_platform.dev import Platform
from tests.support import bearer, customer_token, staff_token

pytestmark = pytest.mark.e2e

ADMIN = bearer(staff_token(Role.ADMIN))
MARKETER = bearer(staff_token(Role.MARKETER))
AGENT = bearer(staff_token(Role.AGENT))

T = TypeVar("T")

# Quiet hours hold marketing messages at night in the customer's own zone; the test picks a zone where it
# is daytime now, so the message goes out at once whatever the hour of the run.
ZONES = ("Asia/Seoul", "Europe/London", "America/New_York", "Asia/Kolkata", "America/Los_Angeles")


def daytime_zone() -> str:
    now = datetime.now(UTC)
    return next(zone for zone in ZONES if 10 <= now.astimezone(ZoneInfo(zone)).hour < 18)


def eventually(probe: Callable[[], T | None], what: str, timeout: float = 45.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_a_broadcast_reaches_the_inbox_and_the_response_closes_the_loop(platform: Platform) -> None:
    cohort = uuid.uuid4().hex[:10]
    identified = httpx.post(
        platform.url("identity") + "/v1/identify",
        json={
            "identifiers": [{"type": "email", "value": f"loop-{cohort}@example.com"}],
            "traits": {"name": "Loop Customer", "cohort": cohort, "time_zone": daytime_zone()},
            "source": "shop",
        },
        headers=ADMIN,
        timeout=10,
    )
    assert identified.status_code == 200, identified.text
    customer_id = identified.json()["customer_id"]

    def projected() -> dict[str, Any] | None:
        answer = httpx.get(platform.url("campaign") + f"/v1/audience/{customer_id}", headers=ADMIN)
        return answer.json() if answer.status_code == 200 else None

    member = eventually(projected, "the campaign read model to know the customer")
    assert member["traits"]["cohort"] == cohort

    campaign = platform.url("campaign")
    segment = httpx.post(
        campaign + "/v1/segments",
        json={"name": f"loop {cohort}", "rule": {"field": "traits.cohort", "op": "eq", "value": cohort}},
        headers=MARKETER,
    )
    assert segment.status_code == 201, segment.text
    definition = {
        "entry": {"type": "segment", "segment_id": segment.json()["id"]},
        "steps": [
            {
                "id": "hello",
                "type": "send",
                "channel": "in_app",
                "purpose": "marketing",
                "variants": [{"key": "A", "subject": "Hello", "body": "Hi {{ customer.first_name }}!"}],
            }
        ],
    }
    created = httpx.post(
        campaign + "/v1/campaigns",
        json={"name": f"Loop {cohort}", "kind": "broadcast", "definition": definition},
        headers=MARKETER,
    )
    assert created.status_code == 201, created.text
    campaign_id = created.json()["id"]
    launched = httpx.post(campaign + f"/v1/campaigns/{campaign_id}/launch", headers=MARKETER, timeout=10)
    assert launched.status_code == 200, launched.text

    me = bearer(customer_token(customer_id))

    def inbox() -> list[dict[str, Any]] | None:
        return httpx.get(campaign + "/v1/me/messages", headers=me).json()["items"] or None

    (message,) = eventually(inbox, "the broadcast to reach the customer's inbox")
    assert message["subject"] == "Hello"
    assert message["body"] == "Hi Loop!"
    read = httpx.post(campaign + f"/v1/me/messages/{message['id']}/read", headers=me)
    assert read.status_code == 200, read.text

    def timeline_types() -> set[str] | None:
        answer = httpx.get(platform.url("identity") + f"/v1/customers/{customer_id}/timeline", headers=AGENT)
        types = {entry["type"] for entry in answer.json()["items"]}
        return types if {"message.sent", "message.opened"} <= types else None

    eventually(timeline_types, "identity's timeline to show the send and the open")

    def read_model_saw_the_open() -> dict[str, Any] | None:
        found = projected()
        return found if found and found.get("last_opened_at") else None

    eventually(read_model_saw_the_open, "the campaign read model to record the open")

    history = httpx.get(campaign + f"/v1/customers/{customer_id}/messages", headers=AGENT)
    assert history.status_code == 200, history.text
    assert [m["campaign_id"] for m in history.json()["items"]] == [campaign_id]
