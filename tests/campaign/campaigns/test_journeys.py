"""The journey runner, driven with a controlled "now": sends into the delivery ledger, waits, windows
across a DST change, branches on responses and on conditions, splits, goals during a wait,
pause/resume, and re-entry."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign.campaigns import assignment, journeys
from campaign.campaigns import service as campaigns
from campaign.campaigns.definition import CampaignDefinition
from campaign.campaigns.schemas import CampaignCreate
from campaign.delivery import service as delivery_service
from campaign.settings import CampaignSettings
from tests.campaign.campaigns.conftest import T0, AddMember, enrollments, ledger, outbox_events

EMAIL = {"channel": "email", "purpose": "marketing"}


def send(step_id: str, nxt: str | None, *keys: str) -> dict[str, Any]:
    variants = [
        {"key": k, "subject": f"Hello {k}", "body": "Hi {{ customer.first_name }}"} for k in keys or ("A",)
    ]
    return {"id": step_id, "type": "send", **EMAIL, "variants": variants, **({"next": nxt} if nxt else {})}


async def launch(
    sessions: async_sessionmaker[AsyncSession],
    settings: CampaignSettings,
    steps: list[dict[str, Any]],
    **extra: Any,
) -> uuid.UUID:
    definition = {"entry": {"type": "event", "event": "complaint.opened"}, "steps": steps}
    definition.update(extra)
    async with sessions() as session, session.begin():
        created = await campaigns.create_campaign(
            session,
            CampaignCreate(
                name="Care journey", kind="journey", definition=CampaignDefinition.model_validate(definition)
            ),
            created_by="staff-marketer",
        )
        await campaigns.launch_campaign(session, settings, created.id, now=T0)
        return created.id


async def enter(
    sessions: async_sessionmaker[AsyncSession],
    settings: CampaignSettings,
    customer_id: uuid.UUID,
    at: Any = T0,
) -> None:
    async with sessions() as session, session.begin():
        await journeys.on_activity(session, settings, journeys.Activity("complaint.opened", customer_id, at))


async def run(
    sessions: async_sessionmaker[AsyncSession], settings: CampaignSettings, now: Any
) -> journeys.RunReport:
    async with sessions() as session, session.begin():
        return await journeys.run_due(session, settings, now=now)


async def test_event_entry_sends_the_first_step_then_rests_for_the_wait(
    sessions: async_sessionmaker[AsyncSession], settings: CampaignSettings, add_member: AddMember
) -> None:
    customer = await add_member()
    campaign_id = await launch(
        sessions,
        settings,
        [
            send("welcome", "wait1"),
            {"id": "wait1", "type": "wait", "hours": 24, "next": "bye"},
            send("bye", None),
        ],
    )
    await enter(sessions, settings, customer)
    await enter(sessions, settings, customer)  # a repeat (no re-entry allowed) enrolls nothing more
    report = await run(sessions, settings, T0)
    assert report.sends == 1
    assert [(r.step_id, r.customer_id, r.occurrence) for r in await ledger(sessions, campaign_id)] == [
        ("welcome", customer, 0)
    ]
    (enrollment,) = await enrollments(sessions, campaign_id)
    assert (enrollment.current_step, enrollment.next_run_at) == ("wait1", T0 + timedelta(hours=24))
    assert (await run(sessions, settings, T0 + timedelta(hours=23))).claimed == 0
    report = await run(sessions, settings, T0 + timedelta(hours=24))
    assert report.sends == 1 and report.completed == 1
    assert [r.step_id for r in await ledger(sessions, campaign_id)] == ["bye", "welcome"]
    (enrollment,) = await enrollments(sessions, campaign_id)
    assert enrollment.status == "completed" and enrollment.next_run_at is None


async def test_wait_until_takes_the_next_local_window_start_across_dst(
    sessions: async_sessionmaker[AsyncSession], settings: CampaignSettings, add_member: AddMember
) -> None:
    new_york = await add_member(time_zone="America/New_York")
    seoul = await add_member(time_zone="Asia/Seoul")
    campaign_id = await launch(
        sessions,
        settings,
        [
            {
                "id": "window",
                "type": "wait_until",
                "local_time": {"start": "09:00", "end": "11:00"},
                "next": "hi",
            },
            send("hi", None),
        ],
    )
    await enter(sessions, settings, new_york)  # T0 = 2026-10-31 20:00 UTC = 16:00 EDT
    await enter(sessions, settings, seoul)  # = 05:00 KST on Nov 1
    await run(sessions, settings, T0)
    due = {e.customer_id: e.next_run_at for e in await enrollments(sessions, campaign_id)}
    # New York leaves DST on Nov 1: 09:00 EST is 14:00 UTC (it was 13:00 UTC the day before).
    assert due[new_york] == T0.replace(day=1, month=11, hour=14)
    assert due[seoul] == T0.replace(day=1, month=11, hour=0)  # 09:00 KST
    assert await ledger(sessions, campaign_id) == []
    await run(sessions, settings, T0.replace(day=1, month=11, hour=0))
    assert [r.customer_id for r in await ledger(sessions, campaign_id)] == [seoul]
    await run(sessions, settings, T0.replace(day=1, month=11, hour=14))
    assert {r.customer_id for r in await ledger(sessions, campaign_id)} == {seoul, new_york}


def _response_journey() -> list[dict[str, Any]]:
    return [
        send("welcome", "check"),
        {
            "id": "check",
            "type": "branch",
            "on": {"response": "opened", "step": "welcome", "within_hours": 48},
            "then": "thanks",
            "else": "nudge",
        },
        send("thanks", None),
        send("nudge", None),
    ]


async def _message_id(sessions: async_sessionmaker[AsyncSession], customer: uuid.UUID) -> uuid.UUID:
    async with sessions() as session:
        page = await delivery_service.message_history(session, customer, after=None, limit=10)
        return page.items[0].id


async def test_branch_on_response_waits_for_the_period_or_the_response(
    sessions: async_sessionmaker[AsyncSession], settings: CampaignSettings, add_member: AddMember
) -> None:
    opener, early_opener, silent = await add_member(), await add_member(), await add_member()
    campaign_id = await launch(sessions, settings, _response_journey())
    for customer in (opener, early_opener, silent):
        await enter(sessions, settings, customer)
    await run(sessions, settings, T0)
    # Opened before the branch is reached again: the runner takes "then" at once.
    async with sessions() as session, session.begin():
        assert await delivery_service.record_response(
            session, await _message_id(sessions, early_opener), "opened", occurred_at=T0 + timedelta(hours=1)
        )
    resting = {e.customer_id: e for e in await enrollments(sessions, campaign_id)}
    assert all(
        e.current_step == "check" and e.next_run_at == T0 + timedelta(hours=48) for e in resting.values()
    )

    # A response during the wait wakes the enrollment (the consumer's reaction to message.opened).
    message_id = await _message_id(sessions, opener)
    async with sessions() as session, session.begin():
        assert await delivery_service.record_response(
            session, message_id, "opened", occurred_at=T0 + timedelta(hours=5)
        )
        await journeys.on_activity(
            session,
            settings,
            journeys.Activity(
                "message.opened", opener, T0 + timedelta(hours=5), campaign_id=campaign_id, step_id="welcome"
            ),
        )
    await run(sessions, settings, T0 + timedelta(hours=5))
    steps = {(r.step_id, r.customer_id) for r in await ledger(sessions, campaign_id)}
    assert ("thanks", opener) in steps and ("thanks", early_opener) not in steps
    # At the end of the period the silent one goes to "else"; the early opener (re-checked) to "then".
    await run(sessions, settings, T0 + timedelta(hours=48))
    steps = {(r.step_id, r.customer_id) for r in await ledger(sessions, campaign_id)}
    assert ("nudge", silent) in steps and ("thanks", early_opener) in steps
    assert ("nudge", opener) not in steps and ("thanks", silent) not in steps


async def test_split_is_deterministic_by_enrollment(
    sessions: async_sessionmaker[AsyncSession], settings: CampaignSettings
) -> None:
    campaign_id = await launch(
        sessions,
        settings,
        [
            {
                "id": "split",
                "type": "split",
                "branches": [{"percent": 30, "next": "a"}, {"percent": 70, "next": "b"}],
            },
            send("a", None),
            send("b", None),
        ],
    )
    customers = [uuid.uuid4() for _ in range(60)]
    for customer in customers:
        await enter(sessions, settings, customer)
    await run(sessions, settings, T0)
    taken = {r.customer_id: r.step_id for r in await ledger(sessions, campaign_id)}
    assert len(taken) == 60
    for enrollment in await enrollments(sessions, campaign_id):
        index = assignment.split_branch(enrollment.id, "split", [30, 70])
        assert taken[enrollment.customer_id] == ["a", "b"][index]
    assert 0 < list(taken.values()).count("a") < 40


async def test_goal_during_a_wait_converts_at_once_and_nothing_more_is_sent(
    sessions: async_sessionmaker[AsyncSession], settings: CampaignSettings, add_member: AddMember
) -> None:
    customer = await add_member()
    campaign_id = await launch(
        sessions,
        settings,
        [
            send("welcome", "wait1"),
            {"id": "wait1", "type": "wait", "hours": 24, "next": "again"},
            send("again", None),
        ],
        goal={"event": "order_placed", "within_hours": 72},
    )
    await enter(sessions, settings, customer)
    await run(sessions, settings, T0)
    async with sessions() as session, session.begin():
        await journeys.on_activity(
            session, settings, journeys.Activity("order_placed", customer, T0 + timedelta(hours=3))
        )
    (enrollment,) = await enrollments(sessions, campaign_id)
    assert enrollment.status == "converted" and enrollment.converted_at == T0 + timedelta(hours=3)
    assert (await run(sessions, settings, T0 + timedelta(hours=25))).claimed == 0
    assert [r.step_id for r in await ledger(sessions, campaign_id)] == ["welcome"]
    (event,) = [
        e
        for e in await outbox_events(sessions, "campaign.converted")
        if e["payload"]["campaign_id"] == str(campaign_id)
    ]
    assert event["payload"]["group"] == "treatment" and event["payload"]["variant_key"] == "A"
    assert event["payload"]["goal_event"] == "order_placed"
    # The same goal event again (a redelivery) converts nothing twice.
    async with sessions() as session, session.begin():
        assert (
            await journeys.reach_goals(
                session, journeys.Activity("order_placed", customer, T0 + timedelta(hours=3))
            )
            == 0
        )


async def test_exit_event_takes_the_customer_out(
    sessions: async_sessionmaker[AsyncSession], settings: CampaignSettings
) -> None:
    customer = uuid.uuid4()
    campaign_id = await launch(
        sessions,
        settings,
        [{"id": "wait1", "type": "wait", "hours": 24, "next": "hi"}, send("hi", None)],
        exit=[{"event": "message.unsubscribed"}],
    )
    await enter(sessions, settings, customer)
    await run(sessions, settings, T0)
    async with sessions() as session, session.begin():
        await journeys.on_activity(
            session, settings, journeys.Activity("message.unsubscribed", customer, T0 + timedelta(hours=1))
        )
    (enrollment,) = await enrollments(sessions, campaign_id)
    assert enrollment.status == "exited" and enrollment.exit_reason == "event:message.unsubscribed"
    await run(sessions, settings, T0 + timedelta(hours=30))
    assert await ledger(sessions, campaign_id) == []


async def test_pause_stops_the_runner_and_resume_continues(
    sessions: async_sessionmaker[AsyncSession], settings: CampaignSettings
) -> None:
    customer = uuid.uuid4()
    campaign_id = await launch(
        sessions, settings, [{"id": "wait1", "type": "wait", "hours": 1, "next": "hi"}, send("hi", None)]
    )
    await enter(sessions, settings, customer)
    await run(sessions, settings, T0)
    async with sessions() as session, session.begin():
        paused = await campaigns.pause_campaign(session, campaign_id)
        assert paused.status == "paused"
    assert (await run(sessions, settings, T0 + timedelta(hours=5))).claimed == 0
    assert await ledger(sessions, campaign_id) == []
    async with sessions() as session, session.begin():
        await campaigns.resume_campaign(session, campaign_id)
    assert (await run(sessions, settings, T0 + timedelta(hours=5))).sends == 1
    assert [e["type"] for e in await outbox_events(sessions, "campaign.paused")] == ["campaign.paused"]
    assert len(await outbox_events(sessions, "campaign.resumed")) == 1


async def test_re_entry_respects_the_cooldown(
    sessions: async_sessionmaker[AsyncSession], settings: CampaignSettings
) -> None:
    customer = uuid.uuid4()
    campaign_id = await launch(
        sessions, settings, [send("hi", None)], re_entry={"allowed": True, "cooldown_hours": 24}
    )
    await enter(sessions, settings, customer)
    await run(sessions, settings, T0)
    await enter(sessions, settings, customer, T0 + timedelta(hours=2))  # inside the cooldown
    await enter(sessions, settings, customer, T0 + timedelta(hours=25))
    await run(sessions, settings, T0 + timedelta(hours=25))
    assert [(r.step_id, r.occurrence) for r in await ledger(sessions, campaign_id)] == [("hi", 0), ("hi", 1)]


async def test_branch_on_condition_follows_the_rule_now(
    sessions: async_sessionmaker[AsyncSession], settings: CampaignSettings, add_member: AddMember
) -> None:
    gold, plain = await add_member(traits={"tier": "gold"}), await add_member(traits={"tier": "plain"})
    campaign_id = await launch(
        sessions,
        settings,
        [
            {
                "id": "check",
                "type": "branch",
                "on": {"condition": {"field": "traits.tier", "op": "eq", "value": "gold"}},
                "then": "vip",
                "else": "regular",
            },
            send("vip", None),
            send("regular", None),
        ],
    )
    await enter(sessions, settings, gold)
    await enter(sessions, settings, plain)
    await run(sessions, settings, T0)
    assert {(r.step_id, r.customer_id) for r in await ledger(sessions, campaign_id)} == {
        ("vip", gold),
        ("regular", plain),
    }


async def test_a_goal_converts_only_the_latest_passage_of_a_reentered_journey(
    sessions: async_sessionmaker[AsyncSession], settings: CampaignSettings
) -> None:
    customer = uuid.uuid4()
    campaign_id = await launch(
        sessions,
        settings,
        [send("hi", None)],
        re_entry={"allowed": True, "cooldown_hours": 1},
        goal={"event": "order_placed", "within_hours": 48},
    )
    await enter(sessions, settings, customer)
    await run(sessions, settings, T0)
    await enter(sessions, settings, customer, T0 + timedelta(hours=2))
    async with sessions() as session, session.begin():
        converted = await journeys.reach_goals(
            session, journeys.Activity("order_placed", customer, T0 + timedelta(hours=3))
        )
    assert converted == 1
    statuses = {e.occurrence: e.status for e in await enrollments(sessions, campaign_id)}
    assert statuses == {0: "completed", 1: "converted"}


async def test_a_window_missed_during_a_pause_waits_for_the_next_one(
    sessions: async_sessionmaker[AsyncSession], settings: CampaignSettings, add_member: AddMember
) -> None:
    seoul = await add_member(time_zone="Asia/Seoul")
    campaign_id = await launch(
        sessions,
        settings,
        [
            {
                "id": "window",
                "type": "wait_until",
                "local_time": {"start": "09:00", "end": "11:00"},
                "next": "hi",
            },
            send("hi", None),
        ],
    )
    await enter(sessions, settings, seoul)
    await run(sessions, settings, T0)  # rests until 09:00 KST = 00:00 UTC on Nov 1
    async with sessions() as session, session.begin():
        await campaigns.pause_campaign(session, campaign_id)
    async with sessions() as session, session.begin():
        await campaigns.resume_campaign(session, campaign_id)
    late = T0.replace(day=1, month=11, hour=4)  # 13:00 KST: the window is over
    await run(sessions, settings, late)
    (enrollment,) = await enrollments(sessions, campaign_id)
    assert enrollment.current_step == "window"
    assert enrollment.next_run_at == T0.replace(day=2, month=11, hour=0)  # 09:00 KST the next day
    assert await ledger(sessions, campaign_id) == []
