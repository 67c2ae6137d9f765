"""All SQL of the channels domain: message content and the in-app inbox."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession

from campaign.channels.models import InboxMessage, MessageContentRecord
from crm_common.db import any_of, table_of

_content = table_of(MessageContentRecord)
_inbox = table_of(InboxMessage)


async def upsert_content(
    session: AsyncSession,
    *,
    campaign_id: uuid.UUID,
    step_id: str,
    variant_key: str,
    channel: str,
    purpose: str,
    subject: str | None,
    body: str,
    payload_template: dict[str, Any],
) -> uuid.UUID:
    statement = insert(_content).values(
        id=uuid.uuid4(),
        campaign_id=campaign_id,
        step_id=step_id,
        variant_key=variant_key,
        channel=channel,
        purpose=purpose,
        subject=subject,
        body=body,
        payload_template=payload_template,
    )
    upsert = statement.on_conflict_do_update(
        index_elements=[_content.c.campaign_id, _content.c.step_id, _content.c.variant_key],
        set_={
            "channel": statement.excluded.channel,
            "purpose": statement.excluded.purpose,
            "subject": statement.excluded.subject,
            "body": statement.excluded.body,
            "payload_template": statement.excluded.payload_template,
            "updated_at": func.now(),
        },
    ).returning(_content.c.id)
    return (await session.execute(upsert)).scalar_one()


async def contents_by_id(session: AsyncSession, content_ids: Sequence[uuid.UUID]) -> list[Any]:
    statement = select(_content).where(any_of(_content.c.id, list(content_ids), UUID(as_uuid=True)))
    return list((await session.execute(statement)).all())


async def content_id_for(
    session: AsyncSession, campaign_id: uuid.UUID, step_id: str, variant_key: str
) -> uuid.UUID | None:
    statement = select(_content.c.id).where(
        _content.c.campaign_id == campaign_id,
        _content.c.step_id == step_id,
        _content.c.variant_key == variant_key,
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def insert_inbox_messages(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert in-app messages; a row whose id (the message id) is already there is left as it is."""
    if rows:
        await session.execute(insert(_inbox).values(list(rows)).on_conflict_do_nothing(index_elements=["id"]))


async def inbox_page(
    session: AsyncSession,
    customer_id: uuid.UUID,
    *,
    unread: bool | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[InboxMessage]:
    statement = select(InboxMessage).where(_inbox.c.customer_id == customer_id)
    if unread is True:
        statement = statement.where(_inbox.c.read_at.is_(None))
    elif unread is False:
        statement = statement.where(_inbox.c.read_at.is_not(None))
    if after is not None:
        statement = statement.where(tuple_(_inbox.c.created_at, _inbox.c.id) < tuple_(*after))
    statement = statement.order_by(_inbox.c.created_at.desc(), _inbox.c.id.desc()).limit(limit)
    return list((await session.execute(statement)).scalars())


async def mark_read(
    session: AsyncSession, message_id: uuid.UUID, customer_id: uuid.UUID, read_at: datetime
) -> tuple[InboxMessage | None, bool]:
    """(the message, whether this call was the first read); (None, False) if it is not the customer's."""
    first = (
        await session.execute(
            update(_inbox)
            .where(_inbox.c.id == message_id, _inbox.c.customer_id == customer_id, _inbox.c.read_at.is_(None))
            .values(read_at=read_at)
            .returning(_inbox.c.id)
        )
    ).first()
    message = (
        await session.execute(
            select(InboxMessage)
            .where(_inbox.c.id == message_id, _inbox.c.customer_id == customer_id)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    return message, first is not None


async def delete_inbox_of(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> int:
    result = await session.execute(
        delete(_inbox).where(any_of(_inbox.c.customer_id, list(customer_ids), UUID(as_uuid=True)))
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def move_inbox(session: AsyncSession, from_customer_id: uuid.UUID, to_customer_id: uuid.UUID) -> int:
    result = await session.execute(
        update(_inbox).where(_inbox.c.customer_id == from_customer_id).values(customer_id=to_customer_id)
    )
    return int(getattr(result, "rowcount", 0) or 0)
