"""The customer's timeline across channels, newest first."""

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

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
