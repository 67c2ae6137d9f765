"""``GET /v1/customers:votes``: the first page of each customer's votes, for the gateway's loaders."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.feedback.experience.batch_support import error_fields, recorded_selects, too_many_ids
from tests.feedback.experience.support import ANALYST, MARKETER, as_customer
from tests.feedback.support import seed_idea

BASE = datetime(2026, 4, 6, 12, 0, tzinfo=UTC)


async def _votes(engine: AsyncEngine, customer_id: uuid.UUID, count: int) -> list[str]:
    """The customer votes up ``count`` new ideas, a minute apart; the idea ids, newest vote first."""
    idea_ids = [await seed_idea(engine) for _ in range(count)]
    async with engine.begin() as conn:
        for n, idea_id in enumerate(idea_ids):
            await conn.execute(
                text("INSERT INTO vote (idea_id, customer_id, direction, cast_at) VALUES (:i, :c, :d, :t)"),
                {
                    "i": idea_id,
                    "c": customer_id,
                    "d": 1 if n % 2 == 0 else -1,
                    "t": BASE + timedelta(minutes=n),
                },
            )
    return [str(idea_id) for idea_id in idea_ids[::-1]]


async def test_batch_gives_each_customer_the_first_page_the_single_listing_gives(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    await _votes(feedback_engine, first, 3)
    await _votes(feedback_engine, second, 1)

    batch = await feedback_client.get(
        "/v1/customers:votes", params={"ids": [str(first), str(second)], "limit": 2}, headers=ANALYST
    )

    assert batch.status_code == 200, batch.text
    for customer_id in (first, second):
        single = await feedback_client.get(f"/v1/customers/{customer_id}/votes?limit=2", headers=ANALYST)
        assert batch.json()["items"][str(customer_id)] == single.json()
    assert [v["direction"] for v in batch.json()["items"][str(first)]["items"]] == ["up", "down"]


async def test_next_cursor_of_a_batch_page_continues_on_the_single_listing(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    customer_id = uuid.uuid4()
    newest_first = await _votes(feedback_engine, customer_id, 4)
    await _votes(feedback_engine, uuid.uuid4(), 2)

    page = (
        await feedback_client.get(
            "/v1/customers:votes", params={"ids": str(customer_id), "limit": 3}, headers=MARKETER
        )
    ).json()["items"][str(customer_id)]
    rest = (
        await feedback_client.get(
            f"/v1/customers/{customer_id}/votes", params={"after": page["next_cursor"]}, headers=MARKETER
        )
    ).json()

    assert [v["idea_id"] for v in page["items"]] == newest_first[:3]
    assert [v["idea_id"] for v in rest["items"]] == newest_first[3:]
    assert rest["next_cursor"] is None


async def test_a_customer_who_never_voted_gets_an_empty_page(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    voter, silent = uuid.uuid4(), uuid.uuid4()
    await _votes(feedback_engine, voter, 1)

    response = await feedback_client.get(
        "/v1/customers:votes", params={"ids": [str(silent), str(voter), str(silent)]}, headers=ANALYST
    )

    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert set(items) == {str(voter), str(silent)}
    assert items[str(silent)] == {"items": [], "next_cursor": None}
    assert len(items[str(voter)]["items"]) == 1


async def test_votes_of_many_customers_cost_one_query(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    customers = [uuid.uuid4() for _ in range(5)]
    for customer_id in customers:
        await _votes(feedback_engine, customer_id, 2)

    with recorded_selects(feedback_client) as statements:
        response = await feedback_client.get(
            "/v1/customers:votes", params={"ids": [str(c) for c in customers]}, headers=ANALYST
        )

    assert all(len(page["items"]) == 2 for page in response.json()["items"].values())
    assert len([s for s in statements if "vote" in s]) == 1


async def test_a_customer_token_may_not_read_the_votes_batch(feedback_client: httpx.AsyncClient) -> None:
    customer_id = uuid.uuid4()

    response = await feedback_client.get(
        "/v1/customers:votes", params={"ids": str(customer_id)}, headers=as_customer(customer_id)
    )

    assert response.status_code == 403


async def test_more_than_200_ids_are_rejected_naming_the_field(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.get(
        "/v1/customers:votes", params={"ids": too_many_ids()}, headers=ANALYST
    )

    assert (response.status_code, error_fields(response)) == (422, ["query.ids"])


async def test_a_malformed_id_is_rejected_naming_its_position(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.get(
        "/v1/customers:votes", params={"ids": [str(uuid.uuid4()), "12"]}, headers=ANALYST
    )

    assert (response.status_code, error_fields(response)) == (422, ["query.ids.1"])
