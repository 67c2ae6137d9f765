import asyncio
import uuid

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_common.auth import Role
from tests.feedback.support import (
    followers_of,
    outbox_events,
    seed_follows,
    seed_idea,
    seed_votes,
    stored_idea,
    tallies,
    votes_on,
)
from tests.support import bearer, staff_token

AGENT = bearer(staff_token(Role.AGENT))


async def merge(
    client: httpx.AsyncClient, source_id: uuid.UUID, target_id: uuid.UUID, **body: object
) -> httpx.Response:
    return await client.post(
        f"/v1/ideas/{source_id}/merge", json={"into_idea_id": str(target_id), **body}, headers=AGENT
    )


async def test_overlapping_voters_keep_one_vote_each_and_counts_are_exact(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    both_up, both_mixed, only_source, only_target = (uuid.uuid4() for _ in range(4))
    source, target = await seed_idea(feedback_engine), await seed_idea(feedback_engine)
    await seed_votes(feedback_engine, source, {both_up: 1, both_mixed: -1, only_source: 1})
    await seed_votes(feedback_engine, target, {both_up: 1, both_mixed: 1, only_target: -1})
    target_votes_before = await votes_on(feedback_engine, target)
    only_source_vote = {v for v in await votes_on(feedback_engine, source) if v[0] == only_source}

    response = await merge(feedback_client, source, target)

    assert response.status_code == 201, response.text
    assert (response.json()["moved_votes"], response.json()["dropped_votes"]) == (1, 2)
    assert await votes_on(feedback_engine, target) == target_votes_before | only_source_vote
    assert await votes_on(feedback_engine, source) == set()
    assert await tallies(feedback_engine, target) == ((3, 1), (3, 1))
    assert await tallies(feedback_engine, source) == ((0, 0), (0, 0))


async def test_every_source_vote_is_recorded_with_its_outcome(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    both, only_source = uuid.uuid4(), uuid.uuid4()
    source, target = await seed_idea(feedback_engine), await seed_idea(feedback_engine)
    await seed_votes(feedback_engine, source, {both: -1, only_source: 1})
    await seed_votes(feedback_engine, target, {both: 1})
    source_votes = await votes_on(feedback_engine, source)

    merge_id = (await merge(feedback_client, source, target)).json()["id"]

    async with feedback_engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT customer_id, direction, cast_at, outcome FROM idea_merge_vote WHERE merge_id = :m"),
            {"m": merge_id},
        )
        recorded = {(r[0], int(r[1]), r[2]): r[3] for r in rows}
    assert set(recorded) == source_votes
    assert {customer: outcome for (customer, _, _), outcome in recorded.items()} == {
        both: "dropped",
        only_source: "moved",
    }


async def test_followers_move_once_and_are_recorded(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    both, only_source, only_target = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    source, target = await seed_idea(feedback_engine), await seed_idea(feedback_engine)
    await seed_follows(feedback_engine, source, [both, only_source])
    await seed_follows(feedback_engine, target, [both, only_target])

    response = await merge(feedback_client, source, target)

    assert (response.json()["moved_followers"], response.json()["already_following"]) == (1, 1)
    assert await followers_of(feedback_engine, target) == {both, only_source, only_target}
    assert await followers_of(feedback_engine, source) == set()


async def test_the_source_becomes_a_duplicate_with_a_status_change_and_the_response(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    source = await seed_idea(feedback_engine, status="under_review")
    target = await seed_idea(feedback_engine)

    response = await merge(feedback_client, source, target, response="Same as the dark mode idea.")

    body = response.json()
    assert (body["source_prior_status"], body["merged_by"], body["undone_at"]) == (
        "under_review",
        "agent:staff-agent",
        None,
    )
    idea = await stored_idea(feedback_engine, source)
    assert (idea.status, idea.merged_into_id) == ("duplicate", target)
    async with feedback_engine.connect() as conn:
        change = (
            await conn.execute(
                text("SELECT from_status, to_status, response FROM idea_status_change WHERE idea_id = :i"),
                {"i": source},
            )
        ).one()
    assert tuple(change) == ("under_review", "duplicate", "Same as the dark mode idea.")


async def test_merge_publishes_idea_merged_with_the_counts(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    both, only_source = uuid.uuid4(), uuid.uuid4()
    source, target = await seed_idea(feedback_engine), await seed_idea(feedback_engine)
    await seed_votes(feedback_engine, source, {both: 1, only_source: 1})
    await seed_votes(feedback_engine, target, {both: 1})

    merge_id = (await merge(feedback_client, source, target)).json()["id"]

    (event,) = await outbox_events(feedback_engine, "idea.merged")
    assert event["subject_id"] == str(source)
    assert {k: event["payload"][k] for k in ("merge_id", "source_idea_id", "target_idea_id")} == {
        "merge_id": merge_id,
        "source_idea_id": str(source),
        "target_idea_id": str(target),
    }
    assert (event["payload"]["moved_votes"], event["payload"]["dropped_votes"]) == (1, 1)


async def test_votes_move_to_a_closed_target_as_history(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    voter = uuid.uuid4()
    source = await seed_idea(feedback_engine)
    target = await seed_idea(feedback_engine, status="launched")
    await seed_votes(feedback_engine, source, {voter: 1})

    response = await merge(feedback_client, source, target)

    assert response.status_code == 201, response.text
    assert {v[0] for v in await votes_on(feedback_engine, target)} == {voter}
    assert await tallies(feedback_engine, target) == ((1, 0), (1, 0))


async def test_two_merges_of_the_same_idea_at_once_one_wins_and_the_other_is_409(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    source = await seed_idea(feedback_engine)
    first, second = await seed_idea(feedback_engine), await seed_idea(feedback_engine)
    voters = {uuid.uuid4(): 1 for _ in range(20)}
    await seed_votes(feedback_engine, source, voters)

    responses = await asyncio.gather(
        merge(feedback_client, source, first), merge(feedback_client, source, second)
    )

    assert sorted(r.status_code for r in responses) == [201, 409]
    (lost,) = [r for r in responses if r.status_code == 409]
    assert lost.json()["type"].endswith("/idea-already-merged")
    (won,) = [r for r in responses if r.status_code == 201]
    winner = uuid.UUID(won.json()["target_idea_id"])
    loser = second if winner == first else first
    assert {v[0] for v in await votes_on(feedback_engine, winner)} == set(voters)
    assert await votes_on(feedback_engine, loser) == set()
    assert await tallies(feedback_engine, winner) == ((20, 0), (20, 0))
    async with feedback_engine.connect() as conn:
        merges = (await conn.execute(text("SELECT count(*) FROM idea_merge"))).scalar_one()
    assert merges == 1


async def test_a_retried_merge_with_the_same_idempotency_key_replays_the_answer(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    source, target = await seed_idea(feedback_engine), await seed_idea(feedback_engine)
    headers = {**AGENT, "Idempotency-Key": "merge-once"}
    body = {"into_idea_id": str(target)}

    first = await feedback_client.post(f"/v1/ideas/{source}/merge", json=body, headers=headers)
    again = await feedback_client.post(f"/v1/ideas/{source}/merge", json=body, headers=headers)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"


async def test_merged_ideas_are_listed_for_both_ideas_and_readable_by_id(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    source, target = await seed_idea(feedback_engine), await seed_idea(feedback_engine)
    created = (await merge(feedback_client, source, target)).json()

    by_id = await feedback_client.get(f"/v1/idea-merges/{created['id']}", headers=AGENT)
    of_source = await feedback_client.get(f"/v1/ideas/{source}/merges", headers=AGENT)
    of_target = await feedback_client.get(f"/v1/ideas/{target}/merges", headers=AGENT)

    assert by_id.json() == created
    assert of_source.json() == {"items": [created], "next_cursor": None}
    assert of_target.json() == {"items": [created], "next_cursor": None}


async def test_merges_of_an_idea_are_paginated_newest_first(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    target = await seed_idea(feedback_engine)
    ids = [
        (await merge(feedback_client, await seed_idea(feedback_engine), target)).json()["id"]
        for _ in range(3)
    ]

    first = (await feedback_client.get(f"/v1/ideas/{target}/merges?limit=2", headers=AGENT)).json()
    rest = await feedback_client.get(
        f"/v1/ideas/{target}/merges", params={"limit": 2, "after": first["next_cursor"]}, headers=AGENT
    )

    assert [m["id"] for m in first["items"]] + [m["id"] for m in rest.json()["items"]] == ids[::-1]
    assert rest.json()["next_cursor"] is None
