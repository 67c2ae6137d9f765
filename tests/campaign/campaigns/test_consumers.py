"""The campaigns consumer fed as JetStream would feed it: segment entries and exits, feedback and
identity activities (entries, goals), responses, merges and erasures; repeats change nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from campaign.campaigns import service as campaigns
from campaign.campaigns.consumers import campaigns_consumer
from campaign.campaigns.definition import CampaignDefinition
from campaign.campaigns.schemas import CampaignCreate
from campaign.database import metadata
from campaign.settings import CampaignSettings
from crm_common.db import session_factory
from crm_common.events import EventEnvelope
from crm_common.events.consumer import ConsumerRunner
from tests.campaign.campaigns.conftest import AddMember, enrollments, outbox_events
from tests.campaign.support import deliver

STEPS = [
    {"id": "wait1", "type": "wait", "hours": 24, "next": "hi"},
    {"id": "hi", "type": "send", "channel": "in_app", "variants": [{"key": "A", "body": "Hi"}]},
]


@pytest.fixture
def runner(campaign_engine: AsyncEngine, campaign_settings: CampaignSettings) -> ConsumerRunner:
    return ConsumerRunner(
        campaigns_consumer, session_factory(campaign_engine), metadata, campaign_settings.nats_url
    )


async def journey(
    sessions: async_sessionmaker[AsyncSession], settings: CampaignSettings, **definition: Any
) -> uuid.UUID:
    async with sessions() as session, session.begin():
        created = await campaigns.create_campaign(
            session,
            CampaignCreate(
                name="Journey",
                kind="journey",
                definition=CampaignDefinition.model_validate({"steps": STEPS, **definition}),
            ),
            created_by="staff-marketer",
        )
        await campaigns.launch_campaign(session, settings, created.id)
        return created.id


def event(producer: str, event_type: str, **payload: Any) -> EventEnvelope:
    return EventEnvelope(
        type=event_type,
        producer=producer,
        payload={k: str(v) if isinstance(v, uuid.UUID) else v for k, v in payload.items()},
    )


async def test_segment_entry_enrolls_once_and_segment_exit_takes_out(
    runner: ConsumerRunner, sessions: async_sessionmaker[AsyncSession], settings: CampaignSettings
) -> None:
    segment_id, other_segment = uuid.uuid4(), uuid.uuid4()
    from campaign.segments import service as segments_service

    async with sessions() as session, session.begin():
        segment = await segments_service.create_segment(
            session,
            name=f"s-{segment_id.hex[:6]}",
            description=None,
            rule={"field": "order_count", "op": "gte", "value": 3},
            created_by="t",
        )
        leaving = await segments_service.create_segment(
            session,
            name=f"s-{other_segment.hex[:6]}",
            description=None,
            rule={"field": "order_count", "op": "gte", "value": 9},
            created_by="t",
        )
    campaign_id = await journey(
        sessions,
        settings,
        entry={"type": "segment", "segment_id": str(segment.id)},
        exit=[{"segment_exited": str(leaving.id)}],
    )
    customer = uuid.uuid4()
    entered = event(
        "campaign",
        "segment.entered",
        segment_id=segment.id,
        customer_id=customer,
        occurred_at=datetime.now(UTC).isoformat(),
    )
    assert await deliver(runner, entered)
    assert await deliver(runner, entered)  # the same event again: the inbox drops it
    again = event("campaign", "segment.entered", segment_id=segment.id, customer_id=customer)
    assert await deliver(runner, again)  # a new entry event: no re-entry allowed
    (enrollment,) = await enrollments(sessions, campaign_id)
    assert enrollment.customer_id == customer and enrollment.status == "active"
    assert await deliver(
        runner, event("campaign", "segment.exited", segment_id=uuid.uuid4(), customer_id=customer)
    )
    assert (await enrollments(sessions, campaign_id))[0].status == "active"  # another segment: no exit
    assert await deliver(
        runner, event("campaign", "segment.exited", segment_id=leaving.id, customer_id=customer)
    )
    (enrollment,) = await enrollments(sessions, campaign_id)
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "segment_exited")


async def test_feedback_event_enters_only_customers_matching_where(
    runner: ConsumerRunner,
    sessions: async_sessionmaker[AsyncSession],
    settings: CampaignSettings,
    add_member: AddMember,
) -> None:
    gold = await add_member(traits={"tier": "gold"})
    plain = await add_member(traits={"tier": "plain"})
    campaign_id = await journey(
        sessions,
        settings,
        entry={
            "type": "event",
            "event": "complaint.opened",
            "where": {"field": "traits.tier", "op": "eq", "value": "gold"},
        },
    )
    for customer in (gold, plain):
        assert await deliver(
            runner, event("feedback", "complaint.opened", complaint_id=uuid.uuid4(), customer_id=customer)
        )
    assert [e.customer_id for e in await enrollments(sessions, campaign_id)] == [gold]


async def test_touchpoint_goal_converts_and_publishes_with_the_group(
    runner: ConsumerRunner, sessions: async_sessionmaker[AsyncSession], settings: CampaignSettings
) -> None:
    campaign_id = await journey(
        sessions,
        settings,
        entry={"type": "event", "event": "idea.status_changed"},
        goal={"event": "order_placed", "within_hours": 48},
    )
    customer = uuid.uuid4()
    entered_at = datetime.now(UTC) - timedelta(hours=1)
    assert await deliver(
        runner,
        event(
            "feedback",
            "idea.status_changed",
            idea_id=uuid.uuid4(),
            author_id=customer,
            occurred_at=entered_at.isoformat(),
        ),
    )
    order = event(
        "identity",
        "touchpoint.recorded",
        touchpoint_id=uuid.uuid4(),
        customer_id=customer,
        channel="web",
        type="order_placed",
        occurred_at=datetime.now(UTC).isoformat(),
    )
    assert await deliver(runner, order)
    (enrollment,) = await enrollments(sessions, campaign_id)
    assert enrollment.status == "converted"
    (converted,) = await outbox_events(sessions, "campaign.converted")
    assert converted["payload"]["customer_id"] == str(customer)
    assert converted["payload"]["group"] == enrollment.group


async def test_merge_moves_enrollments_and_erasure_removes_them(
    runner: ConsumerRunner, sessions: async_sessionmaker[AsyncSession], settings: CampaignSettings
) -> None:
    campaign_id = await journey(sessions, settings, entry={"type": "event", "event": "complaint.opened"})
    other_id = await journey(sessions, settings, entry={"type": "event", "event": "complaint.opened"})
    only_merged = await journey(sessions, settings, entry={"type": "event", "event": "vote.cast"})
    survivor, merged = uuid.uuid4(), uuid.uuid4()
    for customer in (survivor, merged):
        assert await deliver(runner, event("feedback", "complaint.opened", customer_id=customer))
    assert await deliver(runner, event("feedback", "vote.cast", idea_id=uuid.uuid4(), customer_id=merged))
    merge = event("identity", "customer.merged", customer_id=survivor, survivor_id=survivor, merged_id=merged)
    assert await deliver(runner, merge)
    # Both had an enrollment in each campaign: the survivor keeps its own, the merged one's go.
    for campaign in (campaign_id, other_id):
        assert [e.customer_id for e in await enrollments(sessions, campaign)] == [survivor]
    assert [e.customer_id for e in await enrollments(sessions, only_merged)] == [survivor]  # moved over
    assert await deliver(runner, merge)  # a redelivery (same event) changes nothing
    erased = event("identity", "customer.erased", customer_id=survivor, merged_ids=[merged])
    assert await deliver(runner, erased)
    for campaign in (campaign_id, other_id, only_merged):
        assert await enrollments(sessions, campaign) == []


async def test_unmerge_puts_back_exactly_the_enrollments_the_merge_moved_or_dropped(
    runner: ConsumerRunner, sessions: async_sessionmaker[AsyncSession], settings: CampaignSettings
) -> None:
    both = await journey(sessions, settings, entry={"type": "event", "event": "complaint.opened"})
    only_merged = await journey(sessions, settings, entry={"type": "event", "event": "vote.cast"})
    survivor, merged = uuid.uuid4(), uuid.uuid4()
    for customer in (survivor, merged):
        assert await deliver(runner, event("feedback", "complaint.opened", customer_id=customer))
    assert await deliver(runner, event("feedback", "vote.cast", idea_id=uuid.uuid4(), customer_id=merged))
    before = {
        (e.id, e.customer_id, e.status) for c in (both, only_merged) for e in await enrollments(sessions, c)
    }
    merge_id = uuid.uuid4()
    ids = {"merge_id": merge_id, "survivor_id": survivor}
    assert await deliver(
        runner, event("identity", "customer.merged", customer_id=survivor, merged_id=merged, **ids)
    )
    assert [e.customer_id for e in await enrollments(sessions, both)] == [survivor]

    unmerge = event("identity", "customer.unmerged", customer_id=merged, restored_id=merged, **ids)
    assert await deliver(runner, unmerge)

    after = {
        (e.id, e.customer_id, e.status) for c in (both, only_merged) for e in await enrollments(sessions, c)
    }
    assert after == before  # the same rows, ids and owners as before the merge
    assert await deliver(
        runner, event("identity", "customer.unmerged", customer_id=merged, restored_id=merged, **ids)
    )
    after_repeat = {
        (e.id, e.customer_id) for c in (both, only_merged) for e in await enrollments(sessions, c)
    }
    assert after_repeat == {(i, c) for i, c, _ in before}  # a second unmerge (new event id) changes nothing
