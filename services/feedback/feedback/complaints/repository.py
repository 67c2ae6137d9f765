"""All SQL of the complaints domain: cases, their history and their customer lifecycle."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ARRAY, DateTime, Uuid, cast, func, literal, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from crm_common.db import any_of, table_of
from feedback.complaints.models import Complaint, ComplaintStatusChange
from feedback.customers import moves

MOVE_KIND = "complaint"

_complaint = table_of(Complaint)
_change = table_of(ComplaintStatusChange)


async def add(session: AsyncSession, complaint: Complaint) -> Complaint:
    session.add(complaint)
    await session.flush()
    return complaint


async def add_change(session: AsyncSession, change: ComplaintStatusChange) -> None:
    session.add(change)
    await session.flush()


async def get(
    session: AsyncSession, complaint_id: uuid.UUID, *, for_update: bool = False
) -> Complaint | None:
    statement = select(Complaint).where(_complaint.c.id == complaint_id)
    if for_update:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(statement)).scalar_one_or_none()


async def history(session: AsyncSession, complaint_id: uuid.UUID) -> list[ComplaintStatusChange]:
    statement = (
        select(ComplaintStatusChange)
        .where(_change.c.complaint_id == complaint_id)
        .order_by(_change.c.changed_at, _change.c.id)
    )
    return list((await session.execute(statement)).scalars())


async def list_complaints(
    session: AsyncSession,
    *,
    status: str | None,
    assignee: str | None,
    unassigned: bool,
    touchpoint: str | None,
    customer_id: uuid.UUID | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Complaint]:
    """Newest first, keyset-paginated on (opened_at, id)."""
    statement = select(Complaint)
    if status is not None:
        statement = statement.where(_complaint.c.status == status)
    if assignee is not None:
        statement = statement.where(_complaint.c.assignee == assignee)
    if unassigned:
        statement = statement.where(_complaint.c.assignee.is_(None))
    if touchpoint is not None:
        statement = statement.where(_complaint.c.touchpoint == touchpoint)
    if customer_id is not None:
        statement = statement.where(_complaint.c.customer_id == customer_id)
    if after is not None:
        statement = statement.where(
            func.row(_complaint.c.opened_at, _complaint.c.id)
            < func.row(cast(after[0], DateTime(timezone=True)), cast(after[1], Uuid))
        )
    statement = statement.order_by(_complaint.c.opened_at.desc(), _complaint.c.id.desc()).limit(limit)
    return list((await session.execute(statement)).scalars())


async def first_pages_of_customers(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID], *, per_customer: int
) -> dict[uuid.UUID, list[Complaint]]:
    """The first ``per_customer`` complaints of each customer in :func:`list_complaints` order (newest
    first, by (opened_at, id)), for a whole batch in one statement: a LATERAL scan of
    ``ix_complaint_customer_id`` per customer."""
    pages: dict[uuid.UUID, list[Complaint]] = {customer_id: [] for customer_id in customer_ids}
    if not pages:
        return pages
    c = _complaint.c
    requested = select(func.unnest(literal(list(pages), ARRAY(Uuid()))).label("customer_id")).subquery(
        "requested"
    )
    page = (
        select(_complaint)
        .where(c.customer_id == requested.c.customer_id)
        .order_by(c.opened_at.desc(), c.id.desc())
        .limit(per_customer)
        .lateral("page")
    )
    statement = (
        select(aliased(Complaint, page))
        .select_from(requested.join(page, true()))
        .order_by(page.c.customer_id, page.c.opened_at.desc(), page.c.id.desc())
    )
    for complaint in (await session.execute(statement)).scalars():
        assert complaint.customer_id is not None  # matched on it
        pages[complaint.customer_id].append(complaint)
    return pages


async def move_customer(
    session: AsyncSession, *, merge_id: uuid.UUID, from_id: uuid.UUID, to_id: uuid.UUID
) -> int:
    """Re-key ``from_id``'s complaints to ``to_id``, recording each moved row under the merge."""
    return await moves.rekey_rows(
        session, _complaint.c.customer_id, kind=MOVE_KIND, merge_id=merge_id, from_id=from_id, to_id=to_id
    )


async def restore_customer(session: AsyncSession, *, merge_id: uuid.UUID, restored_id: uuid.UUID) -> int:
    """Give back to ``restored_id`` exactly the complaints the merge moved (unless erased since)."""
    return await moves.restore_rows(
        session, _complaint.c.customer_id, kind=MOVE_KIND, merge_id=merge_id, restored_id=restored_id
    )


async def erase(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> int:
    """Detach the customers from their complaints and drop the notes written about them; the case's
    status, timings and assignee stay for the complaint statistics."""
    if not customer_ids:
        return 0
    erased = (
        (
            await session.execute(
                update(_complaint)
                .where(any_of(_complaint.c.customer_id, customer_ids, Uuid()))
                .values(customer_id=None, resolution=None)
                .returning(_complaint.c.id)
            )
        )
        .scalars()
        .all()
    )
    if erased:
        await session.execute(
            update(_change).where(any_of(_change.c.complaint_id, erased, Uuid())).values(note=None)
        )
    return len(erased)
