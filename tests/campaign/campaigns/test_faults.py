"""Faults and concurrency: a launch that fails half-way leaves a draft and nothing else; two runners
never advance the same enrollment."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign.campaigns import journeys
from campaign.campaigns import service as campaigns
from campaign.settings import CampaignSettings
from tests.campaign.campaigns.conftest import T0, AddMember, enrollments, ledger, outbox_events
from tests.campaign.campaigns.test_journeys import enter, launch, send
from tests.campaign.campaigns.test_router import MARKETER, cohort_segment, count, email_step


async def test_a_launch_failing_after_storing_contents_leaves_only_the_draft(
    campaign_client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    settings: CampaignSettings,
    add_member: AddMember,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cohort = uuid.uuid4().hex[:8]
    for _ in range(3):
        await add_member(traits={"cohort": cohort})
    segment_id = await cohort_segment(campaign_client, cohort)
    definition = {"entry": {"type": "segment", "segment_id": segment_id}, "steps": [email_step()]}
    created = await campaign_client.post(
        "/v1/campaigns",
        json={"name": "Fails", "kind": "broadcast", "definition": definition},
        headers=MARKETER,
    )
    campaign_id = uuid.UUID(created.json()["id"])

    async def broken_enrollment(*args: object, **kwargs: object) -> int:
        raise RuntimeError("database went away mid-launch")

    # The fault strikes after the contents were upserted and the status set, before enrollment ends.
    monkeypatch.setattr(campaigns, "enroll_next_batch", broken_enrollment)
    with pytest.raises(RuntimeError):
        async with sessions() as session, session.begin():
            await campaigns.launch_campaign(session, settings, campaign_id)
    async with sessions() as session:
        assert (await campaigns.get_campaign(session, campaign_id)).status == "draft"
    assert await count(sessions, "message_content") == 0
    assert await enrollments(sessions, campaign_id) == []
    assert await outbox_events(sessions, "campaign.launched") == []

    monkeypatch.undo()  # the same launch, with the fault gone, goes through whole
    async with sessions() as session, session.begin():
        await campaigns.launch_campaign(session, settings, campaign_id)
    assert len(await enrollments(sessions, campaign_id)) == 3
    assert await count(sessions, "message_content") == 1


async def test_two_runners_never_advance_the_same_enrollment(
    sessions: async_sessionmaker[AsyncSession], settings: CampaignSettings
) -> None:
    campaign_id = await launch(sessions, settings, [send("hi", None)])
    for _ in range(10):
        await enter(sessions, settings, uuid.uuid4())
    async with sessions() as first, first.begin():
        claimed_first = await journeys.run_due(first, settings, now=T0, limit=6)
        # While the first transaction holds its six, a second runner takes only the other four.
        async with sessions() as second, second.begin():
            claimed_second = await journeys.run_due(second, settings, now=T0, limit=10)
    assert (claimed_first.claimed, claimed_second.claimed) == (6, 4)
    rows = await ledger(sessions, campaign_id)
    assert len(rows) == 10 and len({r.customer_id for r in rows}) == 10
