"""``GET /v1/customers:ideas``: the first page of ideas each customer authored, newest first."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.feedback.comments.support import make_idea
from tests.feedback.experience.batch_support import error_fields, recorded_selects, too_many_ids
from tests.feedback.ideas.support import ADMIN, AGENT, as_customer

BASE = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)


async def _ideas(
    engine: AsyncEngine, author_id: uuid.UUID, count: int, *, moderation_state: str = "published"
) -> list[str]:
    """``count`` ideas by the author, an hour apart; their ids newest first."""
    ids = [
        await make_idea(
            engine,
            author_id=author_id,
            moderation_state=moderation_state,
            created_at=BASE + timedelta(hours=n),
        )
        for n in range(count)
    ]
    return [str(idea_id) for idea_id in ids[::-1]]


async def test_batch_gives_each_author_the_first_page_the_newest_listing_gives(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    await _ideas(feedback_engine, first, 3)
    await _ideas(feedback_engine, second, 1)

    batch = await feedback_client.get(
        "/v1/customers:ideas", params={"ids": [str(first), str(second)], "limit": 2}, headers=AGENT
    )

    assert batch.status_code == 200, batch.text
    for author in (first, second):
        single = await feedback_client.get(
            "/v1/ideas", params={"author_id": str(author), "sort": "newest", "limit": 2}, headers=AGENT
        )
        assert batch.json()["items"][str(author)] == single.json()


async def test_next_cursor_continues_on_the_newest_listing_by_author(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    author = uuid.uuid4()
    newest_first = await _ideas(feedback_engine, author, 3)
    await _ideas(feedback_engine, uuid.uuid4(), 2)

    page = (
        await feedback_client.get(
            "/v1/customers:ideas", params={"ids": str(author), "limit": 2}, headers=AGENT
        )
    ).json()["items"][str(author)]
    rest = (
        await feedback_client.get(
            "/v1/ideas",
            params={"author_id": str(author), "sort": "newest", "after": page["next_cursor"]},
            headers=AGENT,
        )
    ).json()

    assert [i["id"] for i in page["items"]] == newest_first[:2]
    assert [i["id"] for i in rest["items"]] == newest_first[2:]
    assert rest["next_cursor"] is None


async def test_held_and_merged_ideas_are_left_out_as_the_listing_leaves_them_out(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    author = uuid.uuid4()
    [shown, merged] = await _ideas(feedback_engine, author, 2)
    [held] = await _ideas(feedback_engine, author, 1, moderation_state="pending")
    async with feedback_engine.begin() as conn:
        await conn.execute(
            text("UPDATE idea SET merged_into_id = :into, status = 'duplicate' WHERE id = :id"),
            {"into": shown, "id": merged},
        )

    published = await feedback_client.get("/v1/customers:ideas", params={"ids": str(author)}, headers=ADMIN)
    pending = await feedback_client.get(
        "/v1/customers:ideas", params={"ids": str(author), "moderation_state": "pending"}, headers=ADMIN
    )

    assert [i["id"] for i in published.json()["items"][str(author)]["items"]] == [shown]
    assert [i["id"] for i in pending.json()["items"][str(author)]["items"]] == [held]


async def test_an_author_without_ideas_gets_an_empty_page(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    author, silent = uuid.uuid4(), uuid.uuid4()
    await _ideas(feedback_engine, author, 1)

    response = await feedback_client.get(
        "/v1/customers:ideas", params={"ids": [str(silent), str(author), str(author)]}, headers=AGENT
    )

    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert set(items) == {str(author), str(silent)}
    assert items[str(silent)] == {"items": [], "next_cursor": None}
    assert items[str(author)]["items"][0]["author_id"] == str(author)  # staff see who wrote it


async def test_ideas_of_many_authors_cost_one_query(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    authors = [uuid.uuid4() for _ in range(5)]
    for author in authors:
        await _ideas(feedback_engine, author, 2)

    with recorded_selects(feedback_client) as statements:
        response = await feedback_client.get(
            "/v1/customers:ideas", params={"ids": [str(a) for a in authors]}, headers=AGENT
        )

    assert all(len(page["items"]) == 2 for page in response.json()["items"].values())
    assert len(statements) == 1


async def test_a_customer_token_may_not_read_the_ideas_batch(feedback_client: httpx.AsyncClient) -> None:
    customer_id = uuid.uuid4()

    response = await feedback_client.get(
        "/v1/customers:ideas", params={"ids": str(customer_id)}, headers=as_customer(customer_id)
    )

    assert response.status_code == 403


async def test_more_than_200_ids_are_rejected_naming_the_field(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.get("/v1/customers:ideas", params={"ids": too_many_ids()}, headers=AGENT)

    assert (response.status_code, error_fields(response)) == (422, ["query.ids"])


async def test_a_malformed_id_or_moderation_state_is_rejected_naming_the_field(
    feedback_client: httpx.AsyncClient,
) -> None:
    bad_id = await feedback_client.get(
        "/v1/customers:ideas", params={"ids": [str(uuid.uuid4()), "?"]}, headers=AGENT
    )
    bad_state = await feedback_client.get(
        "/v1/customers:ideas", params={"ids": str(uuid.uuid4()), "moderation_state": "gone"}, headers=AGENT
    )

    assert (bad_id.status_code, error_fields(bad_id)) == (422, ["query.ids.1"])
    assert (bad_state.status_code, error_fields(bad_state)) == (422, ["query.moderation_state"])
