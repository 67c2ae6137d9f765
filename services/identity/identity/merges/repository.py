"""SQL for merges: moving a customer's rows to its survivor and back, recorded row by row."""

import uuid
from collections.abc import Sequence

from sqlalchemy import DateTime, String, Uuid, and_, cast, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from crm_common.db import any_of, table_of
from identity.consents.models import ConsentChange
from identity.customers.models import Customer, TraitValue
from identity.identifiers.models import Identifier
from identity.merges.models import Merge, MergeConflict, MergeMove, NeverMerge
from identity.timeline.models import Touchpoint

_MOVABLE = {
    "identifier": table_of(Identifier),
    "trait": table_of(TraitValue),
    "touchpoint": table_of(Touchpoint),
    "consent": table_of(ConsentChange),
}


async def move_rows(
    session: AsyncSession, merge_id: uuid.UUID, from_id: uuid.UUID, to_id: uuid.UUID
) -> dict[str, int]:
    """Move every row of ``from_id`` to ``to_id`` and remember which, so undo can move exactly these back."""
    moved: dict[str, int] = {}
    for kind, table in _MOVABLE.items():
        ids = (
            (
                await session.execute(
                    update(table)
                    .where(table.c.customer_id == from_id)
                    .values(customer_id=to_id)
                    .returning(table.c.id)
                )
            )
            .scalars()
            .all()
        )
        moved[kind] = len(ids)
        if ids:
            await session.execute(
                insert(table_of(MergeMove)),
                [{"merge_id": merge_id, "kind": kind, "row_id": str(row_id)} for row_id in ids],
            )
    return moved


async def move_back(session: AsyncSession, merge_id: uuid.UUID, to_id: uuid.UUID) -> set[uuid.UUID]:
    """Return the rows a merge moved to ``to_id``, wherever later merges have taken them since.

    Returns the customers the rows were taken from (their profiles need refreshing).
    """
    moves = table_of(MergeMove)
    previous_owners: set[uuid.UUID] = set()
    for kind, table in _MOVABLE.items():
        row_ids = select(moves.c.row_id).where(moves.c.merge_id == merge_id, moves.c.kind == kind)
        moving = (
            select(table.c.id, table.c.customer_id)
            .where(cast(table.c.id, String).in_(row_ids))
            .with_for_update()
            .cte(f"moving_{kind}")
        )
        owners = await session.execute(
            update(table)
            .where(table.c.id == moving.c.id)
            .values(customer_id=to_id)
            .returning(moving.c.customer_id)
        )
        previous_owners.update(row[0] for row in owners)
    previous_owners.discard(to_id)
    return previous_owners


async def add_merge(session: AsyncSession, merge: Merge) -> Merge:
    session.add(merge)
    await session.flush()
    return merge


async def get_merge(session: AsyncSession, merge_id: uuid.UUID, *, for_update: bool = False) -> Merge | None:
    statement = select(Merge).where(col(Merge.id) == merge_id)
    if for_update:
        statement = statement.with_for_update()
    return (await session.execute(statement)).scalar_one_or_none()


async def merges_of(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> list[Merge]:
    statement = (
        select(Merge)
        .where(or_(col(Merge.survivor_id).in_(customer_ids), col(Merge.merged_id).in_(customer_ids)))
        .order_by(col(Merge.created_at).desc())
    )
    return list((await session.execute(statement)).scalars())


async def active_merge_counts(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    table = table_of(Merge)
    rows = await session.execute(
        select(table.c.survivor_id, func.count())
        .where(any_of(table.c.survivor_id, customer_ids, Uuid()), table.c.undone_at.is_(None))
        .group_by(table.c.survivor_id)
    )
    return {row[0]: int(row[1]) for row in rows}


async def never_merge_pairs(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID]
) -> set[frozenset[uuid.UUID]]:
    table = table_of(NeverMerge)
    rows = await session.execute(
        select(table.c.customer_a, table.c.customer_b).where(
            or_(
                any_of(table.c.customer_a, customer_ids, Uuid()),
                any_of(table.c.customer_b, customer_ids, Uuid()),
            )
        )
    )
    return {frozenset((row[0], row[1])) for row in rows}


async def add_never_merge(
    session: AsyncSession, first: uuid.UUID, second: uuid.UUID, *, actor: str, reason: str | None
) -> None:
    low, high = sorted((first, second))
    await session.execute(
        pg_insert(table_of(NeverMerge))
        .values(customer_a=low, customer_b=high, actor=actor, reason=reason)
        .on_conflict_do_nothing()
    )


async def add_conflict(session: AsyncSession, conflict: MergeConflict) -> uuid.UUID:
    """File a conflict unless the same one is already open; returns the open conflict's id."""
    table = table_of(MergeConflict)
    existing = (
        await session.execute(
            select(table.c.id).where(
                table.c.status == "open",
                table.c.reason == conflict.reason,
                or_(
                    and_(
                        table.c.customer_id == conflict.customer_id,
                        table.c.other_customer_id == conflict.other_customer_id,
                    ),
                    and_(
                        table.c.customer_id == conflict.other_customer_id,
                        table.c.other_customer_id == conflict.customer_id,
                    ),
                ),
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        return uuid.UUID(str(existing))
    session.add(conflict)
    await session.flush()
    return conflict.id


async def get_conflict(session: AsyncSession, conflict_id: uuid.UUID) -> MergeConflict | None:
    return await session.get(MergeConflict, conflict_id, with_for_update=True)


async def list_conflicts(
    session: AsyncSession, *, status: str | None, after: tuple[str, str] | None, limit: int
) -> list[MergeConflict]:
    statement = select(MergeConflict)
    if status:
        statement = statement.where(col(MergeConflict.status) == status)
    if after:
        created_at, conflict_id = after
        statement = statement.where(
            func.row(col(MergeConflict.created_at), col(MergeConflict.id))
            < func.row(cast(created_at, DateTime(timezone=True)), cast(conflict_id, Uuid))
        )
    statement = statement.order_by(col(MergeConflict.created_at).desc(), col(MergeConflict.id).desc()).limit(
        limit
    )
    return list((await session.execute(statement)).scalars())


async def lock_customers(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> list[Customer]:
    """The customers, locked in id order (a stable order, so concurrent merges cannot deadlock)."""
    statement = (
        select(Customer)
        .where(col(Customer.id).in_(sorted(customer_ids)))
        .order_by(col(Customer.id))
        .with_for_update()
    )
    return list((await session.execute(statement)).scalars())
