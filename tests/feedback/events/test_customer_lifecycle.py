"""identity's customer.merged / unmerged / erased, fed to the worker's consumer as JetStream would."""

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_common.events.consumer import ConsumerRunner
from tests.feedback.support import (
    count_rows,
    customer_created,
    customer_erased,
    customer_merged,
    customer_unmerged,
    deliver,
    followers_of,
    seed_follows,
    seed_idea,
    seed_votes,
    stored_customer,
    stored_idea,
    tallies,
    votes_on,
)


async def _moves(engine: AsyncEngine, merge_id: str) -> list[tuple[str, str, dict[str, str]]]:
    """What the merge recorded for ideas and votes (other domains record theirs alongside)."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT kind, action, row_key FROM customer_merge_move"
                " WHERE merge_id = :m AND kind LIKE 'idea%' ORDER BY kind, row_key::text"
            ),
            {"m": merge_id},
        )
        return [(row[0], row[1], dict(row[2])) for row in rows]


async def _all_votes(engine: AsyncEngine) -> set[tuple[uuid.UUID, uuid.UUID, int]]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT idea_id, customer_id, direction FROM vote"))
        return {(row[0], row[1], int(row[2])) for row in rows}


async def test_merge_where_both_voted_keeps_the_survivors_vote_and_counts_stay_exact(
    customers_runner: ConsumerRunner, feedback_engine: AsyncEngine
) -> None:
    survivor, merged = uuid.uuid4(), uuid.uuid4()
    idea = await seed_idea(feedback_engine)
    await seed_votes(feedback_engine, idea, {survivor: 1, merged: -1, uuid.uuid4(): 1})
    survivors_vote = {v for v in await votes_on(feedback_engine, idea) if v[0] == survivor}
    envelope = customer_merged(survivor, merged)

    assert await deliver(customers_runner, envelope) is True

    assert {v for v in await votes_on(feedback_engine, idea) if v[0] in (survivor, merged)} == survivors_vote
    assert await tallies(feedback_engine, idea) == ((2, 0), (2, 0))
    assert await _moves(feedback_engine, envelope.payload["merge_id"]) == [
        ("idea_vote", "dropped", {"idea_id": str(idea), "customer_id": str(merged)})
    ]


async def test_merge_moves_the_merged_customers_votes_ideas_and_follows(
    customers_runner: ConsumerRunner, feedback_engine: AsyncEngine
) -> None:
    survivor, merged = uuid.uuid4(), uuid.uuid4()
    authored = await seed_idea(feedback_engine, author_id=merged)
    voted, followed_by_both = await seed_idea(feedback_engine), await seed_idea(feedback_engine)
    await seed_votes(feedback_engine, voted, {merged: -1})
    await seed_follows(feedback_engine, authored, [merged])
    await seed_follows(feedback_engine, followed_by_both, [merged, survivor])
    ((_, _, cast_at),) = await votes_on(feedback_engine, voted)

    assert await deliver(customers_runner, customer_merged(survivor, merged)) is True

    assert (await stored_idea(feedback_engine, authored)).author_id == survivor
    assert await votes_on(feedback_engine, voted) == {(survivor, -1, cast_at)}
    assert await tallies(feedback_engine, voted) == ((0, 1), (0, 1))
    assert await followers_of(feedback_engine, authored) == {survivor}
    assert await followers_of(feedback_engine, followed_by_both) == {survivor}


async def test_unmerge_gives_both_customers_their_votes_back_with_exact_counts(
    customers_runner: ConsumerRunner, feedback_engine: AsyncEngine
) -> None:
    survivor, merged = uuid.uuid4(), uuid.uuid4()
    shared, only_merged = await seed_idea(feedback_engine), await seed_idea(feedback_engine)
    await seed_votes(feedback_engine, shared, {survivor: 1, merged: -1})
    await seed_votes(feedback_engine, only_merged, {merged: 1})
    before = {idea: await votes_on(feedback_engine, idea) for idea in (shared, only_merged)}
    merge = customer_merged(survivor, merged)
    await deliver(customers_runner, merge)

    assert (
        await deliver(customers_runner, customer_unmerged(merge.payload["merge_id"], survivor, merged))
        is True
    )

    assert {idea: await votes_on(feedback_engine, idea) for idea in (shared, only_merged)} == before
    assert await tallies(feedback_engine, shared) == ((1, 1), (1, 1))
    assert await tallies(feedback_engine, only_merged) == ((1, 0), (1, 0))
    assert await _moves(feedback_engine, merge.payload["merge_id"]) == []


async def test_unmerge_gives_back_the_ideas_and_follows(
    customers_runner: ConsumerRunner, feedback_engine: AsyncEngine
) -> None:
    survivor, merged = uuid.uuid4(), uuid.uuid4()
    authored = await seed_idea(feedback_engine, author_id=merged)
    followed_by_both = await seed_idea(feedback_engine)
    await seed_follows(feedback_engine, authored, [merged])
    await seed_follows(feedback_engine, followed_by_both, [merged, survivor])
    merge = customer_merged(survivor, merged)
    await deliver(customers_runner, merge)

    await deliver(customers_runner, customer_unmerged(merge.payload["merge_id"], survivor, merged))

    assert (await stored_idea(feedback_engine, authored)).author_id == merged
    assert await followers_of(feedback_engine, authored) == {merged}
    assert await followers_of(feedback_engine, followed_by_both) == {merged, survivor}


async def test_a_vote_the_survivor_changed_after_the_merge_stays_and_the_restored_gets_its_own(
    customers_runner: ConsumerRunner, feedback_engine: AsyncEngine
) -> None:
    survivor, merged = uuid.uuid4(), uuid.uuid4()
    idea = await seed_idea(feedback_engine)
    await seed_votes(feedback_engine, idea, {merged: 1})
    (original,) = await votes_on(feedback_engine, idea)
    merge = customer_merged(survivor, merged)
    await deliver(customers_runner, merge)
    async with feedback_engine.begin() as conn:  # the survivor turns the vote down, as set_vote does
        await conn.execute(
            text("UPDATE vote SET direction = -1, cast_at = now() WHERE idea_id = :i AND customer_id = :c"),
            {"i": idea, "c": survivor},
        )
    changed = await votes_on(feedback_engine, idea)

    await deliver(customers_runner, customer_unmerged(merge.payload["merge_id"], survivor, merged))

    assert await votes_on(feedback_engine, idea) == changed | {original}
    assert await tallies(feedback_engine, idea) == ((1, 1), (1, 1))


async def test_a_replayed_merge_changes_nothing(
    customers_runner: ConsumerRunner, feedback_engine: AsyncEngine
) -> None:
    survivor, merged = uuid.uuid4(), uuid.uuid4()
    idea = await seed_idea(feedback_engine)
    await seed_votes(feedback_engine, idea, {merged: 1})
    merge = customer_merged(survivor, merged)
    await deliver(customers_runner, merge)
    await seed_votes(feedback_engine, idea, {merged: -1})  # the merged customer's token still worked
    votes = await _all_votes(feedback_engine)
    moves = await _moves(feedback_engine, merge.payload["merge_id"])

    replay = customer_merged(survivor, merged, merge_id=uuid.UUID(merge.payload["merge_id"]))
    assert await deliver(customers_runner, replay) is True

    assert await _all_votes(feedback_engine) == votes
    assert await _moves(feedback_engine, merge.payload["merge_id"]) == moves


async def test_a_replayed_unmerge_changes_nothing(
    customers_runner: ConsumerRunner, feedback_engine: AsyncEngine
) -> None:
    survivor, merged = uuid.uuid4(), uuid.uuid4()
    idea = await seed_idea(feedback_engine)
    await seed_votes(feedback_engine, idea, {merged: 1})
    merge = customer_merged(survivor, merged)
    await deliver(customers_runner, merge)
    await deliver(customers_runner, customer_unmerged(merge.payload["merge_id"], survivor, merged))
    await seed_votes(feedback_engine, idea, {survivor: -1})
    votes = await _all_votes(feedback_engine)

    assert (
        await deliver(customers_runner, customer_unmerged(merge.payload["merge_id"], survivor, merged))
        is True
    )

    assert await _all_votes(feedback_engine) == votes
    assert await tallies(feedback_engine, idea) == ((1, 1), (1, 1))


async def test_an_unmerge_arriving_before_its_merge_makes_the_late_merge_change_nothing(
    customers_runner: ConsumerRunner, feedback_engine: AsyncEngine
) -> None:
    survivor, merged, merge_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    idea = await seed_idea(feedback_engine)
    await seed_votes(feedback_engine, idea, {merged: 1})
    votes = await votes_on(feedback_engine, idea)

    assert await deliver(customers_runner, customer_unmerged(merge_id, survivor, merged)) is True
    assert await deliver(customers_runner, customer_merged(survivor, merged, merge_id=merge_id)) is True

    assert await votes_on(feedback_engine, idea) == votes


async def test_unmerge_takes_the_vote_back_from_whoever_the_survivor_was_merged_into_since(
    customers_runner: ConsumerRunner, feedback_engine: AsyncEngine
) -> None:
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    idea = await seed_idea(feedback_engine)
    await seed_votes(feedback_engine, idea, {first: 1})
    ((_, _, cast_at),) = await votes_on(feedback_engine, idea)
    first_into_second = customer_merged(second, first)
    second_into_third = customer_merged(third, second)
    await deliver(customers_runner, first_into_second)
    await deliver(customers_runner, second_into_third)
    assert await votes_on(feedback_engine, idea) == {(third, 1, cast_at)}

    await deliver(customers_runner, customer_unmerged(first_into_second.payload["merge_id"], second, first))
    await deliver(customers_runner, customer_unmerged(second_into_third.payload["merge_id"], third, second))

    assert await votes_on(feedback_engine, idea) == {(first, 1, cast_at)}
    assert await tallies(feedback_engine, idea) == ((1, 0), (1, 0))


async def test_erasure_removes_votes_and_follows_anonymises_ideas_and_keeps_counts_exact(
    customers_runner: ConsumerRunner, feedback_engine: AsyncEngine
) -> None:
    erased, merged_into_erased, bystander = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await deliver(customers_runner, customer_created(erased, display_name="Choi Yuna"))
    authored = await seed_idea(feedback_engine, author_id=erased)
    other = await seed_idea(feedback_engine)
    await seed_votes(feedback_engine, authored, {erased: 1, bystander: 1})
    await seed_votes(feedback_engine, other, {merged_into_erased: -1, bystander: 1})
    await seed_follows(feedback_engine, other, [erased, merged_into_erased, bystander])
    title = (await stored_idea(feedback_engine, authored)).title

    assert await deliver(customers_runner, customer_erased(erased, [merged_into_erased])) is True

    assert {v[0] for v in await votes_on(feedback_engine, authored)} == {bystander}
    assert {v[0] for v in await votes_on(feedback_engine, other)} == {bystander}
    assert await tallies(feedback_engine, authored) == ((1, 0), (1, 0))
    assert await tallies(feedback_engine, other) == ((1, 0), (1, 0))
    assert await followers_of(feedback_engine, other) == {bystander}
    idea = await stored_idea(feedback_engine, authored)
    assert (idea.author_id, idea.title) == (None, title)
    for customer_id in (erased, merged_into_erased):
        customer = await stored_customer(feedback_engine, customer_id)
        assert customer is not None
        assert (customer.display_name, customer.erased_at is not None) == ("", True)


async def test_a_replayed_erasure_changes_nothing(
    customers_runner: ConsumerRunner, feedback_engine: AsyncEngine
) -> None:
    erased = uuid.uuid4()
    idea = await seed_idea(feedback_engine, author_id=erased)
    await seed_votes(feedback_engine, idea, {erased: 1})
    await deliver(customers_runner, customer_erased(erased))
    first = await stored_customer(feedback_engine, erased)

    assert await deliver(customers_runner, customer_erased(erased)) is True

    again = await stored_customer(feedback_engine, erased)
    assert first is not None and again is not None
    assert again.erased_at == first.erased_at
    assert await votes_on(feedback_engine, idea) == set()
    assert await tallies(feedback_engine, idea) == ((0, 0), (0, 0))


async def test_an_erased_customer_does_not_come_back_with_a_late_customer_created(
    customers_runner: ConsumerRunner, feedback_engine: AsyncEngine
) -> None:
    erased = uuid.uuid4()
    await deliver(customers_runner, customer_erased(erased))

    await deliver(customers_runner, customer_created(erased, display_name="Choi Yuna"))

    customer = await stored_customer(feedback_engine, erased)
    assert customer is not None
    assert customer.display_name == ""


async def test_erasure_forgets_the_merge_records_so_no_undo_brings_the_votes_back(
    customers_runner: ConsumerRunner, feedback_engine: AsyncEngine
) -> None:
    survivor, merged = uuid.uuid4(), uuid.uuid4()
    idea = await seed_idea(feedback_engine)
    await seed_votes(feedback_engine, idea, {survivor: 1, merged: -1})
    merge = customer_merged(survivor, merged)
    await deliver(customers_runner, merge)

    await deliver(customers_runner, customer_erased(survivor, [merged]))
    await deliver(customers_runner, customer_unmerged(merge.payload["merge_id"], survivor, merged))

    assert await votes_on(feedback_engine, idea) == set()
    assert await count_rows(feedback_engine, "customer_merge_move") == 1  # the merge's own row


async def test_erasure_forgets_the_customer_in_idea_merge_records(
    customers_runner: ConsumerRunner, feedback_engine: AsyncEngine
) -> None:
    erased = uuid.uuid4()
    source, target = await seed_idea(feedback_engine), await seed_idea(feedback_engine)
    await seed_votes(feedback_engine, source, {erased: 1})
    async with feedback_engine.begin() as conn:
        merge_id = uuid.uuid4()
        await conn.execute(
            text(
                "INSERT INTO idea_merge (id, source_idea_id, target_idea_id, source_prior_status, merged_by)"
                " VALUES (:m, :s, :t, 'new', 'agent:test')"
            ),
            {"m": merge_id, "s": source, "t": target},
        )
        await conn.execute(
            text(
                "INSERT INTO idea_merge_vote (merge_id, customer_id, direction, cast_at, outcome)"
                " SELECT :m, customer_id, direction, cast_at, 'moved' FROM vote WHERE idea_id = :s"
            ),
            {"m": merge_id, "s": source},
        )

    await deliver(customers_runner, customer_erased(erased))

    assert await count_rows(feedback_engine, "idea_merge_vote") == 0
