"""Helpers for idea and vote tests: submit through the API, read the truth from the database."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_common.auth import Role
from tests.support import bearer, customer_token, staff_token

ADMIN = bearer(staff_token(Role.ADMIN))
AGENT = bearer(staff_token(Role.AGENT))


def as_customer(customer_id: uuid.UUID) -> dict[str, str]:
    return bearer(customer_token(customer_id))


async def submit(
    client: httpx.AsyncClient, author_id: uuid.UUID | None = None, **fields: Any
) -> dict[str, Any]:
    """Submit an idea as ``author_id`` (a new customer when omitted); returns the 201 body."""
    body = {"title": f"Idea {uuid.uuid4().hex[:8]}", "body": "It would help a lot.", **fields}
    response = await client.post("/v1/ideas", json=body, headers=as_customer(author_id or uuid.uuid4()))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def vote(
    client: httpx.AsyncClient, idea_id: str, customer_id: uuid.UUID, direction: str | None
) -> httpx.Response:
    headers = as_customer(customer_id)
    if direction is None:
        return await client.delete(f"/v1/ideas/{idea_id}/vote", headers=headers)
    return await client.put(f"/v1/ideas/{idea_id}/vote", json={"direction": direction}, headers=headers)


async def true_counts(engine: AsyncEngine, idea_id: str) -> tuple[int, int]:
    """(up, down) counted from the vote rows themselves."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT count(*) FILTER (WHERE direction = 1), count(*) FILTER (WHERE direction = -1)"
                    " FROM vote WHERE idea_id = :id"
                ),
                {"id": idea_id},
            )
        ).one()
    return int(row[0]), int(row[1])


async def stored_idea(engine: AsyncEngine, idea_id: str) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT * FROM idea WHERE id = :id"), {"id": idea_id})).one()


async def events_of_type(engine: AsyncEngine, event_type: str) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT envelope FROM outbox_event WHERE envelope->>'type' = :t ORDER BY position"),
            {"t": event_type},
        )
        return [dict(row[0]) for row in rows]


async def set_status_directly(engine: AsyncEngine, idea_id: str, status: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE idea SET status = :s WHERE id = :id"), {"s": status, "id": idea_id})


async def add_board(
    engine: AsyncEngine, slug: str, *, vote_budget: int | None = None, mode: str = "post"
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO board (id, slug, name, vote_budget, moderation_mode)"
                " VALUES (gen_random_uuid(), :slug, :slug, :budget, :mode)"
            ),
            {"slug": slug, "budget": vote_budget, "mode": mode},
        )
