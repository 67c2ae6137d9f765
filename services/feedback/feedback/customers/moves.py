"""Re-keying a domain's rows on identity's ``customer.merged`` and putting them back on ``unmerged``.

Every domain whose rows belong to a customer by one column (comments by ``author_id``, complaints and
feedback responses by ``customer_id``) moves them with :func:`rekey_rows`, which records each moved row in
``customer_merge_move`` under the domain's ``kind``; :func:`restore_rows` gives back exactly those rows.
The customers domain owns that table; the other domains reach it only through these two functions.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Column, Table, Uuid, cast, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.db import table_of
from feedback.customers.models import CustomerMergeMove

_move = table_of(CustomerMergeMove)


async def rekey_rows(
    session: AsyncSession,
    owner: Column[uuid.UUID],
    *,
    kind: str,
    merge_id: uuid.UUID,
    from_id: uuid.UUID,
    to_id: uuid.UUID,
) -> int:
    """Set ``owner`` from ``from_id`` to ``to_id`` on the owner's table and record each moved row's id."""
    table = owner.table
    assert isinstance(table, Table)
    moved = (
        (
            await session.execute(
                update(table).where(owner == from_id).values({owner.name: to_id}).returning(table.c.id)
            )
        )
        .scalars()
        .all()
    )
    if moved:
        await session.execute(
            insert(_move),
            [
                {
                    "id": uuid.uuid4(),
                    "merge_id": merge_id,
                    "kind": kind,
                    "action": "moved",
                    "row_key": {"id": str(row_id)},
                }
                for row_id in moved
            ],
        )
    return len(moved)


async def restore_rows(
    session: AsyncSession, owner: Column[uuid.UUID], *, kind: str, merge_id: uuid.UUID, restored_id: uuid.UUID
) -> int:
    """Give back to ``restored_id`` exactly the rows the merge moved, wherever later merges took them
    (rows erased since, whose owner is null, stay erased)."""
    table = owner.table
    assert isinstance(table, Table)
    moved_ids = select(cast(_move.c.row_key["id"].astext, Uuid)).where(
        _move.c.merge_id == merge_id, _move.c.kind == kind, _move.c.action == "moved"
    )
    restored = await session.execute(
        update(table)
        .where(table.c.id.in_(moved_ids), owner.is_not(None))
        .values({owner.name: restored_id})
        .returning(table.c.id)
    )
    return len(restored.all())
