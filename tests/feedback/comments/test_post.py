import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from feedback.main import create_app
from feedback.settings import FeedbackSettings
from tests.feedback.comments.support import (
    AGENT,
    ANALYST,
    MARKETER,
    PARTNER,
    as_customer,
    comment_as,
    comment_row,
    events_of_type,
    idea_row,
    make_board,
    make_idea,
    post_comment,
    published_comment_count,
)
from tests.feedback.support import count_rows
from tests.support import running_app


async def test_customer_comment_is_published_and_counted_on_the_idea(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    author = uuid.uuid4()
    idea_id = await make_idea(feedback_engine)
    before = await idea_row(feedback_engine, idea_id)

    body = await comment_as(feedback_client, idea_id, author, "I would use this every day.")

    assert (body["author_kind"], body["author_id"], body["official"]) == ("customer", str(author), False)
    assert (body["moderation_state"], body["parent_id"], body["body"]) == (
        "published",
        None,
        "I would use this every day.",
    )
    after = await idea_row(feedback_engine, idea_id)
    assert after.comment_count == 1 == await published_comment_count(feedback_engine, idea_id)
    assert after.trending_score > before.trending_score


async def test_staff_comment_is_official_and_published_without_heuristics(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea_id = await make_idea(feedback_engine)
    many_links = " ".join(f"https://help.example.com/article/{n}" for n in range(6))

    response = await post_comment(feedback_client, idea_id, AGENT, f"See these articles: {many_links}")

    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["author_kind"], body["official"], body["staff_subject"], body["author_id"]) == (
        "staff",
        True,
        "staff-agent",
        None,
    )
    assert (body["moderation_state"], body["spam_score"]) == ("published", 0.0)
    assert (await idea_row(feedback_engine, idea_id)).comment_count == 1


async def test_marketer_may_comment_but_analyst_and_partner_may_not(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea_id = await make_idea(feedback_engine)

    marketer = await post_comment(feedback_client, idea_id, MARKETER)
    analyst = await post_comment(feedback_client, idea_id, ANALYST)
    partner = await post_comment(feedback_client, idea_id, PARTNER)

    assert (marketer.status_code, analyst.status_code, partner.status_code) == (201, 403, 403)
    assert await count_rows(feedback_engine, "comment") == 1


async def test_comment_without_a_token_is_401(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.post(f"/v1/ideas/{uuid.uuid4()}/comments", json={"body": "Hello there"})

    assert response.status_code == 401


async def test_reply_is_stored_under_its_top_level_comment(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea_id = await make_idea(feedback_engine)
    parent = await comment_as(feedback_client, idea_id, uuid.uuid4())

    reply = await comment_as(
        feedback_client, idea_id, uuid.uuid4(), "Agreed, me too.", parent_id=parent["id"]
    )

    assert reply["parent_id"] == parent["id"]
    assert (await idea_row(feedback_engine, idea_id)).comment_count == 2


async def test_reply_to_a_reply_is_422_naming_parent_id_and_writes_nothing(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea_id = await make_idea(feedback_engine)
    parent = await comment_as(feedback_client, idea_id, uuid.uuid4())
    reply = await comment_as(feedback_client, idea_id, uuid.uuid4(), parent_id=parent["id"])

    response = await post_comment(
        feedback_client, idea_id, as_customer(uuid.uuid4()), "Deeper!", parent_id=reply["id"]
    )

    assert response.status_code == 422
    problem = response.json()
    assert problem["type"].endswith("/invalid-parent")
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [("body.parent_id", "reply_to_reply")]
    assert await count_rows(feedback_engine, "comment") == 2
    assert (await idea_row(feedback_engine, idea_id)).comment_count == 2
    assert await count_rows(feedback_engine, "rate_limit_state") == 2  # the two accepted authors only


async def test_unknown_parent_is_422_naming_parent_id(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea_id = await make_idea(feedback_engine)

    response = await post_comment(
        feedback_client, idea_id, as_customer(uuid.uuid4()), parent_id=str(uuid.uuid4())
    )

    assert response.status_code == 422
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [
        ("body.parent_id", "parent_not_found")
    ]
    assert await count_rows(feedback_engine, "comment") == 0


async def test_parent_on_another_idea_is_422(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea_id = await make_idea(feedback_engine)
    other_idea = await make_idea(feedback_engine)
    elsewhere = await comment_as(feedback_client, other_idea, uuid.uuid4())

    response = await post_comment(
        feedback_client, idea_id, as_customer(uuid.uuid4()), parent_id=elsewhere["id"]
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.parent_id"
    assert await count_rows(feedback_engine, "comment") == 1


@pytest.mark.parametrize("text", ["", "   \n\t  ", "x" * 5001])
async def test_empty_or_oversized_body_is_422_naming_body(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine, text: str
) -> None:
    idea_id = await make_idea(feedback_engine)

    response = await post_comment(feedback_client, idea_id, as_customer(uuid.uuid4()), text)

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["body.body"]
    assert await count_rows(feedback_engine, "comment") == 0


async def test_body_of_exactly_5000_characters_is_accepted(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea_id = await make_idea(feedback_engine)

    response = await post_comment(
        feedback_client, idea_id, as_customer(uuid.uuid4()), "word " * 999 + "end!!"
    )

    assert response.status_code == 201, response.text


async def test_commenting_on_an_unknown_idea_is_404(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    response = await post_comment(feedback_client, uuid.uuid4(), as_customer(uuid.uuid4()))

    assert response.status_code == 404
    assert response.json()["type"].endswith("/idea-not-found")


async def test_customer_commenting_on_a_hidden_idea_gets_404_and_writes_nothing(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea_id = await make_idea(feedback_engine, moderation_state="hidden")

    response = await post_comment(feedback_client, idea_id, as_customer(uuid.uuid4()))

    assert response.status_code == 404
    assert await count_rows(feedback_engine, "comment") == 0


async def test_blocked_customer_gets_403_author_blocked(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    author = uuid.uuid4()
    idea_id = await make_idea(feedback_engine)
    blocked = await feedback_client.post(
        "/v1/moderation/blocks",
        json={"customer_id": str(author), "reason": "Abusive language"},
        headers=AGENT,
    )
    assert blocked.status_code == 201, blocked.text

    response = await post_comment(feedback_client, idea_id, as_customer(author))

    assert response.status_code == 403
    assert response.json()["type"].endswith("/author-blocked")
    assert await count_rows(feedback_engine, "comment") == 0


async def test_retry_with_the_same_idempotency_key_replays_the_first_comment(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea_id = await make_idea(feedback_engine)
    headers = {**as_customer(uuid.uuid4()), "Idempotency-Key": "comment-1"}

    first = await post_comment(feedback_client, idea_id, headers, "Count me in.")
    second = await post_comment(feedback_client, idea_id, headers, "Count me in.")

    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert await count_rows(feedback_engine, "comment") == 1
    assert (await idea_row(feedback_engine, idea_id)).comment_count == 1


async def test_same_idempotency_key_with_another_body_is_409(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea_id = await make_idea(feedback_engine)
    headers = {**as_customer(uuid.uuid4()), "Idempotency-Key": "comment-2"}
    await post_comment(feedback_client, idea_id, headers, "Count me in.")

    response = await post_comment(feedback_client, idea_id, headers, "Something else entirely.")

    assert response.status_code == 409
    assert response.json()["type"].endswith("/idempotency-key-reused")
    assert await count_rows(feedback_engine, "comment") == 1


async def test_customer_over_the_comment_rate_gets_429_with_retry_after(
    feedback_settings: FeedbackSettings, feedback_engine: AsyncEngine
) -> None:
    settings = feedback_settings.model_copy(update={"comment_rate": (2, 3600.0)})
    author = uuid.uuid4()
    idea_id = await make_idea(feedback_engine)
    async with running_app(create_app(settings)) as client:
        statuses = [
            (await post_comment(client, idea_id, as_customer(author), f"Thought number {n} here")).status_code
            for n in range(3)
        ]
        limited = await post_comment(client, idea_id, as_customer(author), "One more thought")

    assert statuses == [201, 201, 429]
    assert int(limited.headers["Retry-After"]) > 0
    assert await count_rows(feedback_engine, "comment") == 2


async def test_comment_posted_event_carries_ids_and_state_but_no_text(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    author = uuid.uuid4()
    idea_id = await make_idea(feedback_engine)
    parent = await comment_as(feedback_client, idea_id, uuid.uuid4())

    reply = await comment_as(feedback_client, idea_id, author, "A secret-ish remark.", parent_id=parent["id"])

    event = (await events_of_type(feedback_engine, "comment.posted"))[-1]
    assert event["subject_id"] == reply["id"]
    assert event["payload"] == {
        "comment_id": reply["id"],
        "idea_id": str(idea_id),
        "author_id": str(author),
        "author_kind": "customer",
        "parent_id": parent["id"],
        "moderation_state": "published",
    }


async def test_comment_on_a_pre_moderated_board_waits_and_is_not_counted(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea_id = await make_idea(feedback_engine, board_id=await make_board(feedback_engine, mode="pre"))

    body = await comment_as(feedback_client, idea_id, uuid.uuid4(), "A perfectly normal remark.")

    assert body["moderation_state"] == "pending"
    assert (await idea_row(feedback_engine, idea_id)).comment_count == 0
    assert (await comment_row(feedback_engine, body["id"])).spam_score == 0.0
