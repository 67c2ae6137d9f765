"""Subscriptions end to end inside one process: uvicorn serving the gateway, real NATS, real clients."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from crm_common.auth import Role
from gateway.persisted import document_hash
from tests.conftest import Servers
from tests.gateway.conftest import closed_port_url
from tests.gateway.live.support import (
    ServedGateway,
    TransportWS,
    live_settings,
    publish,
    serving_gateway,
    vote_cast,
)
from tests.gateway.support import ADMIN
from tests.support import SIGNER, customer_token, staff_token, wait_until

IDEA_VOTES = "subscription($id: UUID!) { ideaVotes(ideaId: $id) { ideaId upCount downCount netVotes } }"
TOUCHPOINTS = """
subscription($id: UUID!) {
  customerTouchpoints(customerId: $id) { id customerId channel type occurredAt source properties }
}
"""
ALERTS = (
    "subscription($at: String) { touchpointAlerts(touchpoint: $at) { id touchpoint negativeCount pValue } }"
)


@pytest.fixture
async def live_gateway(servers: Servers) -> AsyncIterator[ServedGateway]:
    async with serving_gateway(live_settings(servers.nats_url)) as served:
        yield served


@pytest.fixture
async def live_gateway_with_identity(servers: Servers, identity_app: FastAPI) -> AsyncIterator[ServedGateway]:
    async with serving_gateway(live_settings(servers.nats_url), {"identity": identity_app}) as served:
        yield served


async def test_vote_published_on_nats_reaches_a_websocket_subscriber(
    live_gateway: ServedGateway, servers: Servers
) -> None:
    idea_id, other_idea = uuid.uuid4(), uuid.uuid4()
    async with TransportWS.open(live_gateway.ws_url) as ws:
        # Any signed-in caller follows an idea's tallies: a customer token here.
        assert (await ws.init({"Authorization": f"Bearer {customer_token(uuid.uuid4())}"}))["type"] == (
            "connection_ack"
        )
        await ws.subscribe("votes", IDEA_VOTES, {"id": str(idea_id)})
        await live_gateway.wait_for_subscribers(1)

        await publish(servers.nats_url, "feedback", "vote.cast", vote_cast(other_idea, 9, 9))
        await publish(servers.nats_url, "feedback", "vote.cast", vote_cast(idea_id, 3, 1))

        message = await ws.receive()
        assert message == {
            "id": "votes",
            "type": "next",
            "payload": {
                "data": {"ideaVotes": {"ideaId": str(idea_id), "upCount": 3, "downCount": 1, "netVotes": 2}}
            },
        }
        await ws.send({"id": "votes", "type": "complete"})


async def test_leaving_detaches_the_subscription_from_the_hub(live_gateway: ServedGateway) -> None:
    async with TransportWS.open(live_gateway.ws_url) as ws:
        await ws.init({"authorization": f"Bearer {staff_token()}"})
        await ws.subscribe("votes", IDEA_VOTES, {"id": str(uuid.uuid4())})
        await live_gateway.wait_for_subscribers(1)
        await ws.send({"id": "votes", "type": "complete"})

    async def detached() -> bool:
        return live_gateway.live.listener_count() == 0

    await wait_until(detached)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({}, id="no-token"),
        pytest.param({"Authorization": "Bearer not-a-jwt"}, id="garbage"),
        pytest.param({"token": "not-a-jwt"}, id="garbage-token-key"),
    ],
)
async def test_websocket_without_a_valid_token_is_closed_with_4403(
    live_gateway: ServedGateway, payload: dict[str, Any]
) -> None:
    async with TransportWS.open(live_gateway.ws_url) as ws:
        await ws.send({"type": "connection_init", "payload": payload})

        assert await ws.close_code() == 4403


async def test_subscribe_before_connection_init_is_closed_with_4401(live_gateway: ServedGateway) -> None:
    async with TransportWS.open(live_gateway.ws_url) as ws:
        await ws.subscribe("votes", IDEA_VOTES, {"id": str(uuid.uuid4())})

        assert await ws.close_code() == 4401


async def test_customer_token_cannot_follow_another_customers_touchpoints(
    live_gateway: ServedGateway,
) -> None:
    async with TransportWS.open(live_gateway.ws_url) as ws:
        await ws.init({"token": customer_token(uuid.uuid4())})
        await ws.subscribe("timeline", TOUCHPOINTS, {"id": str(uuid.uuid4())})

        message = await ws.receive()

    assert message["type"] == "next"
    assert message["payload"]["data"] is None
    [error] = message["payload"]["errors"]
    assert error["extensions"] == {"code": "FORBIDDEN"}
    assert live_gateway.live.listener_count() == 0


async def test_alerts_are_for_staff_only(live_gateway: ServedGateway) -> None:
    async with TransportWS.open(live_gateway.ws_url) as ws:
        await ws.init({"token": customer_token(uuid.uuid4())})
        await ws.subscribe("alerts", ALERTS)

        message = await ws.receive()

    assert message["payload"]["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def touchpoint_recorded(customer_id: str, channel: str = "web") -> dict[str, Any]:
    return {
        "touchpoint_id": str(uuid.uuid4()),
        "customer_id": customer_id,
        "channel": channel,
        "type": "page_view",
        "occurred_at": datetime.now(UTC).isoformat(),
        "source": "web",
        "properties": {"path": "/pricing"},
    }


async def test_staff_follow_a_customers_touchpoints_across_a_merge(
    live_gateway_with_identity: ServedGateway, identity_api: httpx.AsyncClient, servers: Servers
) -> None:
    identified = await identity_api.post(
        "/v1/identify",
        json={"identifiers": [{"type": "email", "value": "tp@example.com"}], "source": "crm"},
        headers=ADMIN,
    )
    assert identified.status_code == 200, identified.text
    customer = {"id": identified.json()["customer_id"]}
    survivor_id = str(uuid.uuid4())
    async with TransportWS.open(live_gateway_with_identity.ws_url) as ws:
        await ws.init({"Authorization": f"Bearer {staff_token(Role.AGENT)}"})
        await ws.subscribe("timeline", TOUCHPOINTS, {"id": customer["id"]})
        await live_gateway_with_identity.wait_for_subscribers(1)

        await publish(
            servers.nats_url, "identity", "touchpoint.recorded", touchpoint_recorded(str(uuid.uuid4()))
        )
        await publish(
            servers.nats_url, "identity", "touchpoint.recorded", touchpoint_recorded(customer["id"])
        )
        first = await ws.receive()
        # The customer is merged into another: what is recorded from now on carries the survivor's id.
        await publish(
            servers.nats_url,
            "identity",
            "customer.merged",
            {"customer_id": survivor_id, "survivor_id": survivor_id, "merged_id": customer["id"]},
        )
        await publish(
            servers.nats_url, "identity", "touchpoint.recorded", touchpoint_recorded(survivor_id, "email")
        )
        second = await ws.receive()

    entry = first["payload"]["data"]["customerTouchpoints"]
    assert (entry["customerId"], entry["channel"], entry["properties"]) == (
        customer["id"],
        "web",
        {"path": "/pricing"},
    )
    after_merge = second["payload"]["data"]["customerTouchpoints"]
    assert (after_merge["customerId"], after_merge["channel"]) == (survivor_id, "email")


async def test_sse_stream_receives_an_alert_as_a_next_event(
    live_gateway: ServedGateway, servers: Servers
) -> None:
    alert_id = uuid.uuid4()
    async with (
        httpx.AsyncClient(base_url=live_gateway.base_url, timeout=15) as client,
        client.stream(
            "POST",
            "/graphql",
            json={"query": ALERTS, "variables": {"at": "checkout"}},
            headers={**ADMIN, "Accept": "text/event-stream"},
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        await live_gateway.wait_for_subscribers(1)
        for touchpoint, published_id in (("support", uuid.uuid4()), ("checkout", alert_id)):
            await publish(
                servers.nats_url,
                "feedback",
                "alert.raised",
                {
                    "alert_id": str(published_id),
                    "touchpoint": touchpoint,
                    "window_start": "2026-01-01T10:00:00+00:00",
                    "window_end": "2026-01-01T11:00:00+00:00",
                    "negative_count": 12,
                    "baseline_rate": 1.5,
                    "baseline_windows": 24,
                    "p_value": 0.0001,
                    "method": "poisson",
                },
            )
        lines = response.aiter_lines()
        assert await anext(lines) == "event: next"
        data = await anext(lines)

    assert json.loads(data.removeprefix("data: ")) == {
        "data": {
            "touchpointAlerts": {
                "id": str(alert_id),
                "touchpoint": "checkout",
                "negativeCount": 12,
                "pValue": 0.0001,
            }
        }
    }


async def test_without_nats_queries_are_served_and_subscriptions_end_with_an_error() -> None:
    settings = live_settings(closed_port_url().replace("http://", "nats://"))
    async with (
        serving_gateway(settings, wait_for_nats=False) as served,
        httpx.AsyncClient(base_url=served.base_url, timeout=15) as client,
    ):
        query = await client.post("/graphql", json={"query": "{ __typename }"}, headers=ADMIN)
        posted = await client.post(
            "/graphql",
            json={"query": IDEA_VOTES, "variables": {"id": str(uuid.uuid4())}},
            headers={**ADMIN, "Accept": "text/event-stream"},
        )
        got = await client.get(
            "/graphql",
            params={"query": IDEA_VOTES, "variables": json.dumps({"id": str(uuid.uuid4())})},
            headers={**ADMIN, "Accept": "text/event-stream"},
        )

    assert query.json() == {"data": {"__typename": "Query"}}
    for stream in (posted, got):
        events = [block for block in stream.text.split("\r\n\r\n") if block]
        assert events[0].startswith("event: next")
        assert events[-1].startswith("event: complete")
        error = json.loads(events[0].split("data: ", 1)[1])["errors"][0]
        assert error["extensions"] == {"code": "LIVE_EVENTS_UNAVAILABLE", "service": "events"}


async def test_websocket_is_closed_when_its_token_expires(live_gateway: ServedGateway) -> None:
    short_lived = SIGNER.issue("staff-admin", Role.ADMIN, ttl=timedelta(seconds=1))
    async with TransportWS.open(live_gateway.ws_url) as ws:
        assert (await ws.init({"Authorization": f"Bearer {short_lived}"}))["type"] == "connection_ack"

        assert await ws.close_code() == 4403


async def test_allow_list_mode_applies_to_websocket_subscriptions(servers: Servers, tmp_path: Path) -> None:
    listed = IDEA_VOTES
    persisted_map = tmp_path / "persisted.json"
    persisted_map.write_text(json.dumps({document_hash(listed): listed}))
    settings = live_settings(
        servers.nats_url, persisted_queries_path=persisted_map, persisted_queries_only=True
    )
    idea_id = uuid.uuid4()
    async with serving_gateway(settings) as served, TransportWS.open(served.ws_url) as ws:
        await ws.init({"token": staff_token()})
        await ws.subscribe("free", ALERTS)
        refused = await ws.receive()
        await ws.send(
            {
                "id": "listed",
                "type": "subscribe",
                "payload": {
                    "variables": {"id": str(idea_id)},
                    "extensions": {"persistedQuery": {"version": 1, "sha256Hash": document_hash(listed)}},
                },
            }
        )
        await served.wait_for_subscribers(1)
        await publish(servers.nats_url, "feedback", "vote.cast", vote_cast(idea_id, 1, 0))
        delivered = await ws.receive()

    assert refused["type"] == "error"
    assert refused["payload"][0]["extensions"] == {"code": "PERSISTED_QUERY_REQUIRED"}
    assert delivered["id"] == "listed"
    assert delivered["payload"]["data"]["ideaVotes"]["upCount"] == 1


async def test_sse_stream_ends_when_its_token_expires(live_gateway: ServedGateway) -> None:
    short_lived = SIGNER.issue("staff-admin", Role.ADMIN, ttl=timedelta(seconds=1))
    async with httpx.AsyncClient(base_url=live_gateway.base_url, timeout=15) as client:
        response = await client.post(
            "/graphql",
            json={"query": IDEA_VOTES, "variables": {"id": str(uuid.uuid4())}},
            headers={"Authorization": f"Bearer {short_lived}", "Accept": "text/event-stream"},
        )

    # The whole stream was read: it ended by itself, with the reason, once the token lapsed.
    events = [block for block in response.text.split("\r\n\r\n") if block]
    assert events[-1].startswith("event: complete")
    error = json.loads(events[0].split("data: ", 1)[1])["errors"][0]
    assert error["extensions"] == {"code": "TOKEN_EXPIRED", "service": "events"}
