import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Uuid, insert, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.db import any_of, table_of
from identity.consents.models import ConsentChange


async def current(session: AsyncSession, customer_id: uuid.UUID) -> list[Any]:
    """The latest change per (channel, purpose)."""
    table = table_of(ConsentChange)
    statement = (
        select(table)
        .ext(distinct_on(table.c.channel, table.c.purpose))
        .where(table.c.customer_id == customer_id)
        .order_by(table.c.channel, table.c.purpose, table.c.changed_at.desc(), table.c.id.desc())
    )
    return list((await session.execute(statement)).all())


async def current_of_customers(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> list[Any]:
    """The latest change per (customer, channel, purpose), ordered as ``current`` within a customer."""
    if not customer_ids:
        return []
    table = table_of(ConsentChange)
    statement = (
        select(table)
        .ext(distinct_on(table.c.customer_id, table.c.channel, table.c.purpose))
        .where(any_of(table.c.customer_id, customer_ids, Uuid()))
        .order_by(
            table.c.customer_id,
            table.c.channel,
            table.c.purpose,
            table.c.changed_at.desc(),
            table.c.id.desc(),
        )
    )
    return list((await session.execute(statement)).all())


async def add_changes(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(table_of(ConsentChange)), rows)
