"""Gateway test helpers: GraphQL over the gateway app, and what the gateway sent to each service."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from crm_common.auth import Role
from identity.database import metadata as identity_metadata
from tests.support import bearer, staff_token

ADMIN = bearer(staff_token(Role.ADMIN))


class RecordingTransport(httpx.AsyncBaseTransport):
    """Hands every request to the real transport and keeps a copy: what did the gateway send?"""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass
class Gateway:
    """The gateway app under test and the requests it made, by service (in-process services only)."""

    client: httpx.AsyncClient
    sent: dict[str, RecordingTransport] = field(default_factory=dict)

    async def query(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        return await self.client.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers=ADMIN if headers is None else headers,
        )

    def requests_sent(self) -> list[httpx.Request]:
        return [request for recording in self.sent.values() for request in recording.requests]


async def identity_events(identity_db: str, customer_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(subject, envelope) of every event identity recorded about one customer, oldest first."""
    outbox = identity_metadata.tables["outbox_event"]
    engine = create_async_engine(make_url(identity_db).set(drivername="postgresql+asyncpg"))
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(outbox.c.subject, outbox.c.envelope)
                .where(outbox.c.envelope["subject_id"].astext == customer_id)
                .order_by(outbox.c.position)
            )
            return [(row.subject, row.envelope) for row in rows]
    finally:
        await engine.dispose()
