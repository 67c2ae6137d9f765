"""Reading a customer's current consents (the latest change per channel and purpose)."""

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from identity.consents import repository


async def current(session: AsyncSession, customer_id: uuid.UUID) -> list[Any]:
    """The customer's current consent per (channel, purpose), ordered by channel and purpose."""
    return await repository.current(session, customer_id)


async def current_of_customers(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Any]]:
    """``current`` for each of these customers, one query for any number; every given id is a key."""
    found: dict[uuid.UUID, list[Any]] = {customer_id: [] for customer_id in customer_ids}
    for row in await repository.current_of_customers(session, list(found)):
        found[row.customer_id].append(row)
    return found
