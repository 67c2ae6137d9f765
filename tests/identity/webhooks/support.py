"""Signing, samples and database look-ups shared by the webhook tests."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks.webhooks import Webhook

from identity.settings import DEV_WEBHOOK_SOURCES
from identity.timeline.models import Touchpoint
from identity.webhooks.models import WebhookDelivery

SAMPLES = Path(__file__).parent / "samples"
# Each shipped mapping, the dev source configured with it, and its sample payload.
SAMPLE_SOURCES = {
    "order": "shop",
    "call_record": "callcenter",
    "social_mention": "social",
    "store_visit": "store",
}


def sample(mapping: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SAMPLES / f"{mapping}.json").read_text())
    return loaded


def secret_of(source: str) -> str:
    return DEV_WEBHOOK_SOURCES[source]["secret"]


def new_webhook_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def signed_headers(
    source: str,
    body: bytes,
    *,
    webhook_id: str | None = None,
    at: datetime | None = None,
    secret: str | None = None,
) -> dict[str, str]:
    """Headers a Standard Webhooks sender would send with ``body``, signed with the source's dev secret."""
    at = at or datetime.now(UTC)
    webhook_id = webhook_id or new_webhook_id()
    return {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret or secret_of(source)).sign(webhook_id, at, body.decode()),
    }


def encoded(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


async def delivery(
    sessions: async_sessionmaker[AsyncSession], source: str, webhook_id: str
) -> WebhookDelivery | None:
    async with sessions() as session:
        return await session.get(WebhookDelivery, (source, webhook_id))


async def delivery_count(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int((await session.execute(select(func.count()).select_from(WebhookDelivery))).scalar_one())


async def touchpoints(sessions: async_sessionmaker[AsyncSession], source: str) -> list[Touchpoint]:
    async with sessions() as session:
        rows = await session.execute(select(Touchpoint).where(Touchpoint.source == source))
        return list(rows.scalars())
