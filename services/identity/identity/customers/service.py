"""Customer records: the business rules, no SQL and no HTTP."""

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from identity.customers import repository
from identity.customers.errors import CustomerNotFound
from identity.customers.models import Customer
from identity.customers.schemas import CustomerCreate
from identity.events import publisher


async def create_customer(session: AsyncSession, data: CustomerCreate) -> Customer:
    """Create a customer and record ``customer.created`` in the same transaction."""
    customer = await repository.add(
        session,
        Customer(display_name=data.display_name, email=str(data.email).lower() if data.email else None),
    )
    await publisher.customer_created(session, customer)
    return customer


async def get_customer(session: AsyncSession, customer_id: uuid.UUID) -> Customer:
    customer = await repository.get(session, customer_id)
    if customer is None:
        raise CustomerNotFound(f"No customer with id {customer_id}.")
    return customer


async def get_customers(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> list[Customer]:
    """The customers among ``customer_ids`` (unknown ids are left out), in one query."""
    unique_ids = list(dict.fromkeys(customer_ids))
    return await repository.get_many(session, unique_ids)
