import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.feedback.comments.support import (
    ADMIN,
    AGENT,
    ANALYST,
    MARKETER,
    actions_for,
    as_customer,
    make_idea,
    post_comment,
)
from tests.feedback.support import count_rows


async def _block(
    client: httpx.AsyncClient, customer_id: uuid.UUID, headers: dict[str, str] = AGENT
) -> httpx.Response:
    return await client.post(
        "/v1/moderation/blocks",
        json={"customer_id": str(customer_id), "reason": "Spam links"},
        headers=headers,
    )


async def test_block_then_403_then_unblock_lets_the_customer_post_again(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    author = uuid.uuid4()
    idea_id = await make_idea(feedback_engine)

    blocked = await _block(feedback_client, author)
    refused = await post_comment(feedback_client, idea_id, as_customer(author))
    unblocked = await feedback_client.delete(f"/v1/moderation/blocks/{author}", headers=AGENT)
    allowed = await post_comment(feedback_client, idea_id, as_customer(author))

    assert blocked.status_code == 201, blocked.text
    assert (blocked.json()["customer_id"], blocked.json()["blocked_by"]) == (str(author), "agent:staff-agent")
    assert (refused.status_code, refused.json()["type"].split("/")[-1]) == (403, "author-blocked")
    assert (unblocked.status_code, allowed.status_code) == (204, 201)
    assert [(a.target_kind, a.action, a.reason) for a in await actions_for(feedback_engine, author)] == [
        ("author", "block", "Spam links"),
        ("author", "unblock", None),
    ]


async def test_blocking_a_blocked_customer_is_409(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    author = uuid.uuid4()
    await _block(feedback_client, author)

    response = await _block(feedback_client, author)

    assert response.status_code == 409
    assert response.json()["type"].endswith("/author-already-blocked")
    assert await count_rows(feedback_engine, "author_block") == 1


async def test_unblocking_a_customer_who_is_not_blocked_is_404(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.delete(f"/v1/moderation/blocks/{uuid.uuid4()}", headers=AGENT)

    assert response.status_code == 404
    assert response.json()["type"].endswith("/author-block-not-found")


async def test_a_block_needs_a_reason(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    response = await feedback_client.post(
        "/v1/moderation/blocks", json={"customer_id": str(uuid.uuid4()), "reason": " "}, headers=AGENT
    )

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["body.reason"]
    assert await count_rows(feedback_engine, "author_block") == 0


@pytest.mark.parametrize(("headers", "expected"), [(ADMIN, 201), (ANALYST, 403), (MARKETER, 403)])
async def test_only_moderators_block(
    feedback_client: httpx.AsyncClient, headers: dict[str, str], expected: int
) -> None:
    response = await _block(feedback_client, uuid.uuid4(), headers)

    assert response.status_code == expected


async def test_a_retried_block_with_the_same_key_is_replayed(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    author = uuid.uuid4()
    headers = {**AGENT, "Idempotency-Key": "block-1"}

    first = await _block(feedback_client, author, headers)
    second = await _block(feedback_client, author, headers)

    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert await count_rows(feedback_engine, "moderation_action") == 1


async def test_blocks_are_listed_newest_first_page_by_page(feedback_client: httpx.AsyncClient) -> None:
    customers = [uuid.uuid4() for _ in range(3)]
    for customer in customers:
        await _block(feedback_client, customer)
    seen: list[str] = []
    after = None

    for _ in range(2):
        params = {"limit": 2, **({"after": after} if after else {})}
        page = (await feedback_client.get("/v1/moderation/blocks", params=params, headers=ANALYST)).json()
        seen += [b["customer_id"] for b in page["items"]]
        after = page["next_cursor"]

    assert seen == [str(c) for c in reversed(customers)]
    assert after is None
