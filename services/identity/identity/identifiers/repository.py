import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from identity.identifiers.models import Identifier


async def of_customer(session: AsyncSession, customer_id: uuid.UUID) -> list[Identifier]:
    statement = (
        select(Identifier)
        .where(col(Identifier.customer_id) == customer_id)
        .order_by(col(Identifier.type), col(Identifier.value))
    )
    return list((await session.execute(statement)).scalars())


async def owner_of(session: AsyncSession, identifier_type: str, value: str) -> uuid.UUID | None:
    statement = select(col(Identifier.customer_id)).where(
        col(Identifier.type) == identifier_type, col(Identifier.value) == value
    )
    return (await session.execute(statement)).scalar_one_or_none()
