"""The customer's timeline across channels, newest first, keyset-paginated."""

import uuid
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

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
    statement = select(Touchpoint).where(col(Touchpoint.customer_id) == customer_id)
    if channels:
        statement = statement.where(col(Touchpoint.channel).in_(channels))
    if types:
        statement = statement.where(col(Touchpoint.type).in_(types))
    if since:
        statement = statement.where(col(Touchpoint.occurred_at) >= since)
    if until:
        statement = statement.where(col(Touchpoint.occurred_at) < until)
    if after:
        statement = statement.where(
            func.row(col(Touchpoint.occurred_at), col(Touchpoint.id)) < func.row(after[0], after[1])
        )
    statement = statement.order_by(col(Touchpoint.occurred_at).desc(), col(Touchpoint.id).desc()).limit(limit)
    return list((await session.execute(statement)).scalars())
