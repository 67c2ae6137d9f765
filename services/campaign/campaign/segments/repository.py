"""All SQL of segments: their rows, the compiled rules evaluated over the read model, membership."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, Table, any_, delete, exists, func, literal, select, text, update
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from campaign.segments.models import Segment, SegmentMembership
from campaign.segments.rules import MEMBER, Compiler

MEMBERSHIP: Table = SegmentMembership.__table__  # type: ignore[attr-defined]
UUIDS = ARRAY(PG_UUID(as_uuid=True))


def _ids(values: Sequence[uuid.UUID]) -> Any:
    return literal(list(values), UUIDS)


def _where(rule: dict[str, Any], scope: Sequence[uuid.UUID] | None) -> list[ColumnElement[bool]]:
    conditions = [Compiler(list(scope) if scope is not None else None).compile(rule)]
    if scope is not None:
        conditions.insert(0, MEMBER.c.customer_id == any_(_ids(scope)))
    return conditions


async def count_matching(session: AsyncSession, rule: dict[str, Any]) -> int:
    result = await session.execute(select(func.count()).select_from(MEMBER).where(*_where(rule, None)))
    return int(result.scalar_one())


async def sample_matching(session: AsyncSession, rule: dict[str, Any], limit: int) -> list[Any]:
    result = await session.execute(
        select(MEMBER.c.customer_id, MEMBER.c.display_name, MEMBER.c.lifecycle_stage, MEMBER.c.value_tier)
        .where(*_where(rule, None))
        .order_by(MEMBER.c.customer_id)
        .limit(limit)
    )
    return list(result)


async def matching(
    session: AsyncSession, rule: dict[str, Any], customer_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    if not customer_ids:
        return set()
    result = await session.execute(select(MEMBER.c.customer_id).where(*_where(rule, customer_ids)))
    return set(result.scalars())


async def add_entries(
    session: AsyncSession, segment_id: uuid.UUID, rule: dict[str, Any], scope: Sequence[uuid.UUID] | None
) -> list[tuple[uuid.UUID, datetime]]:
    """Insert the members the rule now holds for and who are not in yet; (customer id, entered at)."""
    chosen = select(literal(segment_id, PG_UUID(as_uuid=True)), MEMBER.c.customer_id).where(
        *_where(rule, scope)
    )
    statement = (
        pg_insert(MEMBERSHIP)
        .from_select(["segment_id", "customer_id"], chosen)
        .on_conflict_do_nothing()
        .returning(MEMBERSHIP.c.customer_id, MEMBERSHIP.c.entered_at)
    )
    return [(row.customer_id, row.entered_at) for row in await session.execute(statement)]


async def remove_exits(
    session: AsyncSession, segment_id: uuid.UUID, rule: dict[str, Any], scope: Sequence[uuid.UUID] | None
) -> list[uuid.UUID]:
    """Delete the members the rule no longer holds for (or who left the read model)."""
    still_in = exists(
        select(literal(1))
        .select_from(MEMBER)
        .where(MEMBER.c.customer_id == MEMBERSHIP.c.customer_id, *_where(rule, scope))
    )
    conditions = [MEMBERSHIP.c.segment_id == segment_id, ~still_in]
    if scope is not None:
        conditions.append(MEMBERSHIP.c.customer_id == any_(_ids(scope)))
    result = await session.execute(delete(MEMBERSHIP).where(*conditions).returning(MEMBERSHIP.c.customer_id))
    return list(result.scalars())


async def remove_members(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID]
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    result = await session.execute(
        delete(MEMBERSHIP)
        .where(MEMBERSHIP.c.customer_id == any_(_ids(customer_ids)))
        .returning(MEMBERSHIP.c.segment_id, MEMBERSHIP.c.customer_id)
    )
    return [(row.segment_id, row.customer_id) for row in result]


async def adjust_count(session: AsyncSession, segment_id: uuid.UUID, delta: int, *, refreshed: bool) -> None:
    values: dict[str, Any] = {"member_count": col(Segment.member_count) + delta}
    if refreshed:
        values["refreshed_at"] = func.now()
    if delta or refreshed:
        await session.execute(update(Segment).where(col(Segment.id) == segment_id).values(**values))


async def recount(session: AsyncSession, segment_id: uuid.UUID) -> int:
    count = (
        select(func.count())
        .select_from(MEMBERSHIP)
        .where(MEMBERSHIP.c.segment_id == segment_id)
        .scalar_subquery()
    )
    result = await session.execute(
        update(Segment)
        .where(col(Segment.id) == segment_id)
        .values(member_count=count, refreshed_at=func.now())
        .returning(col(Segment.member_count))
    )
    return int(result.scalar_one())


# --- segment rows ------------------------------------------------------------------------------------


async def add(session: AsyncSession, segment: Segment) -> None:
    session.add(segment)
    await session.flush()


async def get(session: AsyncSession, segment_id: uuid.UUID, *, for_update: bool = False) -> Segment | None:
    statement = select(Segment).where(col(Segment.id) == segment_id)
    if for_update:
        statement = statement.with_for_update()
    return (await session.execute(statement)).scalar_one_or_none()


async def name_taken(session: AsyncSession, name: str, *, other_than: uuid.UUID | None = None) -> bool:
    statement = select(col(Segment.id)).where(func.lower(col(Segment.name)) == name.lower())
    if other_than is not None:
        statement = statement.where(col(Segment.id) != other_than)
    return (await session.execute(statement)).first() is not None


async def existing_ids(session: AsyncSession, segment_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    if not segment_ids:
        return set()
    result = await session.execute(select(col(Segment.id)).where(col(Segment.id) == any_(_ids(segment_ids))))
    return set(result.scalars())


async def reaches(session: AsyncSession, start_ids: Sequence[uuid.UUID], target: uuid.UUID) -> bool:
    """Whether ``target`` is reachable from any of ``start_ids`` over stored references (a cycle)."""
    result = await session.execute(
        text(
            """
WITH RECURSIVE reachable(id) AS (
    SELECT unnest(CAST(:start AS uuid[]))
    UNION
    SELECT unnest(s.referenced_segment_ids) FROM segment AS s JOIN reachable ON s.id = reachable.id
)
SELECT EXISTS (SELECT 1 FROM reachable WHERE id = :target)
"""
        ),
        {"start": list(start_ids), "target": target},
    )
    return bool(result.scalar_one())


async def referenced_by(session: AsyncSession, segment_id: uuid.UUID) -> list[uuid.UUID]:
    result = await session.execute(
        select(col(Segment.id)).where(
            literal(segment_id, PG_UUID(as_uuid=True)) == any_(col(Segment.referenced_segment_ids))
        )
    )
    return list(result.scalars())


async def get_many(session: AsyncSession, segment_ids: Sequence[uuid.UUID]) -> list[Segment]:
    if not segment_ids:
        return []
    result = await session.execute(select(Segment).where(col(Segment.id) == any_(_ids(segment_ids))))
    return list(result.scalars())


async def all_segments(session: AsyncSession) -> list[Segment]:
    return list(
        (await session.execute(select(Segment).order_by(col(Segment.created_at), col(Segment.id)))).scalars()
    )


async def page(
    session: AsyncSession, *, after_name: str | None, after_id: uuid.UUID | None, limit: int
) -> list[Segment]:
    statement = select(Segment).order_by(col(Segment.name), col(Segment.id)).limit(limit)
    if after_name is not None and after_id is not None:
        statement = statement.where(
            (col(Segment.name) > after_name)
            | ((col(Segment.name) == after_name) & (col(Segment.id) > after_id))
        )
    return list((await session.execute(statement)).scalars())


async def delete_segment(session: AsyncSession, segment: Segment) -> None:
    await session.delete(segment)
    await session.flush()


# --- stored membership ---------------------------------------------------------------------------------


async def member_ids(
    session: AsyncSession, segment_id: uuid.UUID, *, after: uuid.UUID | None, limit: int
) -> list[tuple[uuid.UUID, datetime]]:
    statement = (
        select(MEMBERSHIP.c.customer_id, MEMBERSHIP.c.entered_at)
        .where(MEMBERSHIP.c.segment_id == segment_id)
        .order_by(MEMBERSHIP.c.customer_id)
        .limit(limit)
    )
    if after is not None:
        statement = statement.where(MEMBERSHIP.c.customer_id > after)
    return [(row.customer_id, row.entered_at) for row in await session.execute(statement)]


async def members_among(
    session: AsyncSession, segment_id: uuid.UUID, customer_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    if not customer_ids:
        return set()
    result = await session.execute(
        select(MEMBERSHIP.c.customer_id).where(
            MEMBERSHIP.c.segment_id == segment_id, MEMBERSHIP.c.customer_id == any_(_ids(customer_ids))
        )
    )
    return set(result.scalars())


async def segments_of(session: AsyncSession, customer_id: uuid.UUID) -> list[Any]:
    result = await session.execute(
        select(col(Segment.id), col(Segment.name), MEMBERSHIP.c.entered_at)
        .join(MEMBERSHIP, MEMBERSHIP.c.segment_id == col(Segment.id))
        .where(MEMBERSHIP.c.customer_id == customer_id)
        .order_by(col(Segment.name))
    )
    return list(result)


async def segments_of_many(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> list[Any]:
    """(customer_id, id, name, entered_at) for every segment each customer is in, one query, by
    customer then segment name (the order ``segments_of`` gives one customer)."""
    if not customer_ids:
        return []
    result = await session.execute(
        select(MEMBERSHIP.c.customer_id, col(Segment.id), col(Segment.name), MEMBERSHIP.c.entered_at)
        .join(MEMBERSHIP, MEMBERSHIP.c.segment_id == col(Segment.id))
        .where(MEMBERSHIP.c.customer_id == any_(_ids(customer_ids)))
        .order_by(MEMBERSHIP.c.customer_id, col(Segment.name))
    )
    return list(result)
