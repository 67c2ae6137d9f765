"""SQL for comments: threads in keyset order, the author's history, and re-keying authors."""

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    DateTime,
    Uuid,
    and_,
    cast,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from crm_common.db import any_of, table_of
from feedback.comments.models import Comment
from feedback.customers import moves

_comment = table_of(Comment)

MERGE_KIND = "comment"


def visible_to(customer_id: uuid.UUID | None) -> ColumnElement[bool]:
    """Which comments a reader sees: staff (``None``) all of them; a customer the published ones and
    their own still waiting for a moderator."""
    if customer_id is None:
        return true()
    return or_(
        _comment.c.moderation_state == "published",
        and_(_comment.c.author_id == customer_id, _comment.c.moderation_state == "pending"),
    )


async def add(session: AsyncSession, comment: Comment) -> Comment:
    session.add(comment)
    await session.flush()
    return comment


async def get(session: AsyncSession, comment_id: uuid.UUID) -> Comment | None:
    return await session.get(Comment, comment_id)


async def get_for_update(session: AsyncSession, comment_id: uuid.UUID) -> Comment | None:
    statement = select(Comment).where(col(Comment.id) == comment_id).with_for_update()
    return (await session.execute(statement.execution_options(populate_existing=True))).scalar_one_or_none()


async def top_level(
    session: AsyncSession,
    idea_id: uuid.UUID,
    *,
    reader: uuid.UUID | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Comment]:
    """The idea's top-level comments the reader sees, oldest first (``ix_comment_idea_id``)."""
    statement = select(Comment).where(
        _comment.c.idea_id == idea_id, _comment.c.parent_id.is_(None), visible_to(reader)
    )
    if after is not None:
        statement = statement.where(
            func.row(_comment.c.created_at, _comment.c.id)
            > func.row(cast(after[0], DateTime(timezone=True)), cast(after[1], Uuid))
        )
    statement = statement.order_by(_comment.c.created_at, _comment.c.id).limit(limit)
    return list((await session.execute(statement)).scalars())


async def first_replies(
    session: AsyncSession, parent_ids: Sequence[uuid.UUID], *, reader: uuid.UUID | None, per_parent: int
) -> tuple[list[Comment], dict[uuid.UUID, int]]:
    """Up to ``per_parent`` replies to each parent, oldest first, and how many each has in all."""
    if not parent_ids:
        return [], {}
    ranked = (
        select(
            _comment.c.id,
            func.row_number()
            .over(partition_by=_comment.c.parent_id, order_by=(_comment.c.created_at, _comment.c.id))
            .label("position"),
        )
        .where(any_of(_comment.c.parent_id, parent_ids, Uuid()), visible_to(reader))
        .subquery()
    )
    replies = (
        select(Comment).join(ranked, ranked.c.id == _comment.c.id).where(ranked.c.position <= per_parent)
    )
    counts = (
        select(_comment.c.parent_id, func.count())
        .where(any_of(_comment.c.parent_id, parent_ids, Uuid()), visible_to(reader))
        .group_by(_comment.c.parent_id)
    )
    shown = list((await session.execute(replies.order_by(_comment.c.created_at, _comment.c.id))).scalars())
    totals = {row[0]: int(row[1]) for row in (await session.execute(counts)).all()}
    return shown, totals


async def by_author(
    session: AsyncSession, author_id: uuid.UUID, *, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[Comment]:
    """The customer's comments on every idea, newest first."""
    statement = select(Comment).where(_comment.c.author_id == author_id)
    if after is not None:
        statement = statement.where(
            func.row(_comment.c.created_at, _comment.c.id)
            < func.row(cast(after[0], DateTime(timezone=True)), cast(after[1], Uuid))
        )
    statement = statement.order_by(_comment.c.created_at.desc(), _comment.c.id.desc()).limit(limit)
    return list((await session.execute(statement)).scalars())


async def first_pages_by_authors(
    session: AsyncSession, author_ids: Sequence[uuid.UUID], *, per_author: int
) -> dict[uuid.UUID, list[Comment]]:
    """The first ``per_author`` comments of each customer in :func:`by_author` order (newest first,
    by (created_at, id)), for a whole batch in one statement (a LATERAL page per author)."""
    pages: dict[uuid.UUID, list[Comment]] = {author_id: [] for author_id in author_ids}
    if not pages:
        return pages
    requested = select(func.unnest(literal(list(pages), ARRAY(Uuid()))).label("author_id")).subquery(
        "requested"
    )
    page = (
        select(_comment)
        .where(_comment.c.author_id == requested.c.author_id)
        .order_by(_comment.c.created_at.desc(), _comment.c.id.desc())
        .limit(per_author)
        .lateral("page")
    )
    statement = (
        select(aliased(Comment, page))
        .select_from(requested.join(page, true()))
        .order_by(page.c.author_id, page.c.created_at.desc(), page.c.id.desc())
    )
    for comment in (await session.execute(statement)).scalars():
        assert comment.author_id is not None  # matched on it
        pages[comment.author_id].append(comment)
    return pages


async def move_author(
    session: AsyncSession, *, merge_id: uuid.UUID, from_id: uuid.UUID, to_id: uuid.UUID
) -> int:
    """Re-key ``from_id``'s comments to ``to_id``, recording each moved row for ``restore_author``."""
    return await moves.rekey_rows(
        session, _comment.c.author_id, kind=MERGE_KIND, merge_id=merge_id, from_id=from_id, to_id=to_id
    )


async def restore_author(session: AsyncSession, *, merge_id: uuid.UUID, restored_id: uuid.UUID) -> int:
    """Give back to ``restored_id`` exactly the comments the merge moved (unless erased since)."""
    return await moves.restore_rows(
        session, _comment.c.author_id, kind=MERGE_KIND, merge_id=merge_id, restored_id=restored_id
    )


async def anonymise(session: AsyncSession, author_ids: Sequence[uuid.UUID]) -> int:
    """Detach the customers from their comments; the text stays (the conversation keeps its sense)."""
    result = await session.execute(
        update(_comment)
        .where(any_of(_comment.c.author_id, author_ids, Uuid()))
        .values(author_id=None)
        .returning(_comment.c.id)
    )
    return len(result.all())
