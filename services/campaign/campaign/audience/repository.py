import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from campaign.audience.models import AudienceMember


async def upsert(
    session: AsyncSession,
    *,
    customer_id: uuid.UUID,
    display_name: str | None,
    email: str | None,
    customer_created_at: datetime,
) -> None:
    """Insert the member or bring it up to date; repeating the same facts writes nothing."""
    statement = pg_insert(AudienceMember).values(
        customer_id=customer_id,
        display_name=display_name,
        email=email,
        customer_created_at=customer_created_at,
    )
    excluded = statement.excluded
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[col(AudienceMember.customer_id)],
            set_={
                "display_name": excluded.display_name,
                "email": excluded.email,
                "customer_created_at": excluded.customer_created_at,
                "updated_at": func.now(),  # ON CONFLICT ignores Column.onupdate
            },
            where=or_(
                col(AudienceMember.display_name).is_distinct_from(excluded.display_name),
                col(AudienceMember.email).is_distinct_from(excluded.email),
                col(AudienceMember.customer_created_at).is_distinct_from(excluded.customer_created_at),
            ),
        )
    )


async def get(session: AsyncSession, customer_id: uuid.UUID) -> AudienceMember | None:
    return await session.get(AudienceMember, customer_id)


async def get_many(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> list[AudienceMember]:
    """One query for the whole batch."""
    if not customer_ids:
        return []
    result = await session.execute(
        select(AudienceMember).where(col(AudienceMember.customer_id).in_(customer_ids))
    )
    return list(result.scalars())
