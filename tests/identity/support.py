"""Helpers for identity tests: identify through the API, read back, look at the outbox."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from crm_common.auth import Role
from identity.database import metadata
from tests.support import bearer, staff_token

ADMIN = bearer(staff_token(Role.ADMIN))
AGENT = bearer(staff_token(Role.AGENT))


def ids(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"type": kind, "value": value} for kind, value in pairs]


async def identify(
    client: httpx.AsyncClient,
    *pairs: tuple[str, str],
    traits: dict[str, Any] | None = None,
    source: str = "crm",
    touchpoint: dict[str, Any] | None = None,
    expect: int = 200,
) -> dict[str, Any]:
    body: dict[str, Any] = {"identifiers": ids(*pairs), "traits": traits or {}, "source": source}
    if touchpoint is not None:
        body["touchpoint"] = touchpoint
    response = await client.post("/v1/identify", json=body, headers=ADMIN)
    assert response.status_code == expect, response.text
    return response.json()  # type: ignore[no-any-return]


async def customer(client: httpx.AsyncClient, customer_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/customers/{customer_id}", headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def outbox_events(database_url: str) -> list[dict[str, Any]]:
    engine = create_async_engine(make_url(database_url).set(drivername="postgresql+asyncpg"))
    try:
        async with engine.connect() as conn:
            table = metadata.tables["outbox_event"]
            rows = await conn.execute(select(table.c.envelope).order_by(table.c.position))
            return [row[0] for row in rows]
    finally:
        await engine.dispose()


def identifier_values(record: dict[str, Any]) -> set[tuple[str, str]]:
    return {(i["type"], i["value"]) for i in record["identifiers"]}
