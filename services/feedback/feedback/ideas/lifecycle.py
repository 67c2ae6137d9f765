"""Ideas through identity's customer lifecycle: authorship and followers re-keyed by a customer merge,
put back by its undo, detached by an erasure.

Driven by identity's events (see feedback.customers.service), not by requests, so the rules and their
SQL sit together here, apart from the request-facing service and repository of the domain. Every
function runs with the affected idea rows already locked (:func:`lock_ideas`, in id order).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Uuid, delete, exists, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.db import any_of, table_of
from feedback.ideas.models import Idea, IdeaFollower

AUTHOR_KIND = "idea_author"
FOLLOWER_KIND = "idea_follower"

_idea = table_of(Idea)
_follower = table_of(IdeaFollower)


@dataclass(frozen=True)
class RowMove:
    """One row a customer merge re-keyed (``moved``) or deleted as a double (``dropped``).

    ``row_key`` names the row as it was before the merge; ``restore`` holds what recreates it (and,
    for a moved row, how it was when moved, so its undo can tell whether the survivor changed it).
    Recorded by feedback.customers as a ``customer_merge_move`` row.
    """

    kind: str
    action: str
    row_key: dict[str, Any]
    restore: dict[str, Any] | None = None


def timestamp_key(at: datetime) -> str:
    """A timestamp as recorded in a move: ISO 8601 in UTC, so equal instants are equal strings."""
    return at.astimezone(UTC).isoformat()


async def ideas_touched_by(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """The ideas the customers wrote or follow."""
    if not customer_ids:
        return set()
    authored = select(_idea.c.id).where(any_of(_idea.c.author_id, customer_ids, Uuid()))
    followed = select(_follower.c.idea_id).where(any_of(_follower.c.customer_id, customer_ids, Uuid()))
    rows = await session.execute(authored.union(followed))
    return {row[0] for row in rows}


async def lock_ideas(session: AsyncSession, idea_ids: Iterable[uuid.UUID]) -> None:
    """Lock the idea rows in id order: every writer of votes and followers locks the idea first, so
    with the locks held the rows counted on those ideas cannot change, and the one order means two
    transactions locking several ideas cannot deadlock."""
    ordered = sorted(set(idea_ids))
    if not ordered:
        return
    await session.execute(
        select(_idea.c.id).where(any_of(_idea.c.id, ordered, Uuid())).order_by(_idea.c.id).with_for_update()
    )


async def live_idea_ids(session: AsyncSession, idea_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """Each idea, or the idea it was merged into (followed to the end of the chain): where its votes
    and followers live now."""
    live = {idea_id: idea_id for idea_id in idea_ids}
    pending = set(idea_ids)
    seen: set[uuid.UUID] = set()
    while pending:
        seen |= pending
        rows = await session.execute(
            select(_idea.c.id, _idea.c.merged_into_id).where(
                any_of(_idea.c.id, sorted(pending), Uuid()), _idea.c.merged_into_id.is_not(None)
            )
        )
        hops = {row.id: row.merged_into_id for row in rows if row.merged_into_id not in seen}
        for origin, current in live.items():
            if current in hops:
                live[origin] = hops[current]
        pending = set(hops.values())
    return live


async def move_customer(
    session: AsyncSession, *, from_id: uuid.UUID, to_id: uuid.UUID, idea_ids: Collection[uuid.UUID]
) -> list[RowMove]:
    """Give ``from_id``'s ideas and follows (among the locked ``idea_ids``) to ``to_id``.

    A follow of an idea ``to_id`` already follows is dropped (one follow per customer and idea).
    """
    if not idea_ids:
        return []
    ideas = sorted(idea_ids)
    moves: list[RowMove] = []
    authored = await session.execute(
        update(_idea)
        .where(_idea.c.author_id == from_id, any_of(_idea.c.id, ideas, Uuid()))
        .values(author_id=to_id)
        .returning(_idea.c.id)
    )
    moves += [
        RowMove(AUTHOR_KIND, "moved", {"idea_id": str(row.id), "customer_id": str(from_id)})
        for row in authored
    ]
    survivor = _follower.alias("survivor")
    follows = (
        await session.execute(
            select(
                _follower.c.idea_id,
                _follower.c.followed_at,
                exists()
                .where(survivor.c.idea_id == _follower.c.idea_id, survivor.c.customer_id == to_id)
                .label("survivor_follows"),
            ).where(_follower.c.customer_id == from_id, any_of(_follower.c.idea_id, ideas, Uuid()))
        )
    ).all()
    dropped = [row.idea_id for row in follows if row.survivor_follows]
    moved = [row.idea_id for row in follows if not row.survivor_follows]
    if dropped:
        await session.execute(
            delete(_follower).where(
                _follower.c.customer_id == from_id, any_of(_follower.c.idea_id, dropped, Uuid())
            )
        )
    if moved:
        await session.execute(
            update(_follower)
            .where(_follower.c.customer_id == from_id, any_of(_follower.c.idea_id, moved, Uuid()))
            .values(customer_id=to_id)
        )
    moves += [
        RowMove(
            FOLLOWER_KIND,
            "dropped" if row.survivor_follows else "moved",
            {"idea_id": str(row.idea_id), "customer_id": str(from_id)},
            {"followed_at": timestamp_key(row.followed_at)},
        )
        for row in follows
    ]
    return moves


# Puts a customer's recorded follows back, wherever they are now. ``holders`` are the survivor and
# whoever the survivor was merged into since; a moved follow still as the merge moved it (same
# followed_at) is taken back from them. If the restored customer follows the idea again meanwhile,
# that follow stands (the copy goes); one that is nowhere (dropped as a double, or unfollowed since) is
# recreated as it was. A dropped follow is never looked for: the survivor's own follow of the idea is
# not the restored customer's, even at the same instant.
_RESTORE_FOLLOWS = text(
    """
    WITH recorded AS (
      SELECT DISTINCT ON (r.idea_id) r.idea_id, r.followed_at, r.moved
      FROM unnest(CAST(:ideas AS uuid[]), CAST(:followed_ats AS timestamptz[]), CAST(:moved AS boolean[]))
           AS r(idea_id, followed_at, moved)
      ORDER BY r.idea_id, r.moved DESC, r.followed_at
    ), copies AS (
      SELECT DISTINCT ON (f.idea_id) f.idea_id, f.customer_id,
             EXISTS (SELECT 1 FROM idea_follower o
                     WHERE o.idea_id = f.idea_id AND o.customer_id = CAST(:restored AS uuid))
               AS restored_follows
      FROM idea_follower f
      JOIN recorded r ON r.moved AND r.idea_id = f.idea_id AND r.followed_at = f.followed_at
      WHERE f.customer_id = ANY(CAST(:holders AS uuid[]))
      ORDER BY f.idea_id, array_position(CAST(:holders AS uuid[]), f.customer_id)
    ), dropped_copies AS (
      DELETE FROM idea_follower f USING copies c
      WHERE c.restored_follows AND f.idea_id = c.idea_id AND f.customer_id = c.customer_id
      RETURNING f.idea_id
    ), taken_back AS (
      UPDATE idea_follower f SET customer_id = CAST(:restored AS uuid) FROM copies c
      WHERE NOT c.restored_follows AND f.idea_id = c.idea_id AND f.customer_id = c.customer_id
      RETURNING f.idea_id
    )
    INSERT INTO idea_follower (idea_id, customer_id, followed_at)
    SELECT r.idea_id, CAST(:restored AS uuid), r.followed_at FROM recorded r
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
) -> None:
    """Undo :func:`move_customer` for ``restored_id``.

    Authorship returns where the idea is still held by ``holders`` (the survivor, or whoever it was
    merged into since). Follows return to ``live`` ideas (where an idea merge took them since); see
    the statement for the rules. Run with those ideas locked.
    """
    authored = [uuid.UUID(m.row_key["idea_id"]) for m in moves if m.kind == AUTHOR_KIND]
    if authored:
        await session.execute(
            update(_idea)
            .where(any_of(_idea.c.id, authored, Uuid()), any_of(_idea.c.author_id, holders, Uuid()))
            .values(author_id=restored_id)
        )
    follows = [
        (
            live[uuid.UUID(m.row_key["idea_id"])],
            datetime.fromisoformat(m.restore["followed_at"]),
            m.action == "moved",
        )
        for m in moves
        if m.kind == FOLLOWER_KIND and m.restore is not None
    ]
    if follows:
        await session.execute(
            _RESTORE_FOLLOWS,
            {
                "ideas": [idea_id for idea_id, _, _ in follows],
                "followed_ats": [followed_at for _, followed_at, _ in follows],
                "moved": [moved for _, _, moved in follows],
                "holders": list(holders),
                "restored": restored_id,
            },
        )


async def erase_customer(session: AsyncSession, *, customer_ids: Sequence[uuid.UUID]) -> None:
    """The customers are erased: their follows go, their ideas stay without an author (anonymised)."""
    if not customer_ids:
        return
    await session.execute(delete(_follower).where(any_of(_follower.c.customer_id, customer_ids, Uuid())))
    await session.execute(
        update(_idea).where(any_of(_idea.c.author_id, customer_ids, Uuid())).values(author_id=None)
    )
