"""Delivery test helpers: audience members and contents as the other domains store them, ledger reads."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from campaign.audience.models import AudienceMember
from campaign.channels import service as channels_service
from campaign.channels.types import Channel
from campaign.delivery import service
from campaign.delivery.service import SendRequest
from campaign.delivery.worker import DeliveryWorker
from crm_common.db import table_of

ALL_MARKETING = {f"{c.value}:marketing": True for c in Channel}


async def add_members(
    engine: AsyncEngine,
    count: int = 1,
    *,
    consents: dict[str, bool] | None = None,
    time_zone: str | None = "Asia/Seoul",
    email: bool = True,
    phone: bool = True,
) -> list[uuid.UUID]:
    """Audience members (the read model's rows, as the audience consumer writes them)."""
    ids = [uuid.uuid4() for _ in range(count)]
    rows = [
        {
            "customer_id": customer_id,
            "display_name": f"Customer {customer_id.hex[:6]}",
            "email": f"c{customer_id.hex[:12]}@example.com" if email else None,
            "phone": f"+8210{customer_id.int % 10**8:08d}" if phone else None,
            "time_zone": time_zone,
            "consents": ALL_MARKETING if consents is None else consents,
            "customer_created_at": datetime(2026, 1, 1, tzinfo=UTC),
        }
        for customer_id in ids
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(table_of(AudienceMember)), rows)
    return ids


async def add_content(
    sessions: async_sessionmaker[AsyncSession],
    campaign_id: uuid.UUID,
    channel: Channel = Channel.WEBHOOK,
    purpose: str = "marketing",
    *,
    step_id: str = "s1",
    variant_key: str = "a",
    body: str = "Hello {{ customer.name }}",
) -> uuid.UUID:
    async with sessions() as session, session.begin():
        return await channels_service.upsert_content(
            session,
            campaign_id=campaign_id,
            step_id=step_id,
            variant_key=variant_key,
            channel=channel,
            purpose=purpose,
            subject="Hi",
            body=body,
        )


async def enqueue(
    sessions: async_sessionmaker[AsyncSession],
    customer_ids: Sequence[uuid.UUID],
    *,
    campaign_id: uuid.UUID,
    content_id: uuid.UUID,
    channel: Channel = Channel.WEBHOOK,
    purpose: str = "marketing",
    step_id: str = "s1",
    **extra: Any,
) -> int:
    async with sessions() as session, session.begin():
        return await service.enqueue(
            session,
            [
                SendRequest(
                    campaign_id=campaign_id,
                    step_id=step_id,
                    variant_key="a",
                    customer_id=customer_id,
                    channel=channel,
                    purpose=purpose,
                    content_id=content_id,
                    **extra,
                )
                for customer_id in customer_ids
            ],
        )


async def campaign_with_content(
    sessions: async_sessionmaker[AsyncSession],
    customer_ids: Sequence[uuid.UUID],
    channel: Channel = Channel.WEBHOOK,
    purpose: str = "marketing",
    **content: Any,
) -> uuid.UUID:
    campaign_id = uuid.uuid4()
    content_id = await add_content(sessions, campaign_id, channel, purpose, **content)
    await enqueue(
        sessions,
        customer_ids,
        campaign_id=campaign_id,
        content_id=content_id,
        channel=channel,
        purpose=purpose,
    )
    return campaign_id


async def statuses(engine: AsyncEngine, campaign_id: uuid.UUID | None = None) -> Counter[str]:
    query = "SELECT status, count(*) FROM delivery"
    params: dict[str, Any] = {}
    if campaign_id is not None:
        query += " WHERE campaign_id = :c"
        params["c"] = campaign_id
    async with engine.connect() as conn:
        rows = (await conn.execute(text(query + " GROUP BY status"), params)).all()
    return Counter({status: count for status, count in rows})


async def ledger(engine: AsyncEngine, campaign_id: uuid.UUID) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT * FROM delivery WHERE campaign_id = :c"), {"c": campaign_id})
        return [dict(row._mapping) for row in rows]


async def outbox_types(engine: AsyncEngine) -> Counter[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT envelope->>'type' FROM outbox_event"))
        return Counter(row[0] for row in rows)


async def outbox_payloads(engine: AsyncEngine, event_type: str) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT envelope->'payload' FROM outbox_event WHERE envelope->>'type' = :t"),
            {"t": event_type},
        )
        return [row[0] for row in rows]


async def drain(worker: DeliveryWorker, *, idle_rounds: int = 1) -> None:
    """Run the worker's batches until nothing is due."""
    idle = 0
    while idle < idle_rounds:
        idle = idle + 1 if await worker.run_once() == 0 else 0
