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
