"""The customer's timeline across channels, newest first."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from identity.customers import service as customers
from identity.events import publisher
from identity.timeline import repository
from identity.timeline.models import Touchpoint


async def timeline(
    session: AsyncSession,
    customer_id: uuid.UUID,
    *,
    channels: list[str] | None,
    types: list[str] | None,
    since: datetime | None,
    until: datetime | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Touchpoint]:
    """Touchpoints of the customer matching the filters, keyset-paginated after ``after``."""
    return await repository.timeline(
        session,
        customer_id,
        channels=channels,
        types=types,
        since=since,
        until=until,
        after=after,
        limit=limit,
    )


async def first_pages(
    session: AsyncSession,
    customer_ids: Sequence[uuid.UUID],
    *,
    channels: list[str] | None,
    types: list[str] | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> dict[uuid.UUID, list[Touchpoint]]:
    """Each customer's newest ``limit`` touchpoints matching the filters (what ``timeline`` returns
    without ``after``), one query for any number of customers; every given id is a key."""
    return await repository.first_pages(
        session,
        list(dict.fromkeys(customer_ids)),
        channels=channels,
        types=types,
        since=since,
        until=until,
        limit=limit,
    )


@dataclass(frozen=True)
class ExternalTouchpoint:
    """Something another service did with or heard from the customer (a campaign message sent, opened…)."""

    customer_id: uuid.UUID
    channel: str
    type: str
    occurred_at: datetime
    source: str
    external_id: str
    payload: dict[str, Any]


async def record_external(session: AsyncSession, touchpoints: list[ExternalTouchpoint]) -> int:
    """Put other services' touchpoints on the timelines of the customers they resolve to today.

    A merged-away id lands on its survivor; an erased or unknown customer gets nothing. A touchpoint whose
    (source, external_id) is already recorded is skipped, so a redelivered event adds nothing. The new
    ones are announced as ``touchpoint.recorded``. Returns how many were new.
    """
    if not touchpoints:
        return 0
    owners = await customers.get_customers(session, [t.customer_id for t in touchpoints])
    rows = [
        {
            "id": uuid.uuid4(),
            "customer_id": owners[t.customer_id].id,
            "channel": t.channel,
            "type": t.type,
            "occurred_at": t.occurred_at,
            "source": t.source,
            "external_id": t.external_id,
            "payload": t.payload,
        }
        for t in touchpoints
        if t.customer_id in owners
    ]
    new = await repository.insert_touchpoints(session, rows)
    await publisher.publish_all(
        session, [publisher.touchpoint_recorded_event(row, row["customer_id"]) for row in new]
    )
    return len(new)
