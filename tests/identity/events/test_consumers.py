"""The campaign's messages and responses land on the customer's timeline, once, on the survivor."""

import uuid
from datetime import UTC, datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_common.db import create_engine, session_factory
from crm_common.events import EventEnvelope
from crm_common.events.consumer import ConsumerRunner
from identity.database import metadata
from identity.events.consumers import campaign_timeline_consumer
from identity.settings import IdentitySettings
from tests.identity.support import ADMIN, identify, outbox_events


def _message_event(event_type: str, customer_id: str, **extra: object) -> EventEnvelope:
    return EventEnvelope(
        type=event_type,
        producer="campaign",
        subject_id=str(uuid.uuid4()),
        payload={
            "message_id": str(uuid.uuid4()),
            "campaign_id": str(uuid.uuid4()),
            "step_id": "welcome",
            "variant_key": "A",
            "customer_id": customer_id,
            "channel": "in_app",
            "purpose": "marketing",
            "occurred_at": datetime(2026, 12, 1, 9, 0, tzinfo=UTC).isoformat(),
            **extra,
        },
    )


async def _runner(settings: IdentitySettings) -> tuple[ConsumerRunner, AsyncEngine]:
    engine = create_engine(settings.async_database_url(), pool_size=2, max_overflow=0)
    return ConsumerRunner(
        campaign_timeline_consumer, session_factory(engine), metadata, settings.nats_url
    ), engine


async def _deliver(runner: ConsumerRunner, envelope: EventEnvelope) -> bool:
    return await runner.handle(envelope.subject, envelope.model_dump_json().encode(), 1)


async def _timeline(client: httpx.AsyncClient, customer_id: str) -> list[dict[str, object]]:
    response = await client.get(f"/v1/customers/{customer_id}/timeline?channel=mobile_app", headers=ADMIN)
    assert response.status_code == 200
    return list(response.json()["items"])


async def test_a_sent_message_and_its_click_go_on_the_timeline_once(
    identity_client: httpx.AsyncClient, identity_settings: IdentitySettings, identity_db: str
) -> None:
    person = await identify(identity_client, ("email", "msg@example.com"))
    runner, engine = await _runner(identity_settings)
    try:
        sent = _message_event("message.sent", person["customer_id"])
        clicked = _message_event("message.clicked", person["customer_id"], url="https://shop.example/x")
        assert await _deliver(runner, sent)
        assert await _deliver(runner, clicked)
        assert await _deliver(runner, sent)  # redelivered: already handled
    finally:
        await engine.dispose()

    entries = await _timeline(identity_client, person["customer_id"])
    assert sorted(e["type"] for e in entries) == ["message.clicked", "message.sent"]
    assert {e["source"] for e in entries} == {"campaign"}
    recorded = [e for e in await outbox_events(identity_db) if e["type"] == "touchpoint.recorded"]
    assert sum(1 for e in recorded if e["payload"]["source"] == "campaign") == 2


async def test_a_message_for_a_merged_away_customer_lands_on_the_survivor(
    identity_client: httpx.AsyncClient, identity_settings: IdentitySettings
) -> None:
    first = await identify(identity_client, ("email", "old@example.com"))
    second = await identify(identity_client, ("phone", "010-7777-8888"))
    merged = await identify(identity_client, ("email", "old@example.com"), ("phone", "010-7777-8888"))
    survivor = merged["customer_id"]
    merged_away = second["customer_id"] if survivor == first["customer_id"] else first["customer_id"]
    runner, engine = await _runner(identity_settings)
    try:
        assert await _deliver(runner, _message_event("message.opened", merged_away))
    finally:
        await engine.dispose()

    assert [e["type"] for e in await _timeline(identity_client, survivor)] == ["message.opened"]


async def test_a_message_for_an_unknown_customer_is_acknowledged_and_records_nothing(
    identity_client: httpx.AsyncClient, identity_settings: IdentitySettings, identity_db: str
) -> None:
    runner, engine = await _runner(identity_settings)
    try:
        assert await _deliver(runner, _message_event("message.sent", str(uuid.uuid4())))
    finally:
        await engine.dispose()
    assert not [e for e in await outbox_events(identity_db) if e["type"] == "touchpoint.recorded"]


async def test_customer_events_carry_golden_traits_and_touchpoints_their_properties(
    identity_client: httpx.AsyncClient, identity_db: str
) -> None:
    await identify(
        identity_client,
        ("email", "traits@example.com"),
        traits={"name": "Lee Ha-eun", "city": "Busan", "time_zone": "Asia/Seoul"},
        touchpoint={"channel": "web", "type": "order_placed", "payload": {"total": "42000", "items": []}},
    )
    events = await outbox_events(identity_db)
    created = next(e for e in events if e["type"] == "customer.created")
    assert created["payload"]["traits"]["city"] == "Busan"
    assert created["payload"]["traits"]["time_zone"] == "Asia/Seoul"
    recorded = next(e for e in events if e["type"] == "touchpoint.recorded")
    assert recorded["payload"]["properties"] == {"total": "42000", "items": []}
