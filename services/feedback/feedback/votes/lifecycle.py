"""Votes through identity's customer lifecycle: re-keyed by a customer merge (one vote per customer
and idea), put back by its undo, deleted by an erasure.

Driven by identity's events (see feedback.customers.service), not by requests, so the rules and their
SQL sit together here. Every function runs with the ideas whose votes it changes already locked
(feedback.ideas.lifecycle.lock_ideas, in id order) — the lock every vote write takes first — so the
caller's recount afterwards leaves the tallies exact.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from sqlalchemy import Uuid, delete, exists, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.db import any_of, table_of
from feedback.ideas.lifecycle import RowMove, timestamp_key
from feedback.votes.models import Vote

VOTE_KIND = "idea_vote"

_vote = table_of(Vote)


async def ideas_voted_by(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """The ideas the customers voted on."""
    if not customer_ids:
        return set()
    rows = await session.execute(
        select(_vote.c.idea_id).where(any_of(_vote.c.customer_id, customer_ids, Uuid())).distinct()
    )
    return {row[0] for row in rows}


async def move_customer(
    session: AsyncSession, *, from_id: uuid.UUID, to_id: uuid.UUID, idea_ids: Collection[uuid.UUID]
) -> tuple[list[RowMove], set[uuid.UUID]]:
    """Give ``from_id``'s votes on the (locked) ``idea_ids`` to ``to_id``, keeping one vote per idea:
    where both voted, the survivor's vote stands and ``from_id``'s is dropped (recorded to restore).

    Returns the moves and the ideas that lost a vote (their tallies need a recount; a moved vote keeps
    its direction and time, so it changes no tally).
    """
    if not idea_ids:
        return [], set()
    ideas = sorted(idea_ids)
    survivor = _vote.alias("survivor")
    votes = (
        await session.execute(
            select(
                _vote.c.idea_id,
                _vote.c.direction,
                _vote.c.cast_at,
                exists()
                .where(survivor.c.idea_id == _vote.c.idea_id, survivor.c.customer_id == to_id)
                .label("survivor_voted"),
            ).where(_vote.c.customer_id == from_id, any_of(_vote.c.idea_id, ideas, Uuid()))
        )
    ).all()
    dropped = [row.idea_id for row in votes if row.survivor_voted]
    moved = [row.idea_id for row in votes if not row.survivor_voted]
    if dropped:
        await session.execute(
            delete(_vote).where(_vote.c.customer_id == from_id, any_of(_vote.c.idea_id, dropped, Uuid()))
        )
    if moved:
        await session.execute(
            update(_vote)
            .where(_vote.c.customer_id == from_id, any_of(_vote.c.idea_id, moved, Uuid()))
            .values(customer_id=to_id)
        )
    moves = [
        RowMove(
            VOTE_KIND,
            "dropped" if row.survivor_voted else "moved",
            {"idea_id": str(row.idea_id), "customer_id": str(from_id)},
            {"direction": int(row.direction), "cast_at": timestamp_key(row.cast_at)},
        )
        for row in votes
    ]
    return moves, set(dropped)


# Puts a customer's recorded votes back, wherever they are now. ``holders`` are the survivor and
# whoever the survivor was merged into since; a moved vote still as the merge moved it (same direction
# and cast_at) is taken back from them. A vote the survivor changed since is the survivor's own act and
# stays with them. If the restored customer has voted on the idea meanwhile, that vote stands (and the
# copy leaves the holder); a vote that is nowhere (dropped as a double, or changed or cleared by the
# survivor) is recreated exactly as it was. A dropped vote is never looked for: the survivor's own vote
# on the idea is not the restored customer's.
_RESTORE_VOTES = text(
    """
    WITH recorded AS (
      SELECT DISTINCT ON (r.idea_id) r.idea_id, r.direction, r.cast_at, r.moved
      FROM unnest(CAST(:ideas AS uuid[]), CAST(:directions AS smallint[]), CAST(:cast_ats AS timestamptz[]),
                  CAST(:moved AS boolean[])) AS r(idea_id, direction, cast_at, moved)
      ORDER BY r.idea_id, r.moved DESC, r.cast_at
    ), copies AS (
      SELECT DISTINCT ON (v.idea_id) v.idea_id, v.customer_id,
             EXISTS (SELECT 1 FROM vote o
                     WHERE o.idea_id = v.idea_id AND o.customer_id = CAST(:restored AS uuid))
               AS restored_voted
      FROM vote v
      JOIN recorded r
        ON r.moved AND r.idea_id = v.idea_id AND r.direction = v.direction AND r.cast_at = v.cast_at
      WHERE v.customer_id = ANY(CAST(:holders AS uuid[]))
      ORDER BY v.idea_id, array_position(CAST(:holders AS uuid[]), v.customer_id)
    ), dropped_copies AS (
      DELETE FROM vote v USING copies c
      WHERE c.restored_voted AND v.idea_id = c.idea_id AND v.customer_id = c.customer_id
      RETURNING v.idea_id
    ), taken_back AS (
      UPDATE vote v SET customer_id = CAST(:restored AS uuid) FROM copies c
      WHERE NOT c.restored_voted AND v.idea_id = c.idea_id AND v.customer_id = c.customer_id
      RETURNING v.idea_id
    )
    INSERT INTO vote (idea_id, customer_id, direction, cast_at)
    SELECT r.idea_id, CAST(:restored AS uuid), r.direction, r.cast_at FROM recorded r
    WHERE NOT EXISTS (SELECT 1 FROM copies c WHERE c.idea_id = r.idea_id)
    ON CONFLICT (idea_id, customer_id) DO NOTHING
    """
)


async def restore_customer(
    session: AsyncSession,
    *,
    restored_id: uuid.UUID,
    holders: Sequence[uuid.UUID],
    moves: Sequence[RowMove],
    live: Mapping[uuid.UUID, uuid.UUID],
) -> set[uuid.UUID]:
    """Undo :func:`move_customer` for ``restored_id`` (rules above the statement).

    A vote returns to its ``live`` idea: the idea itself, or the one it was merged into since. Run with
    those ideas locked; returns them (their tallies need a recount).
    """
    votes = [
        (
            live[uuid.UUID(m.row_key["idea_id"])],
            int(m.restore["direction"]),
            datetime.fromisoformat(m.restore["cast_at"]),
            m.action == "moved",
        )
        for m in moves
        if m.kind == VOTE_KIND and m.restore is not None
    ]
    if not votes:
        return set()
    await session.execute(
        _RESTORE_VOTES,
        {
            "ideas": [idea_id for idea_id, _, _, _ in votes],
            "directions": [direction for _, direction, _, _ in votes],
            "cast_ats": [cast_at for _, _, cast_at, _ in votes],
            "moved": [moved for _, _, _, moved in votes],
            "holders": list(holders),
            "restored": restored_id,
        },
    )
    return {idea_id for idea_id, _, _, _ in votes}


async def erase_customer(session: AsyncSession, *, customer_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Delete the customers' votes; returns the ideas that lost votes (to recount, locked already)."""
    if not customer_ids:
        return set()
    rows = await session.execute(
        delete(_vote).where(any_of(_vote.c.customer_id, customer_ids, Uuid())).returning(_vote.c.idea_id)
    )
    return {row[0] for row in rows}
