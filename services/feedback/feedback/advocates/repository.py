"""All SQL of the advocates domain: the scores and what customer merges dropped of them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Uuid, delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.db import any_of, table_of
from feedback.advocates.models import AdvocateScore
from feedback.customers.models import CustomerMergeMove

MOVE_KIND = "advocate_score"

_score = table_of(AdvocateScore)
_merge_move = table_of(CustomerMergeMove)


async def lock_scores(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, AdvocateScore]:
    """The customers' scores, locked in id order (two refreshes of overlapping customers cannot deadlock)."""
    if not customer_ids:
        return {}
    statement = (
        select(AdvocateScore)
        .where(any_of(_score.c.customer_id, sorted(set(customer_ids)), Uuid()))
        .order_by(_score.c.customer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {row.customer_id: row for row in (await session.execute(statement)).scalars()}


async def upsert(session: AsyncSession, values: dict[str, Any]) -> None:
    statement = pg_insert(_score).values(**values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[_score.c.customer_id],
            set_={key: statement.excluded[key] for key in values if key != "customer_id"},
        )
    )


async def get(session: AsyncSession, customer_id: uuid.UUID) -> AdvocateScore | None:
    return await session.get(AdvocateScore, customer_id, populate_existing=True)


async def get_many(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, AdvocateScore]:
    """The scores of those of the customers who have one, in one query."""
    if not customer_ids:
        return {}
    statement = select(AdvocateScore).where(any_of(_score.c.customer_id, customer_ids, Uuid()))
    return {row.customer_id: row for row in (await session.execute(statement)).scalars()}


async def ranking(
    session: AsyncSession,
    *,
    min_score: float | None,
    tier: str | None,
    after: tuple[float, uuid.UUID] | None,
    limit: int,
) -> list[AdvocateScore]:
    """Highest score first (ties by customer id), keyset-paginated after ``after``."""
    statement = select(AdvocateScore)
    if min_score is not None:
        statement = statement.where(_score.c.score >= min_score)
    if tier is not None:
        statement = statement.where(_score.c.tier == tier)
    if after is not None:
        statement = statement.where(
            func.row(_score.c.score, _score.c.customer_id) < func.row(after[0], after[1])
        )
    statement = statement.order_by(_score.c.score.desc(), _score.c.customer_id.desc()).limit(limit)
    return list((await session.execute(statement)).scalars())


def _row_of(score: AdvocateScore) -> dict[str, Any]:
    """A score as JSON, to put back as it was."""
    return {
        "score": score.score,
        "tier": score.tier,
        "latest_nps": score.latest_nps,
        "upvotes_received": score.upvotes_received,
        "positive_feedback": score.positive_feedback,
        "computed_at": score.computed_at.isoformat(),
        "announced_score": score.announced_score,
        "announced_tier": score.announced_tier,
    }


async def merge_recorded(session: AsyncSession, merge_id: uuid.UUID) -> bool:
    found = await session.execute(
        select(_merge_move.c.id)
        .where(_merge_move.c.merge_id == merge_id, _merge_move.c.kind == MOVE_KIND)
        .limit(1)
    )
    return found.first() is not None


async def drop_for_merge(
    session: AsyncSession, *, merge_id: uuid.UUID, from_id: uuid.UUID, to_id: uuid.UUID
) -> None:
    """Delete the merged customer's score, recording it (or its absence) and the survivor under the merge."""
    dropped = (await lock_scores(session, [from_id])).get(from_id)
    if dropped is not None:
        await session.execute(delete(_score).where(_score.c.customer_id == from_id))
    await session.execute(
        pg_insert(_merge_move).values(
            id=uuid.uuid4(),
            merge_id=merge_id,
            kind=MOVE_KIND,
            action="dropped",
            row_key={"customer_id": str(from_id), "survivor_id": str(to_id)},
            restore=_row_of(dropped) if dropped is not None else None,
        )
    )


async def dropped_by_merge(
    session: AsyncSession, merge_id: uuid.UUID
) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    rows = await session.execute(
        select(_merge_move.c.row_key, _merge_move.c.restore).where(
            _merge_move.c.merge_id == merge_id, _merge_move.c.kind == MOVE_KIND
        )
    )
    return [(row.row_key, row.restore) for row in rows]


async def put_back(session: AsyncSession, customer_id: uuid.UUID, row: dict[str, Any]) -> None:
    """Recreate a dropped score unless the customer has one again."""
    await session.execute(
        pg_insert(_score)
        .values(customer_id=customer_id, **{**row, "computed_at": datetime.fromisoformat(row["computed_at"])})
        .on_conflict_do_nothing(index_elements=[_score.c.customer_id])
    )


async def erase(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> None:
    """Delete the customers' scores, and the copies of scores that merges kept to restore."""
    if not customer_ids:
        return
    await session.execute(delete(_score).where(any_of(_score.c.customer_id, customer_ids, Uuid())))
    ids = [str(customer_id) for customer_id in customer_ids]
    await session.execute(
        delete(_merge_move).where(
            _merge_move.c.kind == MOVE_KIND,
            or_(
                _merge_move.c.row_key["customer_id"].astext.in_(ids),
                _merge_move.c.row_key["survivor_id"].astext.in_(ids),
            ),
        )
    )
