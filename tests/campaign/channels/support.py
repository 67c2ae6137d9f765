"""Channels test helpers: a real ledger row to respond to, and what delivery recorded for it."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign.channels.types import Channel, Purpose
from campaign.delivery import service as delivery
from campaign.delivery.schemas import MessagePublic


async def ledger_message(
    sessions: async_sessionmaker[AsyncSession],
    *,
    customer_id: uuid.UUID | None = None,
    channel: Channel = Channel.EMAIL,
) -> uuid.UUID:
    """Enqueue one message through delivery's contract and return its id (the ledger row id)."""
    customer_id = customer_id or uuid.uuid4()
    async with sessions() as session, session.begin():
        await delivery.enqueue(
            session,
            [
                delivery.SendRequest(
                    campaign_id=uuid.uuid4(),
                    step_id="s1",
                    variant_key="a",
                    customer_id=customer_id,
                    channel=channel,
                    purpose=Purpose.MARKETING,
                    content_id=uuid.uuid4(),
                )
            ],
        )
        page = await delivery.message_history(session, customer_id, after=None, limit=1)
    return page.items[0].id


async def stored_message(sessions: async_sessionmaker[AsyncSession], message_id: uuid.UUID) -> MessagePublic:
    async with sessions() as session:
        return await delivery.get_message(session, message_id)
