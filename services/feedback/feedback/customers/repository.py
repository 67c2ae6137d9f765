"""All SQL of the customers domain: the customers feedback knows and what identity's merges moved."""

import json
import uuid
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Row, String, Uuid, delete, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from crm_common.db import any_of, table_of
from feedback.customers.models import CustomerMergeMove, CustomerRef

# The row of customer_merge_move that stands for a merge itself (``row_key`` {from_id, to_id}). Its
# action says where the merge stands here: ``moved`` (applied), ``restored`` (undone, or its undo
# came first) or ``erased`` (a customer in it was erased since). The domains' own rows (``idea_vote``,
# ``comment``, ...) say what the merge moved.
MERGE_KIND = "customer"

_ref = table_of(CustomerRef)
_move = table_of(CustomerMergeMove)


async def upsert(session: AsyncSession, *, customer_id: uuid.UUID, display_name: str | None) -> None:
    """Insert the customer or refresh its name; repeating the same facts writes nothing.

    An erased customer keeps its erasure: a replayed event must not bring the name back.
    """
    statement = pg_insert(CustomerRef).values(customer_id=customer_id, display_name=display_name)
    excluded = statement.excluded
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[col(CustomerRef.customer_id)],
            set_={"display_name": excluded.display_name},
            where=col(CustomerRef.erased_at).is_(None)
            & col(CustomerRef.display_name).is_distinct_from(excluded.display_name),
        )
    )


async def get(session: AsyncSession, customer_id: uuid.UUID) -> CustomerRef | None:
    return await session.get(CustomerRef, customer_id)


async def mark_erased(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> None:
    """Blank the customers' names and stamp the erasure; a customer not seen yet gets a tombstone so a
    late ``customer.created`` cannot bring it back. Already erased customers are left as they are."""
    if not customer_ids:
        return
    statement = pg_insert(_ref).values(
        [
            {"customer_id": customer_id, "display_name": "", "erased_at": func.now()}
            for customer_id in customer_ids
        ]
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[_ref.c.customer_id],
            set_={"display_name": "", "erased_at": statement.excluded.erased_at},
            where=_ref.c.erased_at.is_(None),
        )
    )


# --- what identity's merges moved -----------------------------------------------------------------


async def merge_state(session: AsyncSession, merge_id: uuid.UUID, *, for_update: bool = False) -> str | None:
    """The action of the merge's own row (``moved``/``restored``/``erased``); None if never seen."""
    statement = select(_move.c.action).where(_move.c.merge_id == merge_id, _move.c.kind == MERGE_KIND)
    if for_update:
        statement = statement.with_for_update()
    return (await session.execute(statement)).scalar_one_or_none()


async def add_merge(
    session: AsyncSession, merge_id: uuid.UUID, *, from_id: uuid.UUID, to_id: uuid.UUID, action: str
) -> None:
    await session.execute(
        pg_insert(_move).values(
            id=uuid.uuid4(),
            merge_id=merge_id,
            kind=MERGE_KIND,
            action=action,
            row_key={"from_id": str(from_id), "to_id": str(to_id)},
        )
    )


async def set_merge_state(session: AsyncSession, merge_ids: Collection[uuid.UUID], action: str) -> None:
    if not merge_ids:
        return
    await session.execute(
        update(_move)
        .where(any_of(_move.c.merge_id, list(merge_ids), Uuid()), _move.c.kind == MERGE_KIND)
        .values(action=action)
    )


async def add_moves(session: AsyncSession, merge_id: uuid.UUID, moves: Sequence[dict[str, Any]]) -> None:
    """Record rows a merge moved: each a dict of ``kind``, ``action``, ``row_key``, ``restore``."""
    if moves:
        await session.execute(
            pg_insert(_move), [{"id": uuid.uuid4(), "merge_id": merge_id, **move} for move in moves]
        )


async def moves_of(
    session: AsyncSession, merge_id: uuid.UUID, kinds: Sequence[str]
) -> list[Row[Any, Any, Any, Any]]:
    statement = (
        select(_move.c.kind, _move.c.action, _move.c.row_key, _move.c.restore)
        .where(_move.c.merge_id == merge_id, _move.c.kind.in_(kinds))
        .order_by(_move.c.kind, _move.c.id)
    )
    return list((await session.execute(statement)).all())


async def delete_moves(
    session: AsyncSession, merge_ids: Collection[uuid.UUID], kinds: Sequence[str] | None = None
) -> None:
    """Forget what the merges moved: the rows of ``kinds``, or every domain's (the merge's own row
    stays, so a replayed event still finds the merge handled)."""
    if not merge_ids:
        return
    which = _move.c.kind.in_(kinds) if kinds is not None else _move.c.kind != MERGE_KIND
    await session.execute(delete(_move).where(any_of(_move.c.merge_id, list(merge_ids), Uuid()), which))


# A later merge of the survivor recorded some of the same rows again (moved on, or dropped as a
# double there). Once an undo has given such a row back to its first owner, the later record describes
# a row that is no longer the survivor's; left in place, undoing the later merge would hand the
# survivor a copy of someone else's vote or follow.
_DELETE_SUPERSEDED = text(
    """
    DELETE FROM customer_merge_move m
    USING unnest(CAST(:kinds AS text[]), CAST(:ideas AS text[]), CAST(:live_ideas AS text[]),
                 CAST(:restores AS text[])) AS r(kind, idea_id, live_idea_id, restore)
    WHERE m.kind = r.kind AND m.merge_id <> :merge_id
      AND m.row_key->>'customer_id' = ANY(CAST(:holders AS text[]))
      AND m.row_key->>'idea_id' IN (r.idea_id, r.live_idea_id)
      AND m.restore = CAST(r.restore AS jsonb)
    """
)


async def delete_superseded_moves(
    session: AsyncSession,
    *,
    merge_id: uuid.UUID,
    holders: Sequence[uuid.UUID],
    rows: Sequence[tuple[str, uuid.UUID, uuid.UUID, dict[str, Any]]],
) -> None:
    """Forget other merges' records of rows (kind, idea, live idea, restore) held by ``holders``."""
    if not rows or not holders:
        return
    await session.execute(
        _DELETE_SUPERSEDED,
        {
            "merge_id": merge_id,
            "holders": [str(holder) for holder in holders],
            "kinds": [kind for kind, _, _, _ in rows],
            "ideas": [str(idea_id) for _, idea_id, _, _ in rows],
            "live_ideas": [str(live_id) for _, _, live_id, _ in rows],
            "restores": [json.dumps(restore) for _, _, _, restore in rows],
        },
    )


def _merge_end(end: str) -> Any:
    return _move.c.row_key[end].astext


async def next_survivors(
    session: AsyncSession, customer_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """For each customer merged away (and not restored), the customer it was merged into."""
    if not customer_ids:
        return {}
    rows = await session.execute(
        select(_merge_end("from_id"), _merge_end("to_id")).where(
            _move.c.kind == MERGE_KIND,
            _move.c.action == "moved",
            any_of(_merge_end("from_id"), [str(c) for c in customer_ids], String()),
        )
    )
    return {uuid.UUID(row[0]): uuid.UUID(row[1]) for row in rows}


async def merges_involving(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """The merges (applied here) in which any of the customers was the survivor or the merged one."""
    if not customer_ids:
        return set()
    ids = [str(c) for c in customer_ids]
    rows = await session.execute(
        select(_move.c.merge_id).where(
            _move.c.kind == MERGE_KIND,
            or_(any_of(_merge_end("from_id"), ids, String()), any_of(_merge_end("to_id"), ids, String())),
        )
    )
    return {row[0] for row in rows}


async def lock_merge(session: AsyncSession, merge_id: uuid.UUID) -> None:
    """Serialize the handling of one merge (its merge and undo events) for this transaction."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": f"customer-merge:{merge_id}"}
    )
