import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.feedback.comments.support import (
    AGENT,
    ANALYST,
    PARTNER,
    SPAMMY,
    as_customer,
    comment_as,
    make_idea,
)


async def test_thread_lists_top_level_comments_oldest_first_with_replies_nested(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea_id = await make_idea(feedback_engine)
    first = await comment_as(feedback_client, idea_id, uuid.uuid4(), "First remark.")
    second = await comment_as(feedback_client, idea_id, uuid.uuid4(), "Second remark.")
    reply = await comment_as(feedback_client, idea_id, uuid.uuid4(), "Reply to first.", parent_id=first["id"])

    response = await feedback_client.get(f"/v1/ideas/{idea_id}/comments", headers=as_customer(uuid.uuid4()))

    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [c["id"] for c in items] == [first["id"], second["id"]]
    assert [r["id"] for r in items[0]["replies"]] == [reply["id"]]
    assert (items[0]["reply_count"], items[1]["reply_count"], items[1]["replies"]) == (1, 0, [])


async def test_thread_pages_follow_the_cursor_without_gaps_or_repeats(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea_id = await make_idea(feedback_engine)
    posted = [
        (await comment_as(feedback_client, idea_id, uuid.uuid4(), f"Remark {n}."))["id"] for n in range(5)
    ]
    seen: list[str] = []
    after = None

    for _ in range(3):
        params = {"limit": 2, **({"after": after} if after else {})}
        page = (
            await feedback_client.get(f"/v1/ideas/{idea_id}/comments", params=params, headers=AGENT)
        ).json()
        seen += [c["id"] for c in page["items"]]
        after = page["next_cursor"]

    assert seen == posted
    assert after is None


async def test_replies_are_capped_per_thread_with_the_full_reply_count(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea_id = await make_idea(feedback_engine)
    parent = await comment_as(feedback_client, idea_id, uuid.uuid4())
    replies = [
        (await comment_as(feedback_client, idea_id, uuid.uuid4(), f"Reply {n}.", parent_id=parent["id"]))[
            "id"
        ]
        for n in range(22)
    ]

    (thread,) = (await feedback_client.get(f"/v1/ideas/{idea_id}/comments", headers=AGENT)).json()["items"]

    assert [r["id"] for r in thread["replies"]] == replies[:20]
    assert thread["reply_count"] == 22


async def test_customer_sees_their_own_pending_comment_but_not_others(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    me, someone = uuid.uuid4(), uuid.uuid4()
    idea_id = await make_idea(feedback_engine)
    published = await comment_as(feedback_client, idea_id, uuid.uuid4())
    mine = await comment_as(feedback_client, idea_id, me, SPAMMY)
    theirs = await comment_as(feedback_client, idea_id, someone, SPAMMY + " again")
    assert (mine["moderation_state"], theirs["moderation_state"]) == ("pending", "pending")

    items = (await feedback_client.get(f"/v1/ideas/{idea_id}/comments", headers=as_customer(me))).json()[
        "items"
    ]

    assert [(c["id"], c["moderation_state"]) for c in items] == [
        (published["id"], "published"),
        (mine["id"], "pending"),
    ]


async def test_customer_does_not_see_other_customers_ids_or_spam_scores(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    me, author = uuid.uuid4(), uuid.uuid4()
    idea_id = await make_idea(feedback_engine)
    await comment_as(feedback_client, idea_id, author)
    await comment_as(feedback_client, idea_id, me)

    items = (await feedback_client.get(f"/v1/ideas/{idea_id}/comments", headers=as_customer(me))).json()[
        "items"
    ]

    assert [(c["author_id"], c["spam_score"]) for c in items] == [(None, None), (str(me), None)]


async def test_staff_see_every_comment_with_its_state_and_score(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    author = uuid.uuid4()
    idea_id = await make_idea(feedback_engine)
    held = await comment_as(feedback_client, idea_id, author, SPAMMY)

    items = (await feedback_client.get(f"/v1/ideas/{idea_id}/comments", headers=ANALYST)).json()["items"]

    assert [(c["id"], c["moderation_state"], c["author_id"], c["spam_score"]) for c in items] == [
        (held["id"], "pending", str(author), 1.5)
    ]


async def test_comments_of_a_hidden_idea_are_404_for_customers(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea_id = await make_idea(feedback_engine, moderation_state="hidden")

    customer = await feedback_client.get(f"/v1/ideas/{idea_id}/comments", headers=as_customer(uuid.uuid4()))
    staff = await feedback_client.get(f"/v1/ideas/{idea_id}/comments", headers=AGENT)

    assert (customer.status_code, staff.status_code) == (404, 200)


async def test_partner_token_cannot_read_comments(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea_id = await make_idea(feedback_engine)

    response = await feedback_client.get(f"/v1/ideas/{idea_id}/comments", headers=PARTNER)

    assert response.status_code == 403


async def test_malformed_cursor_is_422_naming_after(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea_id = await make_idea(feedback_engine)

    response = await feedback_client.get(
        f"/v1/ideas/{idea_id}/comments", params={"after": "eyJ4IjoxfQ=="}, headers=AGENT
    )

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["query.after"]


async def test_author_history_lists_a_customers_comments_newest_first_in_every_state(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    author = uuid.uuid4()
    first = await comment_as(feedback_client, await make_idea(feedback_engine), author, "On idea one.")
    held = await comment_as(feedback_client, await make_idea(feedback_engine), author, SPAMMY)
    await comment_as(feedback_client, await make_idea(feedback_engine), uuid.uuid4(), "Someone else.")

    response = await feedback_client.get("/v1/comments", params={"author_id": str(author)}, headers=AGENT)

    assert response.status_code == 200, response.text
    assert [(c["id"], c["moderation_state"]) for c in response.json()["items"]] == [
        (held["id"], "pending"),
        (first["id"], "published"),
    ]


async def test_customer_may_read_their_own_history_but_not_anothers(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    author = uuid.uuid4()
    await comment_as(feedback_client, await make_idea(feedback_engine), author)

    own = await feedback_client.get(
        "/v1/comments", params={"author_id": str(author)}, headers=as_customer(author)
    )
    other = await feedback_client.get(
        "/v1/comments", params={"author_id": str(author)}, headers=as_customer(uuid.uuid4())
    )

    assert (own.status_code, len(own.json()["items"]), other.status_code) == (200, 1, 403)
