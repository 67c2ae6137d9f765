"""All SQL of the ideas domain."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, Uuid, func, literal, select, text, true, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from crm_common.db import any_of
from feedback.boards.models import Board
from feedback.ideas.models import Idea, IdeaFollower, IdeaStatusChange
from feedback.ideas.ranking import TRENDING_EPOCH, decay_rate

SORT_KEYS = {
    "top": col(Idea.top_score),
    "trending": col(Idea.trending_score),
    "newest": col(Idea.created_at),
}


async def get_board_by_slug(session: AsyncSession, slug: str) -> Board | None:
    return (await session.execute(select(Board).where(col(Board.slug) == slug))).scalar_one_or_none()


async def ensure_board(session: AsyncSession, slug: str) -> Board:
    """The board with this slug, created (post-moderated, no vote budget) if it is missing."""
    await session.execute(
        text(
            "INSERT INTO board (id, slug, name, moderation_mode)"
            " VALUES (gen_random_uuid(), :slug, :name, 'post') ON CONFLICT (slug) DO NOTHING"
        ),
        {"slug": slug, "name": slug.replace("-", " ").replace("_", " ").capitalize()},
    )
    board = await get_board_by_slug(session, slug)
    assert board is not None
    return board


async def get(session: AsyncSession, idea_id: uuid.UUID) -> Idea | None:
    return await session.get(Idea, idea_id)


async def get_for_update(session: AsyncSession, idea_id: uuid.UUID) -> Idea | None:
    statement = (
        select(Idea)
        .where(col(Idea.id) == idea_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def get_many(session: AsyncSession, idea_ids: Sequence[uuid.UUID]) -> list[Idea]:
    statement = select(Idea).where(any_of(col(Idea.id), idea_ids, Uuid()))
    return list((await session.execute(statement)).scalars())


async def add(session: AsyncSession, idea: Idea) -> Idea:
    session.add(idea)
    await session.flush()
    await session.refresh(idea)
    return idea


async def list_ideas(
    session: AsyncSession,
    *,
    sort: str,
    limit: int,
    after: tuple[Any, uuid.UUID] | None,
    statuses: list[str] | None,
    category: str | None,
    tag: str | None,
    board_id: uuid.UUID | None,
    author_id: uuid.UUID | None,
    moderation_state: str,
) -> list[Idea]:
    """One page in ranking order, keyset-paginated on (ranking key, id), both descending."""
    key = SORT_KEYS[sort]
    statement = select(Idea).where(col(Idea.moderation_state) == moderation_state)
    if statuses:
        statement = statement.where(col(Idea.status).in_(statuses))
    else:
        statement = statement.where(col(Idea.merged_into_id).is_(None))
    if category is not None:
        statement = statement.where(col(Idea.category) == category)
    if tag is not None:
        statement = statement.where(col(Idea.tags).contains([tag]))
    if board_id is not None:
        statement = statement.where(col(Idea.board_id) == board_id)
    if author_id is not None:
        statement = statement.where(col(Idea.author_id) == author_id)
    if after is not None:
        statement = statement.where(tuple_(key, col(Idea.id)) < tuple_(literal(after[0]), literal(after[1])))
    statement = statement.order_by(key.desc(), col(Idea.id).desc()).limit(limit)
    return list((await session.execute(statement)).scalars())


async def newest_by_authors(
    session: AsyncSession, author_ids: Sequence[uuid.UUID], *, per_author: int, moderation_state: str
) -> dict[uuid.UUID, list[Idea]]:
    """The first ``per_author`` ideas of each author as :func:`list_ideas` lists them by ``author_id``
    in ``newest`` order (in that moderation state, merged ones left out), for a whole batch in one
    statement (a LATERAL page per author over ``ix_idea_author_id``)."""
    pages: dict[uuid.UUID, list[Idea]] = {author_id: [] for author_id in author_ids}
    if not pages:
        return pages
    requested = select(func.unnest(literal(list(pages), ARRAY(Uuid()))).label("author_id")).subquery(
        "requested"
    )
    key = SORT_KEYS["newest"]
    page = (
        select(Idea)
        .where(
            col(Idea.author_id) == requested.c.author_id,
            col(Idea.moderation_state) == moderation_state,
            col(Idea.merged_into_id).is_(None),
        )
        .order_by(key.desc(), col(Idea.id).desc())
        .limit(per_author)
        .lateral("page")
    )
    statement = (
        select(aliased(Idea, page))
        .select_from(requested.join(page, true()))
        .order_by(page.c.author_id, page.c.created_at.desc(), page.c.id.desc())
    )
    for idea in (await session.execute(statement)).scalars():
        assert idea.author_id is not None  # matched on it
        pages[idea.author_id].append(idea)
    return pages


async def similar(
    session: AsyncSession, title: str, *, limit: int, threshold: float, exclude_id: uuid.UUID | None = None
) -> list[tuple[Idea, float]]:
    """Published, unmerged ideas whose title shares trigrams with ``title`` (pg_trgm, GIN index)."""
    similarity = func.similarity(col(Idea.title), title)
    statement = (
        select(Idea, similarity.label("similarity"))
        .where(
            col(Idea.title).op("%")(title),
            col(Idea.moderation_state) == "published",
            col(Idea.merged_into_id).is_(None),
        )
        .order_by(similarity.desc(), col(Idea.id))
        .limit(limit)
    )
    if exclude_id is not None:
        statement = statement.where(col(Idea.id) != exclude_id)
    # The % operator uses pg_trgm.similarity_threshold; set it for this transaction only.
    await session.execute(
        text("SELECT set_config('pg_trgm.similarity_threshold', :t, true)"), {"t": str(threshold)}
    )
    return [(row[0], float(row[1])) for row in (await session.execute(statement)).all()]


async def add_status_change(session: AsyncSession, change: IdeaStatusChange) -> IdeaStatusChange:
    session.add(change)
    await session.flush()
    await session.refresh(change)
    return change


async def status_history(session: AsyncSession, idea_id: uuid.UUID) -> list[IdeaStatusChange]:
    statement = (
        select(IdeaStatusChange)
        .where(col(IdeaStatusChange.idea_id) == idea_id)
        .order_by(col(IdeaStatusChange.changed_at), col(IdeaStatusChange.id))
    )
    return list((await session.execute(statement)).scalars())


async def follow(session: AsyncSession, idea_id: uuid.UUID, customer_id: uuid.UUID) -> None:
    await session.execute(
        text(
            "INSERT INTO idea_follower (idea_id, customer_id) VALUES (:idea, :customer)"
            " ON CONFLICT DO NOTHING"
        ),
        {"idea": idea_id, "customer": customer_id},
    )


async def unfollow(session: AsyncSession, idea_id: uuid.UUID, customer_id: uuid.UUID) -> None:
    await session.execute(
        text("DELETE FROM idea_follower WHERE idea_id = :idea AND customer_id = :customer"),
        {"idea": idea_id, "customer": customer_id},
    )


async def is_following(session: AsyncSession, idea_id: uuid.UUID, customer_id: uuid.UUID) -> bool:
    statement = select(literal(True)).where(
        col(IdeaFollower.idea_id) == idea_id, col(IdeaFollower.customer_id) == customer_id
    )
    return bool((await session.execute(statement)).scalar_one_or_none())


async def set_moderation_state(session: AsyncSession, idea_id: uuid.UUID, state: str) -> None:
    await session.execute(update(Idea).where(col(Idea.id) == idea_id).values(moderation_state=state))


async def record_comment(
    session: AsyncSession, idea_id: uuid.UUID, *, delta: int, at: datetime, half_life_hours: float
) -> None:
    """Count a published comment in (or out of) the idea's comment count and trending key."""
    activity = decay_rate(half_life_hours) * (at - TRENDING_EPOCH).total_seconds() / 3600
    trending = (
        func.log_add_exp(col(Idea.trending_score), activity)
        if delta > 0
        else func.log_sub_exp(col(Idea.trending_score), activity)
    )
    await session.execute(
        update(Idea)
        .where(col(Idea.id) == idea_id)
        .values(comment_count=col(Idea.comment_count) + delta, trending_score=trending)
    )


async def recount(session: AsyncSession, idea_ids: Sequence[uuid.UUID], *, half_life_hours: float) -> None:
    """Recompute counts, ``top_score`` and ``trending_score`` of the ideas from their rows.

    Trending is ln Σ exp(k_i) over the submission, every up vote and every published comment, with
    k = λ·hours since the epoch, computed as max(k) + ln Σ exp(k_i - max(k)) so nothing overflows.
    """
    if not idea_ids:
        return
    await session.execute(
        text(
            """
            WITH activity AS (
              SELECT i.id AS idea_id, extract(epoch FROM i.created_at - :epoch) / 3600 * :lam AS k
              FROM idea i WHERE i.id = ANY(:ids)
              UNION ALL
              SELECT v.idea_id, extract(epoch FROM v.cast_at - :epoch) / 3600 * :lam
              FROM vote v WHERE v.idea_id = ANY(:ids) AND v.direction = 1
              UNION ALL
              SELECT c.idea_id, extract(epoch FROM c.created_at - :epoch) / 3600 * :lam
              FROM comment c WHERE c.idea_id = ANY(:ids) AND c.moderation_state = 'published'
            ), trending AS (
              SELECT idea_id, max(k) AS top FROM activity GROUP BY idea_id
            ), trending_key AS (
              SELECT a.idea_id, t.top + ln(sum(exp(a.k - t.top))) AS score
              FROM activity a JOIN trending t USING (idea_id) GROUP BY a.idea_id, t.top
            ), votes AS (
              SELECT idea_id, count(*) FILTER (WHERE direction = 1) AS up,
                     count(*) FILTER (WHERE direction = -1) AS down
              FROM vote WHERE idea_id = ANY(:ids) GROUP BY idea_id
            ), comments AS (
              SELECT idea_id, count(*) AS n FROM comment
              WHERE idea_id = ANY(:ids) AND moderation_state = 'published' GROUP BY idea_id
            )
            UPDATE idea SET
              up_count = coalesce(votes.up, 0),
              down_count = coalesce(votes.down, 0),
              comment_count = coalesce(comments.n, 0),
              top_score = wilson_lower_bound(coalesce(votes.up, 0)::int, coalesce(votes.down, 0)::int),
              trending_score = trending_key.score
            FROM trending_key
            LEFT JOIN votes ON votes.idea_id = trending_key.idea_id
            LEFT JOIN comments ON comments.idea_id = trending_key.idea_id
            WHERE idea.id = trending_key.idea_id
            """
        ),
        {"ids": list(idea_ids), "epoch": TRENDING_EPOCH, "lam": decay_rate(half_life_hours)},
    )


async def upvotes_received(session: AsyncSession, author_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    statement = (
        select(col(Idea.author_id), func.coalesce(func.sum(col(Idea.up_count)), 0))
        .where(any_of(col(Idea.author_id), author_ids, Uuid()), col(Idea.moderation_state) == "published")
        .group_by(col(Idea.author_id))
    )
    found = {row[0]: int(row[1]) for row in (await session.execute(statement)).all()}
    return {author_id: found.get(author_id, 0) for author_id in author_ids}


async def count_recent_by_author(session: AsyncSession, author_id: uuid.UUID, since: datetime) -> int:
    statement = select(func.count()).where(col(Idea.author_id) == author_id, col(Idea.created_at) >= since)
    return int((await session.execute(statement)).scalar_one())
