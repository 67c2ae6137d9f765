import uuid

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from feedback.customers.models import CustomerRef


async def upsert(session: AsyncSession, *, customer_id: uuid.UUID, display_name: str | None) -> None:
    """Insert the customer or refresh its name; repeating the same facts writes nothing.

    An erased customer keeps its erasure: a replayed event must not bring the name back.
    """
    statement = pg_insert(CustomerRef).values(customer_id=customer_id, display_name=display_name)
    excluded = statement.excluded
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[col(CustomerRef.customer_id)],
            set_={"display_name": excluded.display_name},
            where=col(CustomerRef.erased_at).is_(None)
            & col(CustomerRef.display_name).is_distinct_from(excluded.display_name),
        )
    )


async def get(session: AsyncSession, customer_id: uuid.UUID) -> CustomerRef | None:
    return await session.get(CustomerRef, customer_id)
