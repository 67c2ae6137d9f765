"""``GET /v1/customers:comments``: the first page of each customer's comments, for the gateway."""

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.feedback.comments.support import ADMIN, AGENT, ANALYST, SPAMMY, as_customer, comment_as, make_idea
from tests.feedback.experience.batch_support import error_fields, recorded_selects, too_many_ids


async def _comments(
    client: httpx.AsyncClient, engine: AsyncEngine, author_id: uuid.UUID, count: int
) -> list[str]:
    """``count`` comments by the customer on a new idea; their ids newest first."""
    idea_id = await make_idea(engine)
    ids = [(await comment_as(client, idea_id, author_id, f"Comment number {n}."))["id"] for n in range(count)]
    return ids[::-1]


async def test_batch_gives_each_customer_the_first_page_the_single_listing_gives(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    await _comments(feedback_client, feedback_engine, first, 3)
    await _comments(feedback_client, feedback_engine, second, 1)

    batch = await feedback_client.get(
        "/v1/customers:comments", params={"ids": [str(first), str(second)], "limit": 2}, headers=AGENT
    )

    assert batch.status_code == 200, batch.text
    for customer_id in (first, second):
        single = await feedback_client.get(
            "/v1/comments", params={"author_id": str(customer_id), "limit": 2}, headers=AGENT
        )
        assert batch.json()["items"][str(customer_id)] == single.json()


async def test_staff_see_every_moderation_state_as_in_the_single_listing(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    author = uuid.uuid4()
    idea_id = await make_idea(feedback_engine)
    published = await comment_as(feedback_client, idea_id, author)
    held = await comment_as(feedback_client, idea_id, author, SPAMMY)
    staff = await feedback_client.post(
        f"/v1/ideas/{idea_id}/comments", json={"body": "Thanks, we are on it."}, headers=ADMIN
    )
    assert staff.status_code == 201, staff.text

    page = (
        await feedback_client.get("/v1/customers:comments", params={"ids": str(author)}, headers=ANALYST)
    ).json()["items"][str(author)]

    assert [(c["id"], c["moderation_state"]) for c in page["items"]] == [
        (held["id"], "pending"),
        (published["id"], "published"),
    ]
    assert all(c["author_id"] == str(author) and c["spam_score"] is not None for c in page["items"])


async def test_next_cursor_of_a_batch_page_continues_on_the_single_listing(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    author = uuid.uuid4()
    newest_first = await _comments(feedback_client, feedback_engine, author, 3)
    await _comments(feedback_client, feedback_engine, uuid.uuid4(), 2)

    page = (
        await feedback_client.get(
            "/v1/customers:comments", params={"ids": str(author), "limit": 2}, headers=AGENT
        )
    ).json()["items"][str(author)]
    rest = (
        await feedback_client.get(
            "/v1/comments", params={"author_id": str(author), "after": page["next_cursor"]}, headers=AGENT
        )
    ).json()

    assert [c["id"] for c in page["items"]] == newest_first[:2]
    assert [c["id"] for c in rest["items"]] == newest_first[2:]
    assert rest["next_cursor"] is None


async def test_a_customer_who_never_commented_gets_an_empty_page(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    author, silent = uuid.uuid4(), uuid.uuid4()
    await _comments(feedback_client, feedback_engine, author, 1)

    response = await feedback_client.get(
        "/v1/customers:comments", params={"ids": [str(author), str(silent), str(author)]}, headers=AGENT
    )

    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert set(items) == {str(author), str(silent)}
    assert items[str(silent)] == {"items": [], "next_cursor": None}


async def test_comments_of_many_customers_cost_one_query(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    authors = [uuid.uuid4() for _ in range(5)]
    for author in authors:
        await _comments(feedback_client, feedback_engine, author, 2)

    with recorded_selects(feedback_client) as statements:
        response = await feedback_client.get(
            "/v1/customers:comments", params={"ids": [str(a) for a in authors]}, headers=AGENT
        )

    assert all(len(page["items"]) == 2 for page in response.json()["items"].values())
    assert len([s for s in statements if "comment" in s]) == 1


async def test_a_customer_token_may_not_read_the_comments_batch(feedback_client: httpx.AsyncClient) -> None:
    customer_id = uuid.uuid4()

    response = await feedback_client.get(
        "/v1/customers:comments", params={"ids": str(customer_id)}, headers=as_customer(customer_id)
    )

    assert response.status_code == 403


async def test_more_than_200_ids_are_rejected_naming_the_field(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.get(
        "/v1/customers:comments", params={"ids": too_many_ids()}, headers=AGENT
    )

    assert (response.status_code, error_fields(response)) == (422, ["query.ids"])


async def test_a_malformed_id_is_rejected_naming_its_position(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.get(
        "/v1/customers:comments", params={"ids": [str(uuid.uuid4()), "x"]}, headers=AGENT
    )

    assert (response.status_code, error_fields(response)) == (422, ["query.ids.1"])
