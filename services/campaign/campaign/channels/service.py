"""The channels domain's rules: message content, and the in-app inbox. No SQL, no HTTP.

Never imports delivery/ (delivery imports this module).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from campaign.channels import repository
from campaign.channels.errors import InboxMessageNotFound
from campaign.channels.models import InboxMessage
from campaign.channels.types import Channel, MessageContent, Purpose
from crm_common.errors import FieldError, ValidationFailed
from crm_common.pagination import decode_cursor, encode_cursor


async def upsert_content(
    session: AsyncSession,
    *,
    campaign_id: uuid.UUID,
    step_id: str,
    variant_key: str,
    channel: Channel | str,
    purpose: Purpose | str,
    subject: str | None,
    body: str,
    payload_template: dict[str, Any] | None = None,
) -> uuid.UUID:
    """Store the content of one (campaign, step, variant) and return its id.

    Saving it again replaces the text in place (a draft being edited) and keeps the id, so a repeat
    is harmless. Validate the templates first with ``channels.templates.check_template``.
    """
    return await repository.upsert_content(
        session,
        campaign_id=campaign_id,
        step_id=step_id,
        variant_key=variant_key,
        channel=Channel(channel).value,
        purpose=Purpose(purpose).value,
        subject=subject,
        body=body,
        payload_template=dict(payload_template or {}),
    )


async def load_contents(
    session: AsyncSession, content_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, MessageContent]:
    """The contents with these ids, in one query (unknown ids are left out)."""
    unique_ids = list(dict.fromkeys(content_ids))
    if not unique_ids:
        return {}
    return {
        row.id: MessageContent(
            id=row.id,
            campaign_id=row.campaign_id,
            step_id=row.step_id,
            variant_key=row.variant_key,
            channel=Channel(row.channel),
            purpose=Purpose(row.purpose),
            subject=row.subject,
            body=row.body,
            payload_template=dict(row.payload_template or {}),
        )
        for row in await repository.contents_by_id(session, unique_ids)
    }


async def find_content(
    session: AsyncSession, *, campaign_id: uuid.UUID, step_id: str, variant_key: str
) -> MessageContent | None:
    """The content stored for (campaign, step, variant), if any."""
    content_id = await repository.content_id_for(session, campaign_id, step_id, variant_key)
    if content_id is None:
        return None
    return (await load_contents(session, [content_id])).get(content_id)


async def inbox_page(
    session: AsyncSession,
    customer_id: uuid.UUID,
    *,
    unread: bool | None,
    after: str | None,
    limit: int,
) -> tuple[list[InboxMessage], str | None]:
    """One page of a customer's in-app messages, newest first, and the cursor of the next page.

    ``unread`` True: only unread ones; False: only read ones; None: all. A malformed ``after`` is a
    422 naming ``query.after``.
    """
    key = decode_cursor(after)
    position: tuple[datetime, uuid.UUID] | None = None
    if key is not None:
        try:
            position = (datetime.fromisoformat(str(key["c"])), uuid.UUID(str(key["i"])))
        except (KeyError, ValueError) as exc:
            raise ValidationFailed(
                "The cursor is not one this API issued.",
                errors=[FieldError(field="query.after", message="invalid cursor", code="cursor_invalid")],
            ) from exc
        if position[0].tzinfo is None:
            raise ValidationFailed(
                "The cursor is not one this API issued.",
                errors=[FieldError(field="query.after", message="invalid cursor", code="cursor_invalid")],
            )
    rows = await repository.inbox_page(session, customer_id, unread=unread, after=position, limit=limit + 1)
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor({"c": last.created_at.isoformat(), "i": str(last.id)})


async def mark_read(
    session: AsyncSession, message_id: uuid.UUID, customer_id: uuid.UUID, *, read_at: datetime
) -> tuple[InboxMessage, bool]:
    """Mark the customer's message read; returns it and whether this was its first read.

    Another customer's message is as absent as a missing one (404, nothing told about it).
    """
    message, first_read = await repository.mark_read(session, message_id, customer_id, read_at)
    if message is None:
        raise InboxMessageNotFound(f"No message {message_id} in this inbox.")
    return message, first_read


async def forget_customers(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> int:
    """Erasure: delete the customers' in-app messages (they hold rendered personal data); how many."""
    unique_ids = list(dict.fromkeys(customer_ids))
    return await repository.delete_inbox_of(session, unique_ids) if unique_ids else 0


async def move_customer(session: AsyncSession, merged_id: uuid.UUID, survivor_id: uuid.UUID) -> int:
    """A merge: the merged customer's in-app messages move to the survivor's inbox; how many."""
    if merged_id == survivor_id:
        return 0
    return await repository.move_inbox(session, merged_id, survivor_id)
