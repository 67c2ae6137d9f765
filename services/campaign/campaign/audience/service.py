"""The campaign's audience: who the campaign service can address. No SQL and no HTTP."""

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from campaign.audience import repository
from campaign.audience.errors import AudienceMemberNotFound
from campaign.audience.models import AudienceMember


async def project_customer(
    session: AsyncSession,
    *,
    customer_id: uuid.UUID,
    display_name: str | None,
    email: str | None,
    customer_created_at: datetime,
) -> None:
    """Add a customer identity created to the audience, or refresh it; safe to repeat."""
    await repository.upsert(
        session,
        customer_id=customer_id,
        display_name=display_name,
        email=email,
        customer_created_at=customer_created_at,
    )


async def get_member(session: AsyncSession, customer_id: uuid.UUID) -> AudienceMember:
    member = await repository.get(session, customer_id)
    if member is None:
        raise AudienceMemberNotFound(f"No audience member with customer id {customer_id}.")
    return member


async def get_members(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> list[AudienceMember]:
    """The members among ``customer_ids`` in the order asked (unknown ids are left out), in one query."""
    unique_ids = list(dict.fromkeys(customer_ids))
    by_id = {member.customer_id: member for member in await repository.get_many(session, unique_ids)}
    return [by_id[customer_id] for customer_id in unique_ids if customer_id in by_id]
