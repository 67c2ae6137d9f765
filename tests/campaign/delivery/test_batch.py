"""The batch read the gateway's DataLoaders use: the first page of several customers' message history."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crm_common.auth import Role
from tests.campaign.delivery.support import add_content, add_members, enqueue
from tests.support import bearer, customer_token, staff_token

AGENT = bearer(staff_token(Role.AGENT))
PATH = "/v1/customers:messages"


@contextmanager
def recorded_statements() -> Iterator[list[str]]:
    """The SQL statements sent to PostgreSQL while the block runs."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", record)


async def _messages(sessions: async_sessionmaker[AsyncSession], customer_id: uuid.UUID, count: int) -> None:
    """``count`` messages to the customer, one campaign each, each in its own transaction (so their
    ``created_at`` differ as they would in production)."""
    for _ in range(count):
        campaign_id = uuid.uuid4()
        content_id = await add_content(sessions, campaign_id)
        await enqueue(sessions, [customer_id], campaign_id=campaign_id, content_id=content_id)


async def _single_history(client: httpx.AsyncClient, customer_id: uuid.UUID, after: str | None) -> list[Any]:
    """Every message from ``after`` on, through the single endpoint's pages."""
    seen: list[Any] = []
    while True:
        params: dict[str, Any] = {"limit": 2, **({"after": after} if after else {})}
        response = await client.get(f"/v1/customers/{customer_id}/messages", params=params, headers=AGENT)
        assert response.status_code == 200, response.text
        seen += response.json()["items"]
        after = response.json()["next_cursor"]
        if after is None:
            return seen


async def test_first_pages_match_the_single_endpoint_and_continue_there(
    campaign_client: httpx.AsyncClient,
    campaign_engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    busy, quiet, silent = await add_members(campaign_engine, 3)
    await _messages(sessions, busy, 5)
    await _messages(sessions, quiet, 2)

    response = await campaign_client.get(
        PATH, params={"ids": [str(i) for i in (busy, quiet, silent, busy)], "limit": 2}, headers=AGENT
    )

    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert set(items) == {str(busy), str(quiet), str(silent)}
    for customer_id in (busy, quiet, silent):
        single = await campaign_client.get(
            f"/v1/customers/{customer_id}/messages", params={"limit": 2}, headers=AGENT
        )
        assert items[str(customer_id)] == single.json()
    first = items[str(busy)]
    assert len(first["items"]) == 2 and first["next_cursor"] is not None
    assert all(m["customer_id"] == str(busy) for m in first["items"])
    assert len(items[str(quiet)]["items"]) == 2 and items[str(quiet)]["next_cursor"] is None
    assert items[str(silent)] == {"items": [], "next_cursor": None}
    rest = await _single_history(campaign_client, busy, first["next_cursor"])
    everything = await _single_history(campaign_client, busy, None)
    assert [m["id"] for m in first["items"] + rest] == [m["id"] for m in everything]
    assert len(everything) == 5


async def test_the_default_page_is_ten_messages_newest_first(
    campaign_client: httpx.AsyncClient,
    campaign_engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    (customer,) = await add_members(campaign_engine, 1)
    await _messages(sessions, customer, 11)

    response = await campaign_client.get(PATH, params={"ids": [str(customer)]}, headers=AGENT)

    page = response.json()["items"][str(customer)]
    assert len(page["items"]) == 10 and page["next_cursor"] is not None
    created = [(m["created_at"], m["id"]) for m in page["items"]]
    assert created == sorted(created, reverse=True)


async def test_the_whole_batch_is_read_in_one_query(
    campaign_client: httpx.AsyncClient,
    campaign_engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    customers = await add_members(campaign_engine, 3)
    for customer_id in customers:
        await _messages(sessions, customer_id, 2)
    ids = [str(i) for i in (*customers, *(uuid.uuid4() for _ in range(20)))]

    with recorded_statements() as statements:
        response = await campaign_client.get(PATH, params={"ids": ids, "limit": 1}, headers=AGENT)

    assert response.status_code == 200
    assert sum(len(page["items"]) for page in response.json()["items"].values()) == 3
    assert len([s for s in statements if "FROM delivery" in s]) == 1


@pytest.mark.parametrize("limit", [0, 101])
async def test_a_limit_outside_1_to_100_is_a_422_naming_the_field(
    campaign_client: httpx.AsyncClient, limit: int
) -> None:
    response = await campaign_client.get(
        PATH, params={"ids": [str(uuid.uuid4())], "limit": limit}, headers=AGENT
    )

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["query.limit"]


async def test_more_than_200_ids_is_a_422_naming_the_field(campaign_client: httpx.AsyncClient) -> None:
    response = await campaign_client.get(
        PATH, params={"ids": [str(uuid.uuid4()) for _ in range(201)]}, headers=AGENT
    )

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["query.ids"]


async def test_a_malformed_or_absent_id_is_a_422_naming_the_field(campaign_client: httpx.AsyncClient) -> None:
    malformed = await campaign_client.get(PATH, params={"ids": [str(uuid.uuid4()), "nope"]}, headers=AGENT)
    absent = await campaign_client.get(PATH, headers=AGENT)

    assert malformed.status_code == 422
    assert [e["field"] for e in malformed.json()["errors"]] == ["query.ids.1"]
    assert absent.status_code == 422
    assert [e["field"] for e in absent.json()["errors"]] == ["query.ids"]


async def test_the_batch_refuses_customers_partners_and_anonymous_callers(
    campaign_client: httpx.AsyncClient,
) -> None:
    customer_id = uuid.uuid4()
    params = {"ids": [str(customer_id)]}

    as_customer = await campaign_client.get(PATH, params=params, headers=bearer(customer_token(customer_id)))
    as_partner = await campaign_client.get(PATH, params=params, headers=bearer(staff_token(Role.PARTNER)))
    anonymous = await campaign_client.get(PATH, params=params)

    assert as_customer.status_code == 403
    assert as_partner.status_code == 403
    assert anonymous.status_code == 401
