import uuid

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_common.auth import Role
from crm_common.events.consumer import ConsumerRunner
from tests.feedback.support import (
    customer_merged,
    deliver,
    followers_of,
    outbox_events,
    seed_follows,
    seed_idea,
    seed_votes,
    stored_idea,
    tallies,
    votes_on,
)
from tests.support import bearer, customer_token, staff_token

AGENT = bearer(staff_token(Role.AGENT))


async def _merge(client: httpx.AsyncClient, source_id: uuid.UUID, target_id: uuid.UUID) -> str:
    response = await client.post(
        f"/v1/ideas/{source_id}/merge", json={"into_idea_id": str(target_id)}, headers=AGENT
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _undo(client: httpx.AsyncClient, merge_id: str) -> httpx.Response:
    return await client.post(f"/v1/idea-merges/{merge_id}/undo", headers=AGENT)


async def test_undo_restores_exactly_the_source_voters_and_leaves_the_target_voters(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    both, only_source, only_target = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    source, target = await seed_idea(feedback_engine), await seed_idea(feedback_engine)
    await seed_votes(feedback_engine, source, {both: -1, only_source: 1})
    await seed_votes(feedback_engine, target, {both: 1, only_target: -1})
    source_votes, target_votes = (
        await votes_on(feedback_engine, source),
        await votes_on(feedback_engine, target),
    )
    merge_id = await _merge(feedback_client, source, target)

    response = await _undo(feedback_client, merge_id)

    assert response.status_code == 200, response.text
    assert await votes_on(feedback_engine, source) == source_votes
    assert await votes_on(feedback_engine, target) == target_votes
    assert await tallies(feedback_engine, source) == ((1, 1), (1, 1))
    assert await tallies(feedback_engine, target) == ((1, 1), (1, 1))
    body = response.json()
    assert (body["restored_votes"], body["removed_target_votes"], body["kept_target_votes"]) == (2, 1, 0)


async def test_undo_restores_the_status_and_writes_a_status_change(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    source = await seed_idea(feedback_engine, status="planned")
    target = await seed_idea(feedback_engine)
    merge_id = await _merge(feedback_client, source, target)

    body = (await _undo(feedback_client, merge_id)).json()

    idea = await stored_idea(feedback_engine, source)
    assert (idea.status, idea.merged_into_id) == ("planned", None)
    assert (body["undone_by"], body["undone_at"] is not None) == ("agent:staff-agent", True)
    async with feedback_engine.connect() as conn:
        changes = (
            await conn.execute(
                text(
                    "SELECT from_status, to_status FROM idea_status_change WHERE idea_id = :i"
                    " ORDER BY changed_at"
                ),
                {"i": source},
            )
        ).all()
    assert [tuple(c) for c in changes] == [("planned", "duplicate"), ("duplicate", "planned")]
    (event,) = await outbox_events(feedback_engine, "idea.unmerged")
    assert (event["payload"]["merge_id"], event["payload"]["restored_status"]) == (merge_id, "planned")


async def test_undo_keeps_a_vote_the_customer_changed_on_the_target_after_the_merge(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    changed_mind, unchanged = uuid.uuid4(), uuid.uuid4()
    source, target = await seed_idea(feedback_engine), await seed_idea(feedback_engine)
    await seed_votes(feedback_engine, source, {changed_mind: 1, unchanged: 1})
    source_votes = await votes_on(feedback_engine, source)
    merge_id = await _merge(feedback_client, source, target)
    revote = await feedback_client.put(
        f"/v1/ideas/{target}/vote", json={"direction": "down"}, headers=bearer(customer_token(changed_mind))
    )
    assert revote.status_code == 200, revote.text
    target_votes = await votes_on(feedback_engine, target)

    response = await _undo(feedback_client, merge_id)

    assert (response.json()["removed_target_votes"], response.json()["kept_target_votes"]) == (1, 1)
    assert await votes_on(feedback_engine, source) == source_votes
    assert await votes_on(feedback_engine, target) == {v for v in target_votes if v[0] == changed_mind}
    assert await tallies(feedback_engine, target) == ((0, 1), (0, 1))
    assert await tallies(feedback_engine, source) == ((2, 0), (2, 0))


async def test_undo_restores_the_followers_and_takes_the_moved_ones_off_the_target(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    both, only_source, only_target = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    source, target = await seed_idea(feedback_engine), await seed_idea(feedback_engine)
    await seed_follows(feedback_engine, source, [both, only_source])
    await seed_follows(feedback_engine, target, [both, only_target])
    merge_id = await _merge(feedback_client, source, target)

    body = (await _undo(feedback_client, merge_id)).json()

    assert await followers_of(feedback_engine, source) == {both, only_source}
    assert await followers_of(feedback_engine, target) == {both, only_target}
    assert (body["restored_followers"], body["removed_target_followers"]) == (2, 1)


async def test_undoing_twice_is_a_409_and_changes_nothing(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    voter = uuid.uuid4()
    source, target = await seed_idea(feedback_engine), await seed_idea(feedback_engine)
    await seed_votes(feedback_engine, source, {voter: 1})
    merge_id = await _merge(feedback_client, source, target)
    await _undo(feedback_client, merge_id)
    source_votes = await votes_on(feedback_engine, source)

    again = await _undo(feedback_client, merge_id)

    assert again.status_code == 409
    assert again.json()["type"].endswith("/idea-merge-already-undone")
    assert await votes_on(feedback_engine, source) == source_votes
    assert await votes_on(feedback_engine, target) == set()


async def test_undo_waits_for_the_later_merge_of_the_target_to_be_undone(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    first_voter, second_voter = uuid.uuid4(), uuid.uuid4()
    a, b, c = [await seed_idea(feedback_engine) for _ in range(3)]
    await seed_votes(feedback_engine, a, {first_voter: 1})
    await seed_votes(feedback_engine, b, {second_voter: -1})
    a_votes, b_votes = await votes_on(feedback_engine, a), await votes_on(feedback_engine, b)
    a_into_b = await _merge(feedback_client, a, b)
    b_into_c = await _merge(feedback_client, b, c)

    blocked = await _undo(feedback_client, a_into_b)
    assert blocked.status_code == 409
    assert blocked.json()["type"].endswith("/idea-merge-undo-blocked")
    assert b_into_c in blocked.json()["detail"]

    assert (await _undo(feedback_client, b_into_c)).status_code == 200
    assert (await _undo(feedback_client, a_into_b)).status_code == 200
    assert await votes_on(feedback_engine, a) == a_votes
    assert await votes_on(feedback_engine, b) == b_votes
    assert await votes_on(feedback_engine, c) == set()


async def test_undo_after_a_customer_merge_gives_the_vote_to_the_surviving_customer(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine, customers_runner: ConsumerRunner
) -> None:
    merged_customer, survivor = uuid.uuid4(), uuid.uuid4()
    source, target = await seed_idea(feedback_engine), await seed_idea(feedback_engine)
    await seed_votes(feedback_engine, source, {merged_customer: 1})
    ((_, _, cast_at),) = await votes_on(feedback_engine, source)
    merge_id = await _merge(feedback_client, source, target)
    assert await deliver(customers_runner, customer_merged(survivor, merged_customer))

    await _undo(feedback_client, merge_id)

    assert await votes_on(feedback_engine, source) == {(survivor, 1, cast_at)}
    assert await votes_on(feedback_engine, target) == set()
