"""Stored membership: computed at creation, kept up to date from the dirty set, events in the outbox."""

import asyncio
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from campaign.audience import service as audience
from campaign.segments import service
from campaign.segments.jobs import membership_job
from campaign.settings import CampaignSettings
from crm_common.events.consumer import ConsumerRunner
from tests.campaign.segments.conftest import Population, days_ago
from tests.campaign.support import customer_created, deliver_all, event, item, order_placed, rows
from tests.support import wait_until

SEOUL = {"field": "traits.city", "op": "eq", "value": "서울"}
BUYERS = {"event": "order_placed", "op": "gte", "count": 1}


async def _create(sessions: async_sessionmaker[AsyncSession], name: str, rule: dict[str, Any]) -> uuid.UUID:
    async with sessions() as session, session.begin():
        segment = await service.create_segment(
            session, name=name, description=None, rule=rule, created_by="test"
        )
    return segment.id


async def _settle(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Run incremental passes until the dirty set is empty."""
    while True:
        async with sessions() as session, session.begin():
            if not await service.process_changed(session, 100):
                return


async def _membership_events(engine: AsyncEngine) -> list[tuple[str, str, uuid.UUID]]:
    found = await rows(
        engine,
        "SELECT envelope->>'type' AS type, envelope->'payload' AS payload FROM outbox_event "
        "WHERE subject LIKE 'crm.campaign.segment.%' ORDER BY position",
    )
    return [(r.type, r.payload["segment_id"], uuid.UUID(r.payload["customer_id"])) for r in found]


async def _members(sessions: async_sessionmaker[AsyncSession], segment_id: uuid.UUID) -> set[uuid.UUID]:
    async with sessions() as session:
        return set(await service.member_ids(session, segment_id, after=None, limit=100))


async def test_creating_a_segment_stores_its_membership_without_entry_events(
    sessions: async_sessionmaker[AsyncSession], population: Population, campaign_engine: AsyncEngine
) -> None:
    segment_id = await _create(sessions, "Seoul", SEOUL)

    assert await _members(sessions, segment_id) == {population.a, population.b, population.d}
    async with sessions() as session:
        assert await service.member_count(session, segment_id) == 3
        assert await service.is_member(session, segment_id, [population.a, population.c]) == {population.a}
    assert await _membership_events(campaign_engine) == []


async def test_an_event_makes_a_customer_enter_with_a_segment_entered_event(
    sessions: async_sessionmaker[AsyncSession],
    population: Population,
    audience_runner: ConsumerRunner,
    campaign_engine: AsyncEngine,
) -> None:
    segment_id = await _create(sessions, "Buyers", BUYERS)
    await _settle(sessions)

    await deliver_all(audience_runner, order_placed(population.c, days_ago(0), [item("z", "hats", 9_000)]))
    await _settle(sessions)

    assert population.c in await _members(sessions, segment_id)
    assert await _membership_events(campaign_engine) == [("segment.entered", str(segment_id), population.c)]
    async with sessions() as session:
        assert await service.member_count(session, segment_id) == 4


async def test_a_change_out_of_the_rule_is_an_exit_with_a_segment_exited_event(
    sessions: async_sessionmaker[AsyncSession],
    population: Population,
    audience_runner: ConsumerRunner,
    campaign_engine: AsyncEngine,
) -> None:
    segment_id = await _create(sessions, "Seoul", SEOUL)
    await _settle(sessions)

    await deliver_all(
        audience_runner,
        event("identity", "customer.updated", {"customer_id": str(population.d), "traits": {"city": "대구"}}),
    )
    await _settle(sessions)

    assert await _members(sessions, segment_id) == {population.a, population.b}
    assert await _membership_events(campaign_engine) == [("segment.exited", str(segment_id), population.d)]


async def test_a_referencing_segment_follows_its_reference_in_the_same_pass(
    sessions: async_sessionmaker[AsyncSession],
    population: Population,
    audience_runner: ConsumerRunner,
    campaign_engine: AsyncEngine,
) -> None:
    seoul = await _create(sessions, "Seoul", SEOUL)
    seoul_prospects = await _create(
        sessions,
        "Seoul prospects",
        {"and": [{"segment": str(seoul)}, {"field": "order_count", "op": "eq", "value": 0}]},
    )
    await _settle(sessions)
    assert await _members(sessions, seoul_prospects) == set()

    await deliver_all(
        audience_runner,
        event("identity", "customer.updated", {"customer_id": str(population.c), "traits": {"city": "서울"}}),
    )
    async with sessions() as session, session.begin():
        assert await service.process_changed(session, 100) == 1

    assert await _members(sessions, seoul_prospects) == {population.c}
    assert await _membership_events(campaign_engine) == [
        ("segment.entered", str(seoul), population.c),
        ("segment.entered", str(seoul_prospects), population.c),
    ]


async def test_erasure_removes_membership_and_the_exit_event_carries_only_ids(
    sessions: async_sessionmaker[AsyncSession],
    population: Population,
    audience_runner: ConsumerRunner,
    campaign_engine: AsyncEngine,
) -> None:
    segment_id = await _create(sessions, "Seoul", SEOUL)
    await _settle(sessions)

    await deliver_all(
        audience_runner,
        event("identity", "customer.erased", {"customer_id": str(population.a), "merged_ids": []}),
    )
    await _settle(sessions)

    assert await _members(sessions, segment_id) == {population.b, population.d}
    payloads = await rows(
        campaign_engine,
        "SELECT envelope->'payload' AS payload FROM outbox_event "
        "WHERE subject = 'crm.campaign.segment.exited'",
    )
    assert [set(r.payload) for r in payloads] == [{"segment_id", "customer_id", "occurred_at"}]


async def test_full_refresh_catches_what_only_time_changed(
    sessions: async_sessionmaker[AsyncSession], population: Population, campaign_engine: AsyncEngine
) -> None:
    segment_id = await _create(
        sessions, "Recent", {"field": "last_order_at", "op": "within_days", "value": 7}
    )
    await _settle(sessions)
    # Time passes: A's last order is now 30 days old (moved by hand, as a clock would).
    async with campaign_engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE audience_member SET last_order_at = now() - interval '30 days' "
                "WHERE customer_id = :id"
            ),
            {"id": population.a},
        )

    async with sessions() as session, session.begin():
        changes = await service.refresh_all(session)

    assert (changes.entered, changes.exited) == (0, 1)
    assert await _members(sessions, segment_id) == {population.d}
    async with sessions() as session:
        assert await service.member_count(session, segment_id) == 1


async def test_the_membership_job_turns_a_consumed_event_into_an_entry_event(
    sessions: async_sessionmaker[AsyncSession],
    audience_runner: ConsumerRunner,
    campaign_engine: AsyncEngine,
    campaign_settings: CampaignSettings,
) -> None:
    segment_id = await _create(sessions, "Buyers", BUYERS)
    customer_id = uuid.uuid4()
    stop = asyncio.Event()
    job = asyncio.create_task(membership_job(campaign_settings)(sessions, stop))
    try:
        await deliver_all(
            audience_runner,
            customer_created(customer_id),
            order_placed(customer_id, days_ago(0), [item("z", "hats", 9_000)]),
        )

        found = await wait_until(lambda: _membership_events(campaign_engine), timeout=10)
    finally:
        stop.set()
        await asyncio.wait_for(job, timeout=10)

    assert found == [("segment.entered", str(segment_id), customer_id)]
    async with sessions() as session, session.begin():
        assert await audience.claim_changed(session, 10) == []
