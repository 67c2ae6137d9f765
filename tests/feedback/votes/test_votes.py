import asyncio
import random
import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from feedback.ideas.ranking import wilson_lower_bound
from tests.feedback.ideas.support import (
    ADMIN,
    add_board,
    as_customer,
    events_of_type,
    set_status_directly,
    stored_idea,
    submit,
    true_counts,
    vote,
)
from tests.feedback.support import count_rows


async def test_up_vote_counts_and_scores_the_idea(feedback_client: httpx.AsyncClient) -> None:
    idea = await submit(feedback_client)

    response = await vote(feedback_client, idea["id"], uuid.uuid4(), "up")

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["direction"], body["up_count"], body["down_count"]) == ("up", 1, 0)
    assert abs(body["score"] - wilson_lower_bound(1, 0)) < 1e-9


async def test_repeating_a_vote_changes_nothing_and_publishes_once(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea = await submit(feedback_client)
    voter = uuid.uuid4()

    await vote(feedback_client, idea["id"], voter, "up")
    again = await vote(feedback_client, idea["id"], voter, "up")

    assert (again.json()["up_count"], again.json()["direction"]) == (1, "up")
    assert len(await events_of_type(feedback_engine, "vote.cast")) == 1


async def test_switching_to_down_moves_the_vote(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea = await submit(feedback_client)
    voter = uuid.uuid4()
    await vote(feedback_client, idea["id"], voter, "up")

    response = await vote(feedback_client, idea["id"], voter, "down")

    assert (response.json()["up_count"], response.json()["down_count"]) == (0, 1)
    events = await events_of_type(feedback_engine, "vote.cast")
    assert [(e["payload"]["direction"], e["payload"]["previous_direction"]) for e in events] == [
        ("up", None),
        ("down", "up"),
    ]


async def test_clearing_a_vote_twice_is_idempotent(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea = await submit(feedback_client)
    voter = uuid.uuid4()
    await vote(feedback_client, idea["id"], voter, "down")

    first = await vote(feedback_client, idea["id"], voter, None)
    second = await vote(feedback_client, idea["id"], voter, None)

    assert first.json() == second.json()
    assert (second.json()["direction"], second.json()["down_count"]) == (None, 0)
    assert len(await events_of_type(feedback_engine, "vote.cast")) == 2


async def test_vote_on_a_closed_idea_is_409_and_writes_nothing(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea = await submit(feedback_client)
    await set_status_directly(feedback_engine, idea["id"], "declined")

    response = await vote(feedback_client, idea["id"], uuid.uuid4(), "up")

    assert response.status_code == 409
    assert response.json()["type"].endswith("/voting-closed")
    assert await count_rows(feedback_engine, "vote") == 0


async def test_vote_on_an_unknown_idea_is_404(feedback_client: httpx.AsyncClient) -> None:
    response = await vote(feedback_client, str(uuid.uuid4()), uuid.uuid4(), "up")

    assert response.status_code == 404
    assert response.json()["type"].endswith("/idea-not-found")


async def test_bad_direction_is_422_naming_the_field(feedback_client: httpx.AsyncClient) -> None:
    idea = await submit(feedback_client)

    response = await feedback_client.put(
        f"/v1/ideas/{idea['id']}/vote", json={"direction": "sideways"}, headers=as_customer(uuid.uuid4())
    )

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["body.direction"]


async def test_staff_cannot_vote(feedback_client: httpx.AsyncClient) -> None:
    idea = await submit(feedback_client)

    response = await feedback_client.put(
        f"/v1/ideas/{idea['id']}/vote", json={"direction": "up"}, headers=ADMIN
    )

    assert response.status_code == 403


async def test_concurrent_votes_and_unvotes_leave_exact_counts(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea = await submit(feedback_client)
    voters = [uuid.uuid4() for _ in range(40)]
    rng = random.Random(7)
    calls = [(rng.choice(voters), rng.choice(["up", "down", None])) for _ in range(200)]

    responses = await asyncio.gather(*(vote(feedback_client, idea["id"], c, d) for c, d in calls))

    assert {r.status_code for r in responses} == {200}
    stored = await stored_idea(feedback_engine, idea["id"])
    assert (stored.up_count, stored.down_count) == await true_counts(feedback_engine, idea["id"])
    assert abs(stored.top_score - wilson_lower_bound(stored.up_count, stored.down_count)) < 1e-9


async def test_vote_budget_stops_a_vote_beyond_it(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    await add_board(feedback_engine, "roadmap", vote_budget=2)
    ideas = [await submit(feedback_client, board="roadmap") for _ in range(3)]
    voter = uuid.uuid4()
    first = await vote(feedback_client, ideas[0]["id"], voter, "up")
    await vote(feedback_client, ideas[1]["id"], voter, "down")

    response = await vote(feedback_client, ideas[2]["id"], voter, "up")

    assert first.json()["votes_left"] == 1
    assert response.status_code == 409
    assert response.json()["type"].endswith("/vote-budget-exhausted")
    assert await true_counts(feedback_engine, ideas[2]["id"]) == (0, 0)


async def test_budget_vote_comes_back_when_an_idea_closes(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    await add_board(feedback_engine, "roadmap", vote_budget=1)
    ideas = [await submit(feedback_client, board="roadmap") for _ in range(2)]
    voter = uuid.uuid4()
    await vote(feedback_client, ideas[0]["id"], voter, "up")
    await set_status_directly(feedback_engine, ideas[0]["id"], "launched")

    response = await vote(feedback_client, ideas[1]["id"], voter, "up")

    assert response.status_code == 200, response.text
    assert response.json()["votes_left"] == 0


async def test_changing_a_budget_vote_does_not_need_another_vote(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    await add_board(feedback_engine, "roadmap", vote_budget=1)
    idea = await submit(feedback_client, board="roadmap")
    voter = uuid.uuid4()
    await vote(feedback_client, idea["id"], voter, "up")

    response = await vote(feedback_client, idea["id"], voter, "down")

    assert response.status_code == 200, response.text
    assert response.json()["down_count"] == 1


async def test_customer_lists_their_votes_and_not_others(feedback_client: httpx.AsyncClient) -> None:
    voter = uuid.uuid4()
    ideas = [await submit(feedback_client) for _ in range(3)]
    for idea in ideas:
        await vote(feedback_client, idea["id"], voter, "up")

    mine = await feedback_client.get(f"/v1/customers/{voter}/votes?limit=2", headers=as_customer(voter))
    rest = await feedback_client.get(
        f"/v1/customers/{voter}/votes",
        params={"after": mine.json()["next_cursor"]},
        headers=as_customer(voter),
    )
    other = await feedback_client.get(f"/v1/customers/{voter}/votes", headers=as_customer(uuid.uuid4()))

    listed = [v["idea_id"] for v in mine.json()["items"] + rest.json()["items"]]
    assert sorted(listed) == sorted(i["id"] for i in ideas)
    assert other.status_code == 403
