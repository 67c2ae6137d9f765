"""Helpers for the experience tests (feedback, complaints, touchpoints, advocates): callers, feedback
given through the API or stored at a chosen time, and what was published."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_common.auth import Role
from crm_common.db import session_factory
from feedback.database import metadata
from feedback.experience import service as experience
from feedback.experience.models import FeedbackKind, FeedbackResponse
from feedback.settings import FeedbackSettings
from tests.support import bearer, customer_token, staff_token

ADMIN = bearer(staff_token(Role.ADMIN))
AGENT = bearer(staff_token(Role.AGENT))
ANALYST = bearer(staff_token(Role.ANALYST))
MARKETER = bearer(staff_token(Role.MARKETER))


def as_customer(customer_id: uuid.UUID) -> dict[str, str]:
    return bearer(customer_token(customer_id))


def with_key(headers: dict[str, str], key: str | None = None) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key or uuid.uuid4().hex}


async def give_feedback(
    client: httpx.AsyncClient, customer_id: uuid.UUID | None = None, **fields: Any
) -> dict[str, Any]:
    """Give feedback through the API as ``customer_id`` (a new customer when omitted); the 201 body."""
    body = {"kind": "nps", "channel": "web", "touchpoint": "web_checkout", "nps": 9, **fields}
    response = await client.post("/v1/feedback", json=body, headers=as_customer(customer_id or uuid.uuid4()))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def store_feedback(
    engine: AsyncEngine,
    settings: FeedbackSettings,
    *,
    received_at: datetime | None = None,
    customer_id: uuid.UUID | None = None,
    kind: FeedbackKind = FeedbackKind.NPS,
    touchpoint: str = "store_checkout",
    channel: str = "store",
    nps: int | None = None,
    csat: int | None = None,
    comment: str | None = None,
) -> FeedbackResponse:
    """Record feedback through the service at an explicit time, committed (as a batch import would)."""
    if kind == FeedbackKind.NPS and nps is None:
        nps = 8
    async with session_factory(engine).begin() as session:
        return await experience.record_feedback(
            session,
            settings,
            customer_id=customer_id or uuid.uuid4(),
            kind=kind,
            channel=channel,
            touchpoint=touchpoint,
            nps=nps,
            csat=csat,
            comment=comment,
            received_at=received_at,
        )


async def events_of_type(engine: AsyncEngine, event_type: str) -> list[dict[str, Any]]:
    """The envelopes of that type in the outbox, oldest first."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT envelope FROM outbox_event WHERE envelope->>'type' = :t ORDER BY position"),
            {"t": event_type},
        )
        return [dict(row[0]) for row in rows]


async def count_rows(engine: AsyncEngine, table_name: str) -> int:
    async with engine.connect() as conn:
        query = select(func.count()).select_from(metadata.tables[table_name])
        return int((await conn.execute(query)).scalar_one())


async def feedback_row(engine: AsyncEngine, feedback_id: uuid.UUID | str) -> Any:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                text("SELECT * FROM feedback_response WHERE id = :id"), {"id": str(feedback_id)}
            )
        ).one()
