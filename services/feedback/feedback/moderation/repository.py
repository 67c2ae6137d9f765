"""SQL for moderation: author blocks, the action log, and the reads behind the heuristics and the queue.

The spam heuristics and the moderation queue need counts and lists across the ideas and comments
domains (how much an author posted lately, whether a text was posted before, what waits for review).
Those are read-only queries over ``idea`` and ``comment`` and live here so the heuristics cost one
query each; this module never writes another domain's tables (state changes go through
``feedback.ideas.service`` and ``feedback.comments.service``).
"""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    Float,
    Row,
    String,
    Uuid,
    and_,
    cast,
    delete,
    func,
    insert,
    literal,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.db import any_of, table_of
from feedback.boards.models import Board
from feedback.comments.models import Comment
from feedback.customers.models import CustomerMergeMove
from feedback.ideas.models import Idea
from feedback.moderation.models import AuthorBlock, ModerationAction

_block = table_of(AuthorBlock)
_board = table_of(Board)
_action = table_of(ModerationAction)
_idea = table_of(Idea)
_comment = table_of(Comment)
_merge_move = table_of(CustomerMergeMove)

MERGE_KIND = "author_block"


# --- author blocks ----------------------------------------------------------------------------------


async def is_blocked(session: AsyncSession, customer_id: uuid.UUID) -> bool:
    statement = select(literal(True)).where(_block.c.customer_id == customer_id)
    return (await session.execute(statement)).scalar_one_or_none() is not None


async def add_block(
    session: AsyncSession, *, customer_id: uuid.UUID, reason: str, blocked_by: str
) -> AuthorBlock | None:
    """Insert the block; None when the customer is already blocked (the existing block stands)."""
    inserted = (
        await session.execute(
            pg_insert(_block)
            .values(customer_id=customer_id, reason=reason, blocked_by=blocked_by)
            .on_conflict_do_nothing(index_elements=[_block.c.customer_id])
            .returning(_block.c.customer_id)
        )
    ).scalar_one_or_none()
    if inserted is None:
        return None
    return await session.get(AuthorBlock, customer_id, populate_existing=True)


async def remove_block(session: AsyncSession, customer_id: uuid.UUID) -> bool:
    removed = await session.execute(
        delete(_block).where(_block.c.customer_id == customer_id).returning(_block.c.customer_id)
    )
    return removed.first() is not None


async def list_blocks(
    session: AsyncSession, *, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[AuthorBlock]:
    """Newest blocks first, keyset on (blocked_at, customer_id)."""
    statement = select(AuthorBlock)
    if after is not None:
        statement = statement.where(
            func.row(_block.c.blocked_at, _block.c.customer_id)
            < func.row(cast(after[0], DateTime(timezone=True)), cast(after[1], Uuid))
        )
    statement = statement.order_by(_block.c.blocked_at.desc(), _block.c.customer_id.desc()).limit(limit)
    return list((await session.execute(statement)).scalars())


# --- the action log ---------------------------------------------------------------------------------


async def add_action(session: AsyncSession, action: ModerationAction) -> ModerationAction:
    session.add(action)
    await session.flush()
    return action


async def list_actions(
    session: AsyncSession,
    *,
    target_kind: str | None,
    target_id: uuid.UUID | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[ModerationAction]:
    """Newest actions first, keyset on (acted_at, id)."""
    statement = select(ModerationAction)
    if target_kind is not None:
        statement = statement.where(_action.c.target_kind == target_kind)
    if target_id is not None:
        statement = statement.where(_action.c.target_id == target_id)
    if after is not None:
        statement = statement.where(
            func.row(_action.c.acted_at, _action.c.id)
            < func.row(cast(after[0], DateTime(timezone=True)), cast(after[1], Uuid))
        )
    statement = statement.order_by(_action.c.acted_at.desc(), _action.c.id.desc()).limit(limit)
    return list((await session.execute(statement)).scalars())


# --- reads behind the heuristics (cross-domain, read-only; see the module docstring) ----------------


async def posts_since(session: AsyncSession, author_id: uuid.UUID, since: datetime) -> int:
    """Ideas plus comments the customer submitted at or after ``since`` (both ``author_id`` indexes)."""
    ideas = select(func.count()).where(_idea.c.author_id == author_id, _idea.c.created_at >= since)
    comments = select(func.count()).where(_comment.c.author_id == author_id, _comment.c.created_at >= since)
    statement = select(ideas.scalar_subquery() + comments.scalar_subquery())
    return int((await session.execute(statement)).scalar_one())


async def idea_text_seen(
    session: AsyncSession, text_hash: str, since: datetime, *, excluding: uuid.UUID | None
) -> bool:
    """Whether any idea (any author, any state) with this text hash was submitted since ``since``."""
    statement = select(literal(True)).where(_idea.c.text_hash == text_hash, _idea.c.created_at >= since)
    if excluding is not None:
        statement = statement.where(_idea.c.id != excluding)
    return (await session.execute(statement.limit(1))).scalar_one_or_none() is not None


async def recent_comment_bodies(
    session: AsyncSession,
    author_id: uuid.UUID,
    since: datetime,
    *,
    limit: int,
    excluding: uuid.UUID | None,
) -> list[str]:
    """The author's latest comment bodies since ``since`` (comments carry no text hash column)."""
    statement = select(_comment.c.body).where(
        _comment.c.author_id == author_id, _comment.c.created_at >= since
    )
    if excluding is not None:
        statement = statement.where(_comment.c.id != excluding)
    statement = statement.order_by(_comment.c.created_at.desc()).limit(limit)
    return [str(body) for body in (await session.execute(statement)).scalars()]


async def board_moderation_mode(session: AsyncSession, board_id: uuid.UUID) -> str:
    """The board's ``moderation_mode`` (``pre`` or ``post``); boards have no service of their own."""
    statement = select(_board.c.moderation_mode).where(_board.c.id == board_id)
    return str((await session.execute(statement)).scalar_one_or_none() or "post")


# --- the queue (cross-domain, read-only) ------------------------------------------------------------


def _idea_queue() -> Any:
    return select(
        literal("idea", String).label("kind"),
        _idea.c.id,
        _idea.c.id.label("idea_id"),
        _idea.c.title,
        _idea.c.body,
        _idea.c.author_id,
        _idea.c.created_at,
        _idea.c.spam_score,
        cast(_idea.c.spam_reasons, ARRAY(String)).label("reasons"),
    ).where(_idea.c.moderation_state == "pending")


def _comment_queue() -> Any:
    # Comments have no reasons column: the reasons are those of the latest hold the heuristics recorded.
    latest_hold = (
        select(_action.c.reason)
        .where(
            _action.c.target_kind == "comment",
            _action.c.target_id == _comment.c.id,
            _action.c.action == "hold",
        )
        .order_by(_action.c.acted_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    return select(
        literal("comment", String).label("kind"),
        _comment.c.id,
        _comment.c.idea_id,
        cast(null(), String).label("title"),
        _comment.c.body,
        _comment.c.author_id,
        _comment.c.created_at,
        cast(_comment.c.spam_score, Float).label("spam_score"),
        func.coalesce(
            func.string_to_array(latest_hold, ", "), cast(literal([], ARRAY(String)), ARRAY(String))
        ).label("reasons"),
    ).where(_comment.c.moderation_state == "pending")


async def pending_posts(
    session: AsyncSession, *, kind: str | None, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[Row[Any]]:
    """Pending ideas and/or comments, oldest first, keyset on (created_at, id)."""
    parts = []
    if kind in (None, "idea"):
        part = _idea_queue()
        if after is not None:
            part = part.where(func.row(_idea.c.created_at, _idea.c.id) > func.row(*_after(after)))
        parts.append(part.order_by(_idea.c.created_at, _idea.c.id).limit(limit))
    if kind in (None, "comment"):
        part = _comment_queue()
        if after is not None:
            part = part.where(func.row(_comment.c.created_at, _comment.c.id) > func.row(*_after(after)))
        parts.append(part.order_by(_comment.c.created_at, _comment.c.id).limit(limit))
    queue = union_all(*[p.subquery().select() for p in parts]).subquery()
    statement = select(queue).order_by(queue.c.created_at, queue.c.id).limit(limit)
    return list((await session.execute(statement)).all())


def _after(after: tuple[datetime, uuid.UUID]) -> tuple[Any, Any]:
    return cast(after[0], DateTime(timezone=True)), cast(after[1], Uuid)


# --- customer lifecycle -----------------------------------------------------------------------------


async def move_blocks(
    session: AsyncSession, *, merge_id: uuid.UUID, from_id: uuid.UUID, to_id: uuid.UUID
) -> None:
    """Re-key ``from_id``'s block to ``to_id``, recorded for restore.

    When ``to_id`` is blocked already, its block stands and ``from_id``'s is dropped, its facts kept in
    the merge record so restoring the customer brings it back.
    """
    target_blocked = await is_blocked(session, to_id)
    source = (
        await session.execute(select(_block).where(_block.c.customer_id == from_id).with_for_update())
    ).first()
    if source is None:
        return
    if target_blocked:
        await session.execute(delete(_block).where(_block.c.customer_id == from_id))
        await session.execute(
            insert(_merge_move).values(
                merge_id=merge_id,
                kind=MERGE_KIND,
                action="dropped",
                row_key={"customer_id": str(from_id)},
                restore={
                    "reason": source.reason,
                    "blocked_by": source.blocked_by,
                    "blocked_at": source.blocked_at.isoformat(),
                },
            )
        )
        return
    await session.execute(update(_block).where(_block.c.customer_id == from_id).values(customer_id=to_id))
    await session.execute(
        insert(_merge_move).values(
            merge_id=merge_id,
            kind=MERGE_KIND,
            action="moved",
            row_key={"customer_id": str(to_id), "blocked_at": source.blocked_at.isoformat()},
        )
    )


async def restore_blocks(session: AsyncSession, *, merge_id: uuid.UUID, restored_id: uuid.UUID) -> None:
    """Put back exactly the blocks ``move_blocks`` moved or dropped for this merge; safe to repeat."""
    moves = (
        await session.execute(
            select(_merge_move.c.action, _merge_move.c.row_key, _merge_move.c.restore).where(
                _merge_move.c.merge_id == merge_id, _merge_move.c.kind == MERGE_KIND
            )
        )
    ).all()
    for move in moves:
        if move.action == "moved":
            # Only the block the merge moved: same holder, same time. A block staff placed on the
            # survivor afterwards is not this one and stays.
            moved = and_(
                _block.c.customer_id == uuid.UUID(move.row_key["customer_id"]),
                _block.c.blocked_at == datetime.fromisoformat(move.row_key["blocked_at"]),
            )
            if await is_blocked(session, restored_id):
                # The restored customer was blocked again meanwhile: that block stands, and the moved
                # one, which was theirs, leaves the survivor.
                await session.execute(delete(_block).where(moved))
            else:
                await session.execute(update(_block).where(moved).values(customer_id=restored_id))
        elif move.action == "dropped" and move.restore is not None:
            await session.execute(
                pg_insert(_block)
                .values(
                    customer_id=restored_id,
                    reason=move.restore["reason"],
                    blocked_by=move.restore["blocked_by"],
                    blocked_at=datetime.fromisoformat(move.restore["blocked_at"]),
                )
                .on_conflict_do_nothing(index_elements=[_block.c.customer_id])
            )


async def erase_blocks(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> None:
    """Delete the customers' blocks and the block/unblock entries of the log (their reasons may name
    the person)."""
    await session.execute(delete(_block).where(any_of(_block.c.customer_id, customer_ids, Uuid())))
    await session.execute(
        delete(_action).where(
            and_(_action.c.target_kind == "author", any_of(_action.c.target_id, customer_ids, Uuid()))
        )
    )
