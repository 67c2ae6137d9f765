"""All SQL of idea merges.

A merge is a cross-aggregate operation: it moves rows of the ``vote`` and ``idea_follower`` tables
(the votes and ideas domains) from one idea to another and records each one. That is done here, in a
few set-based statements that read, record and move the rows together, rather than through the other
domains' per-customer services: a merge of an idea with 100,000 voters must stay a handful of
statements, and exactness needs the read and the move in one snapshot. The service locks both idea
rows first — the lock every vote write takes — so no vote on either idea changes meanwhile.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Uuid, delete, func, literal, or_, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from crm_common.db import any_of, table_of
from feedback.idea_merges.models import IdeaMerge, IdeaMergeFollower, IdeaMergeVote

_merge_vote = table_of(IdeaMergeVote)
_merge_follower = table_of(IdeaMergeFollower)


async def add(session: AsyncSession, merge: IdeaMerge) -> IdeaMerge:
    session.add(merge)
    await session.flush()
    await session.refresh(merge)
    return merge


async def get(session: AsyncSession, merge_id: uuid.UUID, *, for_update: bool = False) -> IdeaMerge | None:
    statement = select(IdeaMerge).where(col(IdeaMerge.id) == merge_id)
    if for_update:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(statement)).scalar_one_or_none()


async def active_merge_of(session: AsyncSession, source_idea_id: uuid.UUID) -> IdeaMerge | None:
    """The merge (not undone) that folded this idea into another, if there is one."""
    statement = select(IdeaMerge).where(
        col(IdeaMerge.source_idea_id) == source_idea_id, col(IdeaMerge.undone_at).is_(None)
    )
    return (await session.execute(statement.limit(1))).scalar_one_or_none()


async def merges_of_idea(
    session: AsyncSession, idea_id: uuid.UUID, *, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[IdeaMerge]:
    """Merges the idea took part in (as duplicate or as survivor), newest first, keyset-paginated."""
    statement = select(IdeaMerge).where(
        or_(col(IdeaMerge.source_idea_id) == idea_id, col(IdeaMerge.target_idea_id) == idea_id)
    )
    if after is not None:
        statement = statement.where(
            tuple_(col(IdeaMerge.merged_at), col(IdeaMerge.id)) < tuple_(literal(after[0]), literal(after[1]))
        )
    statement = statement.order_by(col(IdeaMerge.merged_at).desc(), col(IdeaMerge.id).desc()).limit(limit)
    return list((await session.execute(statement)).scalars())


async def outcome_counts(
    session: AsyncSession, merge_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, int]]:
    """Per merge: how many of the duplicate's votes moved/dropped and followers moved/already."""
    counts: dict[uuid.UUID, dict[str, int]] = {
        merge_id: {"vote:moved": 0, "vote:dropped": 0, "follower:moved": 0, "follower:already": 0}
        for merge_id in merge_ids
    }
    if not merge_ids:
        return counts
    for kind, table in (("vote", _merge_vote), ("follower", _merge_follower)):
        rows = await session.execute(
            select(table.c.merge_id, table.c.outcome, func.count())
            .where(any_of(table.c.merge_id, merge_ids, Uuid()))
            .group_by(table.c.merge_id, table.c.outcome)
        )
        for merge_id, outcome, count in rows:
            counts[merge_id][f"{kind}:{outcome}"] = int(count)
    return counts


# Records every vote of the duplicate, moves to the target those of customers with no vote there, and
# empties the duplicate — one statement, one snapshot. A customer who voted on both keeps the target
# vote; the duplicate's is recorded as dropped.
_MOVE_VOTES = text(
    """
    WITH recorded AS (
      INSERT INTO idea_merge_vote (merge_id, customer_id, direction, cast_at, outcome)
      SELECT CAST(:merge_id AS uuid), s.customer_id, s.direction, s.cast_at,
             CASE WHEN t.customer_id IS NULL THEN 'moved' ELSE 'dropped' END
      FROM vote s
      LEFT JOIN vote t ON t.idea_id = CAST(:target AS uuid) AND t.customer_id = s.customer_id
      WHERE s.idea_id = CAST(:source AS uuid)
      RETURNING customer_id, direction, cast_at, outcome
    ), moved AS (
      INSERT INTO vote (idea_id, customer_id, direction, cast_at)
      SELECT CAST(:target AS uuid), customer_id, direction, cast_at FROM recorded WHERE outcome = 'moved'
      RETURNING customer_id
    ), emptied AS (
      DELETE FROM vote WHERE idea_id = CAST(:source AS uuid)
    )
    SELECT (SELECT count(*) FROM moved) AS moved,
           (SELECT count(*) FROM recorded WHERE outcome = 'dropped') AS dropped
    """
)

# The same for followers: ``already`` when the customer followed the target too. ON CONFLICT: a
# follow of the target may land between the read and the insert (following takes no idea lock).
_MOVE_FOLLOWERS = text(
    """
    WITH recorded AS (
      INSERT INTO idea_merge_follower (merge_id, customer_id, followed_at, outcome)
      SELECT CAST(:merge_id AS uuid), s.customer_id, s.followed_at,
             CASE WHEN t.customer_id IS NULL THEN 'moved' ELSE 'already' END
      FROM idea_follower s
      LEFT JOIN idea_follower t ON t.idea_id = CAST(:target AS uuid) AND t.customer_id = s.customer_id
      WHERE s.idea_id = CAST(:source AS uuid)
      RETURNING customer_id, followed_at, outcome
    ), moved AS (
      INSERT INTO idea_follower (idea_id, customer_id, followed_at)
      SELECT CAST(:target AS uuid), customer_id, followed_at FROM recorded WHERE outcome = 'moved'
      ON CONFLICT (idea_id, customer_id) DO NOTHING
      RETURNING customer_id
    ), emptied AS (
      DELETE FROM idea_follower WHERE idea_id = CAST(:source AS uuid)
    )
    SELECT (SELECT count(*) FROM recorded WHERE outcome = 'moved') AS moved,
           (SELECT count(*) FROM recorded WHERE outcome = 'already') AS already
    """
)


async def move_votes(
    session: AsyncSession, merge_id: uuid.UUID, *, source_id: uuid.UUID, target_id: uuid.UUID
) -> tuple[int, int]:
    """Move the duplicate's votes to the target, recorded; returns (moved, dropped)."""
    row = (
        await session.execute(_MOVE_VOTES, {"merge_id": merge_id, "source": source_id, "target": target_id})
    ).one()
    return int(row.moved), int(row.dropped)


async def move_followers(
    session: AsyncSession, merge_id: uuid.UUID, *, source_id: uuid.UUID, target_id: uuid.UUID
) -> tuple[int, int]:
    """Move the duplicate's followers to the target, recorded; returns (moved, already)."""
    row = (
        await session.execute(
            _MOVE_FOLLOWERS, {"merge_id": merge_id, "source": source_id, "target": target_id}
        )
    ).one()
    return int(row.moved), int(row.already)


async def recorded_votes(session: AsyncSession, merge_id: uuid.UUID) -> list[Row[Any, Any, Any, Any]]:
    statement = select(
        _merge_vote.c.customer_id, _merge_vote.c.direction, _merge_vote.c.cast_at, _merge_vote.c.outcome
    ).where(_merge_vote.c.merge_id == merge_id)
    return list((await session.execute(statement)).all())


async def recorded_followers(session: AsyncSession, merge_id: uuid.UUID) -> list[Row[Any, Any, Any]]:
    statement = select(
        _merge_follower.c.customer_id, _merge_follower.c.followed_at, _merge_follower.c.outcome
    ).where(_merge_follower.c.merge_id == merge_id)
    return list((await session.execute(statement)).all())


_VOTES = (
    "unnest(CAST(:customers AS uuid[]), CAST(:directions AS smallint[]), CAST(:cast_ats AS timestamptz[]))"
)
_FOLLOWS = "unnest(CAST(:customers AS uuid[]), CAST(:followed_ats AS timestamptz[]))"


def _vote_params(idea_id: uuid.UUID, votes: Sequence[tuple[uuid.UUID, int, datetime]]) -> dict[str, Any]:
    return {
        "idea": idea_id,
        "customers": [customer for customer, _, _ in votes],
        "directions": [direction for _, direction, _ in votes],
        "cast_ats": [cast_at for _, _, cast_at in votes],
    }


def _follow_params(idea_id: uuid.UUID, follows: Sequence[tuple[uuid.UUID, datetime]]) -> dict[str, Any]:
    return {
        "idea": idea_id,
        "customers": [customer for customer, _ in follows],
        "followed_ats": [followed_at for _, followed_at in follows],
    }


async def put_votes(
    session: AsyncSession, idea_id: uuid.UUID, votes: Sequence[tuple[uuid.UUID, int, datetime]]
) -> int:
    """Set these votes (customer, direction, cast_at; one per customer) on the idea, exactly."""
    if not votes:
        return 0
    rows = await session.execute(
        text(
            f"""
            INSERT INTO vote (idea_id, customer_id, direction, cast_at)
            SELECT CAST(:idea AS uuid), r.customer_id, r.direction, r.cast_at
            FROM {_VOTES} AS r(customer_id, direction, cast_at)
            ON CONFLICT (idea_id, customer_id)
            DO UPDATE SET direction = EXCLUDED.direction, cast_at = EXCLUDED.cast_at
            RETURNING customer_id
            """  # noqa: S608  # the interpolated fragment is a constant, every value is bound
        ),
        _vote_params(idea_id, votes),
    )
    return len(rows.all())


async def remove_unchanged_votes(
    session: AsyncSession, idea_id: uuid.UUID, votes: Sequence[tuple[uuid.UUID, int, datetime]]
) -> set[uuid.UUID]:
    """Delete the idea's votes that are still exactly these (same direction and cast_at); returns
    whose were deleted. A vote cast again or changed since has another cast_at and stays."""
    if not votes:
        return set()
    rows = await session.execute(
        text(
            f"""
            DELETE FROM vote v USING {_VOTES} AS r(customer_id, direction, cast_at)
            WHERE v.idea_id = CAST(:idea AS uuid) AND v.customer_id = r.customer_id
              AND v.direction = r.direction AND v.cast_at = r.cast_at
            RETURNING v.customer_id
            """  # noqa: S608  # the interpolated fragment is a constant, every value is bound
        ),
        _vote_params(idea_id, votes),
    )
    return {row[0] for row in rows}


async def voters_among(
    session: AsyncSession, idea_id: uuid.UUID, customer_ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    if not customer_ids:
        return set()
    rows = await session.execute(
        text("SELECT customer_id FROM vote WHERE idea_id = :idea AND customer_id = ANY(:customers)"),
        {"idea": idea_id, "customers": list(customer_ids)},
    )
    return {row[0] for row in rows}


async def put_follows(
    session: AsyncSession, idea_id: uuid.UUID, follows: Sequence[tuple[uuid.UUID, datetime]]
) -> int:
    """Add these followers (customer, followed_at) to the idea; one already following keeps theirs."""
    if not follows:
        return 0
    rows = await session.execute(
        text(
            f"""
            INSERT INTO idea_follower (idea_id, customer_id, followed_at)
            SELECT CAST(:idea AS uuid), r.customer_id, r.followed_at
            FROM {_FOLLOWS} AS r(customer_id, followed_at)
            ON CONFLICT (idea_id, customer_id) DO NOTHING
            RETURNING customer_id
            """  # noqa: S608  # the interpolated fragment is a constant, every value is bound
        ),
        _follow_params(idea_id, follows),
    )
    return len(rows.all())


async def remove_unchanged_follows(
    session: AsyncSession, idea_id: uuid.UUID, follows: Sequence[tuple[uuid.UUID, datetime]]
) -> int:
    """Delete the idea's follows that are still exactly these (same followed_at)."""
    if not follows:
        return 0
    rows = await session.execute(
        text(
            f"""
            DELETE FROM idea_follower f USING {_FOLLOWS} AS r(customer_id, followed_at)
            WHERE f.idea_id = CAST(:idea AS uuid) AND f.customer_id = r.customer_id
              AND f.followed_at = r.followed_at
            RETURNING f.customer_id
            """  # noqa: S608  # the interpolated fragment is a constant, every value is bound
        ),
        _follow_params(idea_id, follows),
    )
    return len(rows.all())


async def forget_customers(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> None:
    """Delete the customers from every merge's record (an undo will not bring them back)."""
    for table in (_merge_vote, _merge_follower):
        await session.execute(delete(table).where(any_of(table.c.customer_id, customer_ids, Uuid())))
