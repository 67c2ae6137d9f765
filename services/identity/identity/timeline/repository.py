"""The customer's timeline across channels, newest first, keyset-paginated."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from crm_common.db import table_of
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


async def insert_touchpoints(session: AsyncSession, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Insert touchpoints, skipping any whose (source, external_id) is already recorded; returns the new."""
    if not rows:
        return []
    table = table_of(Touchpoint)
    inserted = await session.execute(
        pg_insert(table)
        .values(rows)
        .on_conflict_do_nothing(index_elements=[table.c.source, table.c.external_id])
        .returning(table.c.id)
    )
    new_ids = set(inserted.scalars())
    return [row for row in rows if row["id"] in new_ids]
