"""Helpers for comment and moderation tests: ideas written straight to the database (so these tests do
not depend on the ideas API), comments posted through the API, and the truth read back from the rows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_common.auth import Role
from crm_common.db import session_factory
from feedback.ideas.models import Idea
from feedback.ideas.ranking import activity_key
from feedback.moderation.service import text_hash
from tests.support import bearer, customer_token, staff_token

ADMIN = bearer(staff_token(Role.ADMIN))
AGENT = bearer(staff_token(Role.AGENT))
ANALYST = bearer(staff_token(Role.ANALYST))
MARKETER = bearer(staff_token(Role.MARKETER))
PARTNER = bearer(staff_token(Role.PARTNER))

HALF_LIFE_HOURS = 48.0


def as_customer(customer_id: uuid.UUID) -> dict[str, str]:
    return bearer(customer_token(customer_id))


async def make_board(engine: AsyncEngine, *, mode: str = "post") -> uuid.UUID:
    board_id = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO board (id, slug, name, moderation_mode) VALUES (:id, :slug, :slug, :mode)"),
            {"id": board_id, "slug": f"b-{board_id.hex[:12]}", "mode": mode},
        )
    return board_id


async def make_idea(
    engine: AsyncEngine,
    *,
    author_id: uuid.UUID | None = None,
    moderation_state: str = "published",
    board_id: uuid.UUID | None = None,
    title: str | None = None,
    body: str = "It would help a lot.",
    created_at: datetime | None = None,
    spam_score: float = 0.0,
    spam_reasons: list[str] | None = None,
) -> uuid.UUID:
    """An idea row as the ideas domain writes it (board created when not given)."""
    board_id = board_id or await make_board(engine)
    title = title or f"Idea {uuid.uuid4().hex[:8]}"
    created_at = created_at or datetime.now(UTC)
    async with session_factory(engine)() as session:
        idea = Idea(
            board_id=board_id,
            author_id=author_id or uuid.uuid4(),
            title=title,
            body=body,
            status="new",
            moderation_state=moderation_state,
            spam_score=spam_score,
            spam_reasons=spam_reasons or [],
            text_hash=text_hash(title, body),
            trending_score=activity_key(created_at, HALF_LIFE_HOURS),
            created_at=created_at,
            status_changed_at=created_at,
        )
        session.add(idea)
        await session.commit()
        return idea.id


async def post_comment(
    client: httpx.AsyncClient,
    idea_id: uuid.UUID | str,
    headers: dict[str, str],
    body: str = "Yes, please. I would use this every day.",
    **fields: Any,
) -> httpx.Response:
    return await client.post(f"/v1/ideas/{idea_id}/comments", json={"body": body, **fields}, headers=headers)


async def comment_as(
    client: httpx.AsyncClient,
    idea_id: uuid.UUID | str,
    author_id: uuid.UUID,
    body: str = "Yes, please. I would use this every day.",
    **fields: Any,
) -> dict[str, Any]:
    """Post as the customer and insist on a 201; returns the body."""
    response = await post_comment(client, idea_id, as_customer(author_id), body, **fields)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def idea_row(engine: AsyncEngine, idea_id: uuid.UUID | str) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT * FROM idea WHERE id = :id"), {"id": str(idea_id)})).one()


async def comment_row(engine: AsyncEngine, comment_id: uuid.UUID | str) -> Any:
    async with engine.connect() as conn:
        query = text("SELECT * FROM comment WHERE id = :id")
        return (await conn.execute(query, {"id": str(comment_id)})).one()


async def published_comment_count(engine: AsyncEngine, idea_id: uuid.UUID | str) -> int:
    """Counted from the comment rows themselves, to hold the stored count against."""
    async with engine.connect() as conn:
        query = text("SELECT count(*) FROM comment WHERE idea_id = :id AND moderation_state = 'published'")
        return int((await conn.execute(query, {"id": str(idea_id)})).scalar_one())


async def age_comment(engine: AsyncEngine, comment_id: uuid.UUID | str, seconds: float) -> None:
    """Move the comment's creation back in time (edit window tests)."""
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE comment SET created_at = created_at - make_interval(secs => :s) WHERE id = :id"),
            {"s": seconds, "id": str(comment_id)},
        )


async def events_of_type(engine: AsyncEngine, event_type: str) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT envelope FROM outbox_event WHERE envelope->>'type' = :t ORDER BY position"),
            {"t": event_type},
        )
        return [dict(row[0]) for row in rows]


async def actions_for(engine: AsyncEngine, target_id: uuid.UUID | str) -> list[Any]:
    async with engine.connect() as conn:
        query = text("SELECT * FROM moderation_action WHERE target_id = :id ORDER BY acted_at, action")
        return list((await conn.execute(query, {"id": str(target_id)})).all())


# Five links, three over the default ``spam_max_links`` of 2: held by the link heuristic alone.
SPAMMY = (
    "Great deals at cheap-pills.shop and best-deals.xyz, see www.free-stuff.example/now, "
    "https://spam.example/offer and more-deals.top today"
)
