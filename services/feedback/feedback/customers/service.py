"""The customers feedback knows about: the business rules, no SQL and no HTTP."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from feedback.customers import repository
from feedback.customers.errors import CustomerRefNotFound
from feedback.customers.models import CustomerRef


async def record_customer(session: AsyncSession, *, customer_id: uuid.UUID, display_name: str | None) -> None:
    """Remember a customer identity created, or refresh its name; safe to repeat."""
    await repository.upsert(session, customer_id=customer_id, display_name=display_name)


async def get_customer_ref(session: AsyncSession, customer_id: uuid.UUID) -> CustomerRef:
    customer = await repository.get(session, customer_id)
    if customer is None:
        raise CustomerRefNotFound(f"The feedback service knows no customer with id {customer_id}.")
    return customer
