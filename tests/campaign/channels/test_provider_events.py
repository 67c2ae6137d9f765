"""Provider feedback: Standard Webhooks signature checked before anything is read or stored."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks.webhooks import Webhook

from campaign.delivery import service as delivery
from tests.campaign.channels.conftest import PROVIDER_SECRET
from tests.campaign.channels.support import ledger_message, stored_message


def signed(body: bytes, *, secret: str = PROVIDER_SECRET, at: datetime | None = None) -> dict[str, str]:
    at = at or datetime.now(UTC)
    event_id = f"evt_{uuid.uuid4().hex}"
    return {
        "content-type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, at, body.decode()),
    }


def events(*items: dict[str, Any]) -> bytes:
    return json.dumps({"events": list(items)}).encode()


async def post(
    client: httpx.AsyncClient, body: bytes, headers: dict[str, str], provider: str = "acme"
) -> httpx.Response:
    return await client.post(f"/v1/channel-events/{provider}", content=body, headers=headers)


async def suppressions_of(sessions: async_sessionmaker[AsyncSession], customer_id: uuid.UUID) -> list[str]:
    async with sessions() as session:
        found = await delivery.list_suppressions(session, after=None, limit=10, customer_id=customer_id)
    return sorted(s.reason for s in found)


async def test_signed_events_are_recorded_once(
    channels_client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    delivered, complained = await ledger_message(sessions), await ledger_message(sessions)
    occurred = datetime(2026, 12, 1, 6, 0, tzinfo=UTC).isoformat()
    body = events(
        {"message_id": str(delivered), "type": "delivered", "occurred_at": occurred, "provider_field": 1},
        {"message_id": str(complained), "type": "complained"},
        {"message_id": str(uuid.uuid4()), "type": "delivered"},  # not ours: ignored
    )
    response = await post(channels_client, body, signed(body))
    assert response.status_code == 200
    assert response.json() == {"received": 3, "recorded": 2}
    repeat = await post(channels_client, body, signed(body))  # the provider retries
    assert repeat.json() == {"received": 3, "recorded": 0}
    assert (await stored_message(sessions, delivered)).responses == ["delivered"]
    complaint = await stored_message(sessions, complained)
    assert complaint.responses == ["complained"]
    assert await suppressions_of(sessions, complaint.customer_id) == ["complaint"]


async def test_soft_bounces_are_recorded_but_do_not_suppress_and_hard_ones_do(
    channels_client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    soft, hard = await ledger_message(sessions), await ledger_message(sessions)
    body = events(
        {"message_id": str(soft), "type": "bounced", "bounce": "soft", "reason": "mailbox full"},
        {"message_id": str(hard), "type": "bounced", "bounce": "hard"},
    )
    assert (await post(channels_client, body, signed(body))).json()["recorded"] == 2
    soft_message, hard_message = await stored_message(sessions, soft), await stored_message(sessions, hard)
    assert soft_message.responses == hard_message.responses == ["bounced"]
    assert await suppressions_of(sessions, soft_message.customer_id) == []
    assert await suppressions_of(sessions, hard_message.customer_id) == ["hard_bounce"]


async def test_unsigned_or_badly_signed_events_are_401_and_store_nothing(
    channels_client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    message_id = await ledger_message(sessions)
    body = events({"message_id": str(message_id), "type": "complained"})
    other_secret = "whsec_" + "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldA=="
    stale = datetime.now(UTC) - timedelta(hours=1)
    tampered = signed(body)
    for headers in (
        {"content-type": "application/json"},
        signed(body, secret=other_secret),
        signed(body, at=stale),
        {**signed(body), "webhook-signature": "v1,not base64!"},
    ):
        response = await post(channels_client, body, headers)
        assert response.status_code == 401, headers
    tampered_body = body.replace(b"complained", b"delivered")
    assert (await post(channels_client, tampered_body, tampered)).status_code == 401
    message = await stored_message(sessions, message_id)
    assert message.responses == []
    assert await suppressions_of(sessions, message.customer_id) == []


async def test_an_unknown_provider_is_404(channels_client: httpx.AsyncClient) -> None:
    body = events({"message_id": str(uuid.uuid4()), "type": "delivered"})
    assert (await post(channels_client, body, signed(body), provider="nobody")).status_code == 404


async def test_bad_input_is_422_naming_the_field_and_records_nothing(
    channels_client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    message_id = await ledger_message(sessions)
    body = events(
        {"message_id": str(message_id), "type": "delivered"},
        {"message_id": str(message_id), "type": "exploded"},
        {"message_id": "nope", "type": "bounced", "bounce": "medium"},
    )
    response = await post(channels_client, body, signed(body))
    assert response.status_code == 422
    fields = sorted(e["field"] for e in response.json()["errors"])
    assert fields == ["body.events.1.type", "body.events.2.bounce", "body.events.2.message_id"]
    assert (await stored_message(sessions, message_id)).responses == []
    for bad in (b"not json", b'{"events": []}'):
        assert (await post(channels_client, bad, signed(bad))).status_code == 422
