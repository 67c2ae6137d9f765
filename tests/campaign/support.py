"""Campaign test helpers: identity's ``customer.created`` as identity publishes it, and row counts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign.audience import repository
from campaign.audience.models import AudienceMember
from campaign.database import metadata
from crm_common.db import session_factory
from crm_common.events import EventEnvelope
from crm_common.events.consumer import ConsumerRunner

CUSTOMER_CREATED_AT = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def customer_created(
    customer_id: uuid.UUID | None = None,
    *,
    display_name: str = "Kim Min-jun",
    email: str | None = "mj@example.com",
    **extra: Any,
) -> EventEnvelope:
    """The envelope identity's publisher writes for a new customer (schema version 1)."""
    customer_id = customer_id or uuid.uuid4()
    return EventEnvelope(
        type="customer.created",
        producer="identity",
        subject_id=str(customer_id),
        payload={
            "customer_id": str(customer_id),
            "display_name": display_name,
            "email": email,
            "created_at": CUSTOMER_CREATED_AT.isoformat(),
            **extra,
        },
    )


async def deliver(runner: ConsumerRunner, envelope: EventEnvelope, deliveries: int = 1) -> bool:
    """Hand the envelope to the consumer as JetStream would; True when it may be acknowledged."""
    return await runner.handle(envelope.subject, envelope.model_dump_json().encode(), deliveries)


async def count_rows(engine: AsyncEngine, table_name: str) -> int:
    async with engine.connect() as conn:
        query = select(func.count()).select_from(metadata.tables[table_name])
        return int((await conn.execute(query)).scalar_one())


async def row_version(engine: AsyncEngine, customer_id: uuid.UUID) -> str:
    """The member row's ``xmin``: it changes whenever anything writes the row."""
    async with engine.connect() as conn:
        query = text("SELECT xmin::text FROM audience_member WHERE customer_id = :id")
        return str((await conn.execute(query, {"id": customer_id})).scalar_one())


async def stored_member(engine: AsyncEngine, customer_id: uuid.UUID) -> AudienceMember | None:
    async with session_factory(engine)() as session:
        return await repository.get(session, customer_id)


def event(producer: str, event_type: str, payload: dict[str, Any], **envelope: Any) -> EventEnvelope:
    """Any producer's envelope (schema version 1) around ``payload``."""
    subject_id = payload.get("customer_id") or payload.get("survivor_id")
    return EventEnvelope(
        type=event_type,
        producer=producer,
        subject_id=str(subject_id) if subject_id else None,
        payload=payload,
        **envelope,
    )


def customer_updated(customer_id: uuid.UUID, **payload: Any) -> EventEnvelope:
    return event("identity", "customer.updated", {"customer_id": str(customer_id), **payload})


def consent_changed(customer_id: uuid.UUID, channel: str, purpose: str, granted: bool) -> EventEnvelope:
    """Identity's consent-only ``customer.updated``: just the id and the change."""
    return customer_updated(
        customer_id, consents_changed=[{"channel": channel, "purpose": purpose, "granted": granted}]
    )


def touchpoint(
    customer_id: uuid.UUID,
    touchpoint_type: str,
    occurred_at: datetime,
    properties: dict[str, Any] | None = None,
    channel: str = "web",
) -> EventEnvelope:
    return event(
        "identity",
        "touchpoint.recorded",
        {
            "touchpoint_id": str(uuid.uuid4()),
            "customer_id": str(customer_id),
            "channel": channel,
            "type": touchpoint_type,
            "occurred_at": occurred_at.isoformat(),
            "source": "test",
            "properties": properties or {},
        },
    )


def order_placed(
    customer_id: uuid.UUID,
    occurred_at: datetime,
    items: list[dict[str, Any]],
    *,
    order_id: str | None = None,
    currency: str = "KRW",
) -> EventEnvelope:
    """An ``order_placed`` touchpoint; items are ``{sku, name, category, price, quantity}``."""
    total = sum(float(item["price"]) * int(item.get("quantity", 1)) for item in items)
    return touchpoint(
        customer_id,
        "order_placed",
        occurred_at,
        {
            "order_id": order_id or f"o-{uuid.uuid4().hex[:8]}",
            "total": f"{total:.2f}",
            "currency": currency,
            "items": [{"quantity": 1, **item} for item in items],
        },
        channel="web",
    )


def item(sku: str, category: str, price: float, quantity: int = 1, name: str | None = None) -> dict[str, Any]:
    return {
        "sku": sku,
        "name": name or sku,
        "category": category,
        "price": f"{price:.2f}",
        "quantity": quantity,
    }


async def deliver_all(runner: ConsumerRunner, *envelopes: EventEnvelope) -> None:
    """Hand each envelope to the consumer in order, asserting each may be acknowledged."""
    for envelope in envelopes:
        assert await deliver(runner, envelope) is True, envelope.type


async def scalar(engine: AsyncEngine, sql: str, **params: Any) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar()


async def rows(engine: AsyncEngine, sql: str, **params: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list(await conn.execute(text(sql), params))
