"""All SQL of the votes domain. Every write runs with the idea row locked first (see service)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, Row, Uuid, func, literal, select, text, true, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from crm_common.db import any_of
from feedback.ideas.ranking import TRENDING_EPOCH
from feedback.votes.models import Vote

_LOCK_IDEA = text(
    """
    SELECT i.status, i.moderation_state, i.author_id, i.board_id, i.up_count, i.down_count, i.top_score,
           b.vote_budget
    FROM idea i JOIN board b ON b.id = i.board_id
    WHERE i.id = :idea FOR UPDATE OF i
    """
)

# Reads the old vote, writes the new one and moves the tallies and ranking keys, in one round trip.
# Exact because every vote write on an idea holds that idea's row lock (taken by _LOCK_IDEA), so
# nothing else changes this idea's votes between the read and the writes of this statement.
_SET_VOTE = text(
    """
    WITH p AS (
      SELECT CAST(:idea AS uuid) AS idea, CAST(:customer AS uuid) AS customer,
             CAST(:direction AS int) AS dir, CAST(:lam AS float8) / 3600 AS lam_s
    ), old AS (
      SELECT v.direction, v.cast_at FROM vote v, p WHERE v.idea_id = p.idea AND v.customer_id = p.customer
    ), changed AS (
      SELECT p.* FROM p WHERE NOT EXISTS (SELECT 1 FROM old WHERE old.direction = p.dir)
    ), delta AS (
      SELECT (c.dir = 1)::int - coalesce((SELECT (direction = 1)::int FROM old), 0) AS up,
             (c.dir = -1)::int - coalesce((SELECT (direction = -1)::int FROM old), 0) AS down,
             c.dir, c.lam_s, (SELECT direction FROM old) AS old_dir, (SELECT cast_at FROM old) AS old_at
      FROM changed c
    ), written AS (
      INSERT INTO vote (idea_id, customer_id, direction, cast_at)
      SELECT idea, customer, dir, now() FROM changed
      ON CONFLICT (idea_id, customer_id)
      DO UPDATE SET direction = EXCLUDED.direction, cast_at = EXCLUDED.cast_at
      RETURNING cast_at
    ), tally AS (
      UPDATE idea SET
        up_count = up_count + d.up,
        down_count = down_count + d.down,
        top_score = wilson_lower_bound(up_count + d.up, down_count + d.down),
        trending_score = CASE
          WHEN d.dir = 1
            THEN log_add_exp(trending_score, d.lam_s * extract(epoch FROM now() - :epoch)::float8)
          WHEN d.old_dir = 1 THEN log_sub_exp(
            trending_score, d.lam_s * extract(epoch FROM d.old_at - :epoch)::float8)
          ELSE trending_score END
      FROM delta d WHERE idea.id = CAST(:idea AS uuid)
      RETURNING up_count, down_count, top_score
    )
    SELECT (SELECT direction FROM old) AS previous, tally.up_count, tally.down_count, tally.top_score
    FROM (SELECT 1) AS one LEFT JOIN tally ON true
    """
)

_CLEAR_VOTE = text(
    """
    WITH old AS (
      DELETE FROM vote WHERE idea_id = :idea AND customer_id = :customer RETURNING direction, cast_at
    ), delta AS (
      SELECT (direction = 1)::int AS up, (direction = -1)::int AS down, direction, cast_at FROM old
    ), tally AS (
      UPDATE idea SET
        up_count = up_count - d.up,
        down_count = down_count - d.down,
        top_score = wilson_lower_bound(up_count - d.up, down_count - d.down),
        trending_score = CASE WHEN d.direction = 1
          THEN log_sub_exp(
            trending_score, CAST(:lam AS float8) / 3600 * extract(epoch FROM d.cast_at - :epoch)::float8)
          ELSE trending_score END
      FROM delta d WHERE idea.id = :idea
      RETURNING up_count, down_count, top_score
    )
    SELECT (SELECT direction FROM old) AS previous, tally.up_count, tally.down_count, tally.top_score
    FROM (SELECT 1) AS one LEFT JOIN tally ON true
    """
)


async def lock_idea(session: AsyncSession, idea_id: uuid.UUID) -> Row[Any] | None:
    """Lock the idea row for this transaction and read what the vote rules need."""
    return (await session.execute(_LOCK_IDEA, {"idea": idea_id})).one_or_none()


async def set_vote(
    session: AsyncSession, idea_id: uuid.UUID, customer_id: uuid.UUID, direction: int, lam: float
) -> Row[Any]:
    params = {
        "idea": idea_id,
        "customer": customer_id,
        "direction": direction,
        "lam": lam,
        "epoch": TRENDING_EPOCH,
    }
    return (await session.execute(_SET_VOTE, params)).one()


async def clear_vote(
    session: AsyncSession, idea_id: uuid.UUID, customer_id: uuid.UUID, lam: float
) -> Row[Any]:
    params = {"idea": idea_id, "customer": customer_id, "lam": lam, "epoch": TRENDING_EPOCH}
    return (await session.execute(_CLEAR_VOTE, params)).one()


async def lock_budget(session: AsyncSession, board_id: uuid.UUID, customer_id: uuid.UUID) -> None:
    """Serialize one customer's budget-consuming votes on one board (a transaction-scoped advisory lock)."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"vote-budget:{board_id}:{customer_id}"},
    )


async def open_votes_on_board(
    session: AsyncSession, board_id: uuid.UUID, customer_id: uuid.UUID, closed_statuses: Sequence[str]
) -> int:
    """The customer's votes on this board's ideas that are still open: what the budget counts."""
    row = await session.execute(
        text(
            """
            SELECT count(*) FROM vote v JOIN idea i ON i.id = v.idea_id
            WHERE v.customer_id = :customer AND i.board_id = :board AND i.status <> ALL(:closed)
            """
        ),
        {"customer": customer_id, "board": board_id, "closed": list(closed_statuses)},
    )
    return int(row.scalar_one())


async def directions(
    session: AsyncSession, customer_id: uuid.UUID, idea_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    statement = select(col(Vote.idea_id), col(Vote.direction)).where(
        col(Vote.customer_id) == customer_id, any_of(col(Vote.idea_id), idea_ids, Uuid())
    )
    return {row[0]: int(row[1]) for row in (await session.execute(statement)).all()}


async def votes_of_customer(
    session: AsyncSession, customer_id: uuid.UUID, *, limit: int, after: tuple[datetime, uuid.UUID] | None
) -> list[Vote]:
    statement = select(Vote).where(col(Vote.customer_id) == customer_id)
    if after is not None:
        statement = statement.where(tuple_(col(Vote.cast_at), col(Vote.idea_id)) < tuple_(*after))
    statement = statement.order_by(col(Vote.cast_at).desc(), col(Vote.idea_id).desc()).limit(limit)
    return list((await session.execute(statement)).scalars())


async def first_votes_of_customers(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID], *, per_customer: int
) -> dict[uuid.UUID, list[Vote]]:
    """The first ``per_customer`` votes of each customer in :func:`votes_of_customer` order (newest
    first, by (cast_at, idea_id)), for a whole batch in one statement (a LATERAL page per customer)."""
    pages: dict[uuid.UUID, list[Vote]] = {customer_id: [] for customer_id in customer_ids}
    if not pages:
        return pages
    requested = select(func.unnest(literal(list(pages), ARRAY(Uuid()))).label("customer_id")).subquery(
        "requested"
    )
    page = (
        select(Vote)
        .where(col(Vote.customer_id) == requested.c.customer_id)
        .order_by(col(Vote.cast_at).desc(), col(Vote.idea_id).desc())
        .limit(per_customer)
        .lateral("page")
    )
    statement = (
        select(aliased(Vote, page))
        .select_from(requested.join(page, true()))
        .order_by(page.c.customer_id, page.c.cast_at.desc(), page.c.idea_id.desc())
    )
    for vote in (await session.execute(statement)).scalars():
        pages[vote.customer_id].append(vote)
    return pages
