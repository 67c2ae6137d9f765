"""Broadcast enrollment at scale and over time: scheduled entries, keyset batches committed one by one,
the global control group, and completion."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign.campaigns import assignment, journeys
from campaign.campaigns.jobs import runner_tick
from campaign.settings import CampaignSettings
from tests.campaign.campaigns.conftest import AddMember, enrollments, ledger, outbox_events
from tests.campaign.campaigns.test_router import ANALYST, MARKETER, cohort_segment, email_step


async def _create(client: httpx.AsyncClient, entry: dict[str, str], **extra: object) -> uuid.UUID:
    definition = {"entry": entry, "steps": [email_step()], **extra}
    answer = await client.post(
        "/v1/campaigns",
        json={"name": "Broadcast", "kind": "broadcast", "definition": definition},
        headers=MARKETER,
    )
    assert answer.status_code == 201, answer.text
    return uuid.UUID(answer.json()["id"])


async def test_scheduled_broadcast_enrolls_at_its_time_in_keyset_batches(
    campaign_client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    settings: CampaignSettings,
    add_member: AddMember,
) -> None:
    cohort = uuid.uuid4().hex[:8]
    members = {await add_member(traits={"cohort": cohort}) for _ in range(12)}
    segment_id = await cohort_segment(campaign_client, cohort)
    at = datetime.now(UTC) + timedelta(hours=2)
    campaign_id = await _create(
        campaign_client, {"type": "schedule", "at": at.isoformat(), "segment_id": segment_id}
    )
    launched = await campaign_client.post(f"/v1/campaigns/{campaign_id}/launch", headers=MARKETER)
    assert launched.status_code == 200 and launched.json()["enrollment_pending"] is True
    small_batches = settings.model_copy(update={"campaign_enroll_batch_size": 5})
    assert await journeys.enroll_due_segments(sessions, small_batches, now=at - timedelta(minutes=1)) == 0
    assert await enrollments(sessions, campaign_id) == []
    # One batch per transaction; stop after two to see the cursor hold its place.
    assert await journeys.enroll_due_segments(sessions, small_batches, now=at, max_batches=2) == 10
    assert len(await enrollments(sessions, campaign_id)) == 10
    assert await journeys.enroll_due_segments(sessions, small_batches, now=at) == 2
    assert {e.customer_id for e in await enrollments(sessions, campaign_id)} == members
    shown = (await campaign_client.get(f"/v1/campaigns/{campaign_id}", headers=ANALYST)).json()
    assert shown["enrollment_pending"] is False
    assert await journeys.enroll_due_segments(sessions, small_batches, now=at) == 0


async def test_global_control_is_excluded_but_measured_and_the_broadcast_completes(
    campaign_client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    settings: CampaignSettings,
    add_member: AddMember,
) -> None:
    cohort = uuid.uuid4().hex[:8]
    members = [await add_member(traits={"cohort": cohort}) for _ in range(30)]
    segment_id = await cohort_segment(campaign_client, cohort)
    campaign_id = await _create(campaign_client, {"type": "segment", "segment_id": segment_id})
    with_global = settings.model_copy(
        update={"global_control_percent": 25, "global_control_salt": "test-salt"}
    )
    from campaign.campaigns import service as campaigns

    async with sessions() as session, session.begin():
        await campaigns.launch_campaign(session, with_global, campaign_id)
    groups = {e.customer_id: e.group for e in await enrollments(sessions, campaign_id)}
    expected = {
        c: assignment.group_for(
            campaign_id, c, holdout_percent=0, global_control_percent=25, global_control_salt="test-salt"
        )
        for c in members
    }
    assert groups == expected
    held_out = {c for c, g in expected.items() if g == assignment.GLOBAL_CONTROL}
    assert held_out and len(held_out) < len(members)

    await runner_tick(sessions, with_global, datetime.now(UTC))
    assert {r.customer_id for r in await ledger(sessions, campaign_id)} == set(members) - held_out
    # No goal: the journey of every enrollment is over, so the broadcast is complete.
    shown = (await campaign_client.get(f"/v1/campaigns/{campaign_id}", headers=ANALYST)).json()
    assert shown["status"] == "completed"
    assert [e["payload"]["campaign_id"] for e in await outbox_events(sessions, "campaign.completed")] == [
        str(campaign_id)
    ]


async def test_a_segment_journey_takes_current_members_only_when_asked(
    campaign_client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    add_member: AddMember,
) -> None:
    cohort = uuid.uuid4().hex[:8]
    members = {await add_member(traits={"cohort": cohort}) for _ in range(3)}
    segment_id = await cohort_segment(campaign_client, cohort)

    launched: dict[bool, uuid.UUID] = {}
    for include in (False, True):
        entry = {"type": "segment", "segment_id": segment_id, "include_current_members": include}
        answer = await campaign_client.post(
            "/v1/campaigns",
            json={
                "name": f"Journey {include}",
                "kind": "journey",
                "definition": {"entry": entry, "steps": [email_step()]},
            },
            headers=MARKETER,
        )
        assert answer.status_code == 201, answer.text
        campaign_id = uuid.UUID(answer.json()["id"])
        assert (
            await campaign_client.post(f"/v1/campaigns/{campaign_id}/launch", headers=MARKETER)
        ).status_code == 200
        launched[include] = campaign_id

    assert await enrollments(sessions, launched[False]) == []  # later entrants only
    assert {e.customer_id for e in await enrollments(sessions, launched[True])} == members
