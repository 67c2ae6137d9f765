import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.feedback.comments.support import (
    ADMIN,
    AGENT,
    ANALYST,
    MARKETER,
    SPAMMY,
    actions_for,
    as_customer,
    comment_as,
    comment_row,
    events_of_type,
    idea_row,
    make_idea,
    published_comment_count,
)
from tests.feedback.support import count_rows


async def _moderate(
    client: httpx.AsyncClient,
    kind: str,
    target: object,
    action: str,
    *,
    reason: str | None = None,
    headers: dict[str, str] = AGENT,
) -> httpx.Response:
    body = {"reason": reason} if reason is not None else None
    return await client.post(f"/v1/moderation/{kind}/{target}/{action}", json=body, headers=headers)


async def test_approving_a_held_comment_publishes_and_counts_it(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea_id = await make_idea(feedback_engine)
    held = await comment_as(feedback_client, idea_id, uuid.uuid4(), SPAMMY)

    response = await _moderate(feedback_client, "comments", held["id"], "approve", reason="Known reseller")

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["target_kind"], body["previous_state"], body["moderation_state"]) == (
        "comment",
        "pending",
        "published",
    )
    assert (body["action"]["action"], body["action"]["actor"], body["action"]["reason"]) == (
        "approve",
        "agent:staff-agent",
        "Known reseller",
    )
    assert (await idea_row(feedback_engine, idea_id)).comment_count == 1


async def test_rejecting_a_held_comment_leaves_the_count_alone(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea_id = await make_idea(feedback_engine)
    held = await comment_as(feedback_client, idea_id, uuid.uuid4(), SPAMMY)

    response = await _moderate(feedback_client, "comments", held["id"], "reject")

    assert response.json()["moderation_state"] == "rejected"
    assert (await idea_row(feedback_engine, idea_id)).comment_count == 0


async def test_hiding_and_restoring_a_comment_moves_the_idea_count_and_trending(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea_id = await make_idea(feedback_engine)
    before = (await idea_row(feedback_engine, idea_id)).trending_score
    comment = await comment_as(feedback_client, idea_id, uuid.uuid4())
    with_comment = (await idea_row(feedback_engine, idea_id)).trending_score

    hidden = await _moderate(feedback_client, "comments", comment["id"], "hide")
    after_hide = await idea_row(feedback_engine, idea_id)
    restored = await _moderate(feedback_client, "comments", comment["id"], "restore")
    after_restore = await idea_row(feedback_engine, idea_id)

    assert (hidden.json()["moderation_state"], restored.json()["moderation_state"]) == ("hidden", "published")
    assert (after_hide.comment_count, after_restore.comment_count) == (0, 1)
    assert after_hide.trending_score == pytest.approx(before)
    assert after_restore.trending_score == pytest.approx(with_comment)
    assert after_restore.comment_count == await published_comment_count(feedback_engine, idea_id)


@pytest.mark.parametrize("action", ["approve", "restore", "reject"])
async def test_an_action_that_does_not_apply_to_a_published_comment_is_409_and_writes_nothing(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine, action: str
) -> None:
    idea_id = await make_idea(feedback_engine)
    comment = await comment_as(feedback_client, idea_id, uuid.uuid4())

    response = await _moderate(feedback_client, "comments", comment["id"], action)

    assert response.status_code == 409
    problem = response.json()
    assert problem["type"].endswith("/moderation-transition-not-allowed")
    assert problem["current_state"] == "published"
    assert await count_rows(feedback_engine, "moderation_action") == 0
    assert (await comment_row(feedback_engine, comment["id"])).moderation_state == "published"


async def test_hiding_a_held_comment_is_409(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    held = await comment_as(feedback_client, await make_idea(feedback_engine), uuid.uuid4(), SPAMMY)

    response = await _moderate(feedback_client, "comments", held["id"], "hide")

    assert response.status_code == 409
    assert await count_rows(feedback_engine, "moderation_action") == 1  # the heuristics' hold only


async def test_moderating_an_unknown_comment_is_404(feedback_client: httpx.AsyncClient) -> None:
    response = await _moderate(feedback_client, "comments", uuid.uuid4(), "hide")

    assert response.status_code == 404
    assert response.json()["type"].endswith("/comment-not-found")


async def test_an_unknown_action_is_422_naming_it(feedback_client: httpx.AsyncClient) -> None:
    response = await _moderate(feedback_client, "comments", uuid.uuid4(), "delete")

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["path.action"]


async def test_moderating_a_comment_emits_comment_moderated(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea_id = await make_idea(feedback_engine)
    held = await comment_as(feedback_client, idea_id, uuid.uuid4(), SPAMMY)

    await _moderate(feedback_client, "comments", held["id"], "approve")

    (event,) = await events_of_type(feedback_engine, "comment.moderated")
    assert {k: event["payload"][k] for k in ("comment_id", "from_state", "moderation_state", "action")} == {
        "comment_id": held["id"],
        "from_state": "pending",
        "moderation_state": "published",
        "action": "approve",
    }


async def test_approving_a_held_idea_publishes_it_and_logs_the_action(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea_id = await make_idea(feedback_engine, moderation_state="pending")

    response = await _moderate(feedback_client, "ideas", idea_id, "approve", reason="Fine after all")

    assert response.status_code == 200, response.text
    assert (response.json()["previous_state"], response.json()["moderation_state"]) == (
        "pending",
        "published",
    )
    assert (await idea_row(feedback_engine, idea_id)).moderation_state == "published"
    (action,) = await actions_for(feedback_engine, idea_id)
    assert (action.target_kind, action.action, action.reason) == ("idea", "approve", "Fine after all")


async def test_hiding_a_published_idea_then_restoring_it(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea_id = await make_idea(feedback_engine)

    hidden = await _moderate(feedback_client, "ideas", idea_id, "hide")
    as_customer_now = await feedback_client.get(
        f"/v1/ideas/{idea_id}/comments", headers=as_customer(uuid.uuid4())
    )
    restored = await _moderate(feedback_client, "ideas", idea_id, "restore")

    assert (hidden.json()["moderation_state"], restored.json()["moderation_state"]) == ("hidden", "published")
    assert as_customer_now.status_code == 404


async def test_restoring_a_published_idea_is_409(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea_id = await make_idea(feedback_engine)

    response = await _moderate(feedback_client, "ideas", idea_id, "restore")

    assert response.status_code == 409
    assert (await idea_row(feedback_engine, idea_id)).moderation_state == "published"
    assert await count_rows(feedback_engine, "moderation_action") == 0


async def test_moderating_an_unknown_idea_is_404(feedback_client: httpx.AsyncClient) -> None:
    response = await _moderate(feedback_client, "ideas", uuid.uuid4(), "hide")

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("headers", "expected"), [(ADMIN, 200), (AGENT, 200), (ANALYST, 403), (MARKETER, 403)]
)
async def test_only_admins_and_agents_moderate(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine, headers: dict[str, str], expected: int
) -> None:
    comment = await comment_as(feedback_client, await make_idea(feedback_engine), uuid.uuid4())

    response = await _moderate(feedback_client, "comments", comment["id"], "hide", headers=headers)

    assert response.status_code == expected


async def test_a_customer_cannot_moderate(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    author = uuid.uuid4()
    comment = await comment_as(feedback_client, await make_idea(feedback_engine), author)

    response = await _moderate(
        feedback_client, "comments", comment["id"], "hide", headers=as_customer(author)
    )

    assert response.status_code == 403


async def test_a_retried_moderation_with_the_same_key_is_replayed_not_repeated(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    comment = await comment_as(feedback_client, await make_idea(feedback_engine), uuid.uuid4())
    headers = {**AGENT, "Idempotency-Key": "hide-1"}

    first = await _moderate(feedback_client, "comments", comment["id"], "hide", headers=headers)
    second = await _moderate(feedback_client, "comments", comment["id"], "hide", headers=headers)

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert await count_rows(feedback_engine, "moderation_action") == 1


# --- the queue --------------------------------------------------------------------------------------


async def test_queue_lists_held_ideas_and_comments_oldest_first_with_their_reasons(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    held_idea = await make_idea(
        feedback_engine, moderation_state="pending", spam_score=1.0, spam_reasons=["repeated_text"]
    )
    await make_idea(feedback_engine)  # published: not in the queue
    idea_id = await make_idea(feedback_engine)
    held_comment = await comment_as(feedback_client, idea_id, uuid.uuid4(), SPAMMY)
    await comment_as(feedback_client, idea_id, uuid.uuid4())  # published

    response = await feedback_client.get("/v1/moderation/queue", headers=ANALYST)

    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [(i["kind"], i["id"], i["spam_score"], i["reasons"]) for i in items] == [
        ("idea", str(held_idea), 1.0, ["repeated_text"]),
        ("comment", held_comment["id"], 1.5, ["links"]),
    ]
    assert (items[1]["idea_id"], items[1]["body"], items[1]["title"]) == (str(idea_id), SPAMMY, None)


async def test_queue_filters_by_kind(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    await make_idea(feedback_engine, moderation_state="pending")
    held_comment = await comment_as(feedback_client, await make_idea(feedback_engine), uuid.uuid4(), SPAMMY)

    response = await feedback_client.get("/v1/moderation/queue", params={"kind": "comment"}, headers=AGENT)

    assert [i["id"] for i in response.json()["items"]] == [held_comment["id"]]


async def test_queue_pages_follow_the_cursor_across_both_kinds(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    expected: list[str] = []
    for n in range(3):
        expected.append(str(await make_idea(feedback_engine, moderation_state="pending")))
        held = await comment_as(
            feedback_client, await make_idea(feedback_engine), uuid.uuid4(), f"{SPAMMY} {n}"
        )
        expected.append(held["id"])
    seen: list[str] = []
    after = None

    for _ in range(3):
        params = {"limit": 2, **({"after": after} if after else {})}
        page = (await feedback_client.get("/v1/moderation/queue", params=params, headers=AGENT)).json()
        seen += [i["id"] for i in page["items"]]
        after = page["next_cursor"]

    assert seen == expected
    assert after is None


async def test_customers_cannot_read_the_queue(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.get("/v1/moderation/queue", headers=as_customer(uuid.uuid4()))

    assert response.status_code == 403


# --- the log ----------------------------------------------------------------------------------------


async def test_action_history_of_a_target_is_newest_first(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    held = await comment_as(feedback_client, await make_idea(feedback_engine), uuid.uuid4(), SPAMMY)
    await _moderate(feedback_client, "comments", held["id"], "approve")
    await _moderate(feedback_client, "comments", held["id"], "hide")
    await comment_as(feedback_client, await make_idea(feedback_engine), uuid.uuid4(), SPAMMY + " x")

    response = await feedback_client.get(
        "/v1/moderation/actions", params={"target_kind": "comment", "target_id": held["id"]}, headers=ANALYST
    )

    assert response.status_code == 200, response.text
    assert [(a["action"], a["actor"]) for a in response.json()["items"]] == [
        ("hide", "agent:staff-agent"),
        ("approve", "agent:staff-agent"),
        ("hold", "heuristics"),
    ]
