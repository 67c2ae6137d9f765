import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from identity.customers.models import Customer


async def add(session: AsyncSession, customer: Customer) -> Customer:
    session.add(customer)
    await session.flush()
    await session.refresh(customer)
    return customer


async def get(session: AsyncSession, customer_id: uuid.UUID) -> Customer | None:
    return await session.get(Customer, customer_id)


async def get_many(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> list[Customer]:
    """One query for the whole batch."""
    if not customer_ids:
        return []
    result = await session.execute(select(Customer).where(Customer.id.in_(customer_ids)))  # type: ignore[attr-defined]
    return list(result.scalars())
