"""The journey runner and the reactions to events: entries, goals, exits and response wake-ups.

The runner claims due enrollments (``FOR UPDATE SKIP LOCKED``) in batches and walks each one through
its steps until it rests (a wait, a window, a response branch still open) or leaves. Work is done
per step group, so a batch costs one ``enqueue``, one ``matching`` per condition branch and one
``responded`` per response branch, not one call per customer.

An enrollment rests at ``current_step`` until ``next_run_at``. A fresh one has ``current_step`` null
and starts at the first step. When a claimed enrollment rests at a ``wait`` the wait is over; at a
``wait_until`` the window is checked again (a pause may have pushed it out of the window); at a
response branch the response is looked up again.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign.audience import service as audience_service
from campaign.campaigns import assignment, repository
from campaign.campaigns import service as campaigns
from campaign.campaigns.definition import (
    BranchStep,
    CampaignDefinition,
    EventEntry,
    ExitOnEvent,
    ExitOnSegment,
    ResponseCondition,
    RuleCondition,
    SegmentEntry,
    SendStep,
    SplitStep,
    WaitStep,
    WaitUntilStep,
)
from campaign.campaigns.models import Campaign, CampaignEnrollment
from campaign.campaigns.repository import DueEnrollment
from campaign.campaigns.timing import next_window_start, zone_or_default
from campaign.database import metadata
from campaign.delivery import service as delivery_service
from campaign.segments import service as segments_service
from campaign.settings import CampaignSettings
from crm_common.events import record_event

log = structlog.get_logger(__name__)

# A journey's steps between two rests; the launch checks forbid cycles without a wait, this is a guard.
_MAX_STEPS_PER_RUN = 200


@dataclass
class _Walk:
    enrollment: DueEnrollment
    step_id: str | None  # the step to arrive at; None = leave (completed)
    hops: int = 0


@dataclass
class RunReport:
    claimed: int = 0
    sends: int = 0
    completed: int = 0
    resting: int = 0
    extra: dict[str, int] = field(default_factory=dict)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _finish(enrollment: DueEnrollment | CampaignEnrollment, now: datetime, status: str, reason: str) -> None:
    enrollment.status = status
    enrollment.exited_at = now
    enrollment.exit_reason = reason
    enrollment.next_run_at = None


async def run_due(
    session: AsyncSession, settings: CampaignSettings, *, now: datetime, limit: int | None = None
) -> RunReport:
    """Claims and advances one batch of due enrollments in the caller's transaction."""
    report = RunReport()
    claimed = await repository.claim_due_enrollments(
        session, now, limit or settings.campaign_runner_batch_size
    )
    report.claimed = len(claimed)
    if not claimed:
        return report
    campaign_rows = {
        c.id: c for c in await repository.get_campaigns(session, list({e.campaign_id for e in claimed}))
    }
    definitions = {cid: campaigns.parse_definition(c) for cid, c in campaign_rows.items()}
    weights = await repository.latest_allocations(session, list(campaign_rows))

    walks: list[_Walk] = []
    resume: list[DueEnrollment] = []
    for enrollment in claimed:
        if enrollment.group != assignment.TREATMENT:
            _finish(enrollment, now, "completed", "control_window_over")
            report.completed += 1
        elif enrollment.current_step is None:
            walks.append(_Walk(enrollment, definitions[enrollment.campaign_id].steps[0].id))
        else:
            resume.append(enrollment)

    # Resting enrollments: decide whether they go on now.
    zones = await _time_zones(session, settings, [e for e in resume if _is(definitions, e, WaitUntilStep)])
    response_rest: list[DueEnrollment] = []
    for enrollment in resume:
        definition = definitions[enrollment.campaign_id]
        step = definition.step(enrollment.current_step or "")
        if step is None:
            _finish(enrollment, now, "exited", "step_removed")
        elif isinstance(step, WaitStep):
            walks.append(_Walk(enrollment, step.next))
        elif isinstance(step, WaitUntilStep):
            start, end = step.local_time.bounds()
            at = next_window_start(now, start, end, zones[enrollment.customer_id])
            if at <= now:
                walks.append(_Walk(enrollment, step.next))
            else:
                enrollment.next_run_at = at
                report.resting += 1
        elif isinstance(step, BranchStep) and isinstance(step.on, ResponseCondition):
            response_rest.append(enrollment)
        else:
            walks.append(_Walk(enrollment, step.id))
    walks.extend(await _decide_response_branches(session, definitions, response_rest, now, report))

    sends: list[Any] = []
    while walks:
        walks = await _step_round(
            session, settings, campaign_rows, definitions, weights, walks, sends, now, report
        )
    if sends:
        report.sends = await delivery_service.enqueue(session, sends)
    # The progress of the whole batch in one statement instead of one UPDATE per enrollment.
    await repository.save_progress(session, claimed)
    return report


def _is(definitions: dict[uuid.UUID, CampaignDefinition], enrollment: DueEnrollment, kind: type) -> bool:
    return isinstance(definitions[enrollment.campaign_id].step(enrollment.current_step or ""), kind)


async def _time_zones(
    session: AsyncSession, settings: CampaignSettings, enrollments: Sequence[DueEnrollment]
) -> dict[uuid.UUID, Any]:
    ids = list({e.customer_id for e in enrollments})
    members = {m.customer_id: m for m in await audience_service.get_members(session, ids)} if ids else {}
    return {
        customer_id: zone_or_default(
            getattr(members.get(customer_id), "time_zone", None), settings.default_time_zone
        )
        for customer_id in ids
    }


async def _decide_response_branches(
    session: AsyncSession,
    definitions: dict[uuid.UUID, CampaignDefinition],
    enrollments: Sequence[DueEnrollment],
    now: datetime,
    report: RunReport,
) -> list[_Walk]:
    """Response branches: ``then`` once the customer responded to the step's send within the period,
    ``else`` when the period is over without one, otherwise rest until the period ends (a response event
    wakes the enrollment earlier). One ``responded`` call per (campaign, branch step)."""
    groups: dict[tuple[uuid.UUID, str], list[DueEnrollment]] = defaultdict(list)
    for enrollment in enrollments:
        groups[(enrollment.campaign_id, enrollment.current_step or "")].append(enrollment)
    walks: list[_Walk] = []
    for (campaign_id, step_id), members in groups.items():
        step = definitions[campaign_id].step(step_id)
        assert isinstance(step, BranchStep) and isinstance(step.on, ResponseCondition)
        on = step.on
        sent_at: dict[uuid.UUID, datetime] = {}
        for enrollment in members:
            at = _sent_at(enrollment, on.step)
            if at is None:
                walks.append(_Walk(enrollment, step.else_))  # never got the message: no response to wait for
            else:
                sent_at[enrollment.id] = at
        asked = [e for e in members if e.id in sent_at]
        if not asked:
            continue
        since = min(sent_at.values())
        kinds = _response_kinds(on.response)
        answered = await delivery_service.responded(
            session, campaign_id, on.step, [e.customer_id for e in asked], kinds, since
        )
        for enrollment in asked:
            deadline = sent_at[enrollment.id] + timedelta(hours=on.within_hours)
            if enrollment.customer_id in answered:
                walks.append(_Walk(enrollment, step.then))
            elif now >= deadline:
                walks.append(_Walk(enrollment, step.else_))
            else:
                enrollment.current_step = step.id
                enrollment.next_run_at = deadline
                report.resting += 1
    return walks


def _response_kinds(response: str) -> list[str]:
    # A click proves the message was opened (image-blocking clients never fire the pixel).
    return {
        "opened": ["opened", "clicked"],
        "clicked": ["clicked"],
        "delivered": ["delivered", "opened", "clicked"],
    }[response]


def _sent_at(enrollment: DueEnrollment, step_id: str) -> datetime | None:
    visited = (enrollment.visited or {}).get(step_id)
    return datetime.fromisoformat(visited) if visited else None


async def _step_round(
    session: AsyncSession,
    settings: CampaignSettings,
    campaign_rows: dict[uuid.UUID, Campaign],
    definitions: dict[uuid.UUID, CampaignDefinition],
    weights: dict[tuple[uuid.UUID, str], dict[str, float]],
    walks: list[_Walk],
    sends: list[Any],
    now: datetime,
    report: RunReport,
) -> list[_Walk]:
    """Every walk arrives at its step; returns the walks that go on to another step at once."""
    following: list[_Walk] = []
    by_step: dict[tuple[uuid.UUID, str], list[_Walk]] = defaultdict(list)
    for walk in walks:
        enrollment = walk.enrollment
        if walk.step_id is None:
            _finish(enrollment, now, "completed", "journey_end")
            report.completed += 1
            continue
        if walk.hops >= _MAX_STEPS_PER_RUN:
            log.error("journey_loop_guard", enrollment_id=str(enrollment.id), step=walk.step_id)
            _finish(enrollment, now, "exited", "loop_guard")
            continue
        step = definitions[enrollment.campaign_id].step(walk.step_id)
        if step is None:
            _finish(enrollment, now, "exited", "step_removed")
            continue
        enrollment.current_step = step.id
        enrollment.visited = {**(enrollment.visited or {}), step.id: _iso(now)}
        by_step[(enrollment.campaign_id, step.id)].append(walk)

    for (campaign_id, step_id), group in by_step.items():
        definition = definitions[campaign_id]
        step = definition.step(step_id)
        nxt = [_Walk(w.enrollment, None, w.hops + 1) for w in group]
        if isinstance(step, SendStep):
            campaign = campaign_rows[campaign_id]
            step_weights = weights.get((campaign_id, step.id)) or {v.key: 1.0 for v in step.variants}
            keys = {v.key for v in step.variants}
            step_weights = {k: w for k, w in step_weights.items() if k in keys and w > 0} or {
                k: 1.0 for k in keys
            }
            for walk in group:
                enrollment = walk.enrollment
                variant = assignment.pick_variant(enrollment.id, step.id, step_weights)
                if enrollment.variant_key is None:
                    enrollment.variant_key = variant
                content_id = campaign.content_ids.get(f"{step.id}:{variant}")
                sends.append(
                    delivery_service.SendRequest(
                        campaign_id=campaign_id,
                        step_id=step.id,
                        variant_key=variant,
                        customer_id=enrollment.customer_id,
                        occurrence=enrollment.occurrence,
                        channel=step.channel,
                        purpose=step.purpose,
                        content_id=uuid.UUID(str(content_id)),
                    )
                )
            for walk in nxt:
                walk.step_id = step.next
            following.extend(nxt)
        elif isinstance(step, WaitStep):
            for walk in group:
                walk.enrollment.next_run_at = now + timedelta(hours=step.hours)
                report.resting += 1
        elif isinstance(step, WaitUntilStep):
            zones = await _time_zones(session, settings, [w.enrollment for w in group])
            start, end = step.local_time.bounds()
            for walk, after in zip(group, nxt, strict=True):
                at = next_window_start(now, start, end, zones[walk.enrollment.customer_id])
                if at <= now:
                    after.step_id = step.next
                    following.append(after)
                else:
                    walk.enrollment.next_run_at = at
                    report.resting += 1
        elif isinstance(step, BranchStep) and isinstance(step.on, RuleCondition):
            ids = [w.enrollment.customer_id for w in group]
            holds = await segments_service.matching(session, step.on.condition, ids)
            for walk, after in zip(group, nxt, strict=True):
                after.step_id = step.then if walk.enrollment.customer_id in holds else step.else_
            following.extend(nxt)
        elif isinstance(step, BranchStep):
            decided = await _decide_response_branches(
                session, definitions, [w.enrollment for w in group], now, report
            )
            hops = {w.enrollment.id: w.hops + 1 for w in group}
            for walk in decided:
                walk.hops = hops[walk.enrollment.id]
            following.extend(decided)
        elif isinstance(step, SplitStep):
            percents = [branch.percent for branch in step.branches]
            for walk, after in zip(group, nxt, strict=True):
                index = assignment.split_branch(walk.enrollment.id, step.id, percents)
                after.step_id = step.branches[index].next
            following.extend(nxt)
        else:  # exit
            for walk in group:
                _finish(walk.enrollment, now, "completed", "exit_step")
                report.completed += 1
    return following


# --- reactions to events ---


@dataclass(frozen=True, slots=True)
class Activity:
    """What an incoming event means to campaigns: a customer did ``activity_type`` at ``occurred_at``."""

    activity_type: str
    customer_id: uuid.UUID
    occurred_at: datetime
    campaign_id: uuid.UUID | None = None
    step_id: str | None = None
    segment_id: uuid.UUID | None = None


async def on_activity(session: AsyncSession, settings: CampaignSettings, activity: Activity) -> None:
    """Goals, exits, event entries and response wake-ups for one activity; safe to repeat."""
    await reach_goals(session, activity)
    await apply_exits(session, activity, {"event": activity.activity_type})
    await enter_by_event(session, settings, activity)
    if activity.campaign_id is not None and activity.step_id is not None:
        await wake_response_branches(session, activity)


async def reach_goals(session: AsyncSession, activity: Activity) -> int:
    """The customer's enrollments whose goal is this activity convert at once: status ``converted``
    (the runner never sends to them again), ``campaign.converted`` with the group."""
    converted = 0
    latest: dict[uuid.UUID, CampaignEnrollment] = {}
    for candidate in await repository.goal_candidates(
        session, activity.customer_id, activity.activity_type, activity.occurred_at
    ):
        # One conversion per campaign: with re-entries in the window, the latest passage gets it.
        held = latest.get(candidate.campaign_id)
        if held is None or candidate.occurrence > held.occurrence:
            latest[candidate.campaign_id] = candidate
    for enrollment in latest.values():
        enrollment.status = "converted"
        enrollment.converted_at = activity.occurred_at
        if enrollment.exited_at is None:
            enrollment.exited_at = activity.occurred_at
            enrollment.exit_reason = "goal"
        enrollment.next_run_at = None
        converted += 1
        await record_event(
            session,
            metadata,
            producer=campaigns.PRODUCER,
            event_type="campaign.converted",
            subject_id=str(enrollment.campaign_id),
            payload={
                "campaign_id": str(enrollment.campaign_id),
                "customer_id": str(enrollment.customer_id),
                "variant_key": enrollment.variant_key if enrollment.group == assignment.TREATMENT else None,
                "group": enrollment.group,
                "goal_event": activity.activity_type,
                "occurred_at": _iso(activity.occurred_at),
                "occurrence": enrollment.occurrence,
            },
        )
    await session.flush()
    return converted


async def apply_exits(session: AsyncSession, activity: Activity, rule: dict[str, Any]) -> int:
    """Active enrollments of the customer in running or paused campaigns whose exit list holds ``rule``
    leave (status ``exited``)."""
    # Only campaigns that name this exit are looked at, so the many events that are nobody's exit
    # (every message.sent) lock no enrollment.
    fragment = {"exit": [{key: str(value) for key, value in rule.items()}]}
    rows = {
        c.id: c
        for c in await repository.campaigns_matching_definition(
            session, fragment, statuses=("running", "paused")
        )
    }
    if not rows:
        return 0
    candidates = await repository.enrollments_of_customer(
        session, activity.customer_id, statuses=["active"], campaign_ids=list(rows), lock=True
    )
    exited = 0
    for enrollment in candidates:
        definition = campaigns.parse_definition(rows[enrollment.campaign_id])
        for exit_rule in definition.exit:
            hit = (isinstance(exit_rule, ExitOnEvent) and rule.get("event") == exit_rule.event) or (
                isinstance(exit_rule, ExitOnSegment)
                and rule.get("segment_exited") == exit_rule.segment_exited
            )
            if hit:
                reason = (
                    f"event:{exit_rule.event}" if isinstance(exit_rule, ExitOnEvent) else "segment_exited"
                )
                _finish(enrollment, activity.occurred_at, "exited", reason)
                exited += 1
                break
    await session.flush()
    return exited


async def enter_by_event(session: AsyncSession, settings: CampaignSettings, activity: Activity) -> int:
    """Running journeys entered by this event type (and its ``where`` rule, if any) enroll the customer."""
    added = 0
    fragment = {"entry": {"type": "event", "event": activity.activity_type}}
    for campaign in await repository.campaigns_matching_definition(session, fragment):
        if campaign.kind != "journey":
            continue
        definition = campaigns.parse_definition(campaign)
        entry = definition.entry
        assert isinstance(entry, EventEntry)
        if entry.where is not None:
            holds = await segments_service.matching(session, entry.where, [activity.customer_id])
            if activity.customer_id not in holds:
                continue
        added += await campaigns.enroll_customers(
            session, settings, campaign, definition, [activity.customer_id], now=_now_for(activity)
        )
    return added


async def enter_by_segment(
    session: AsyncSession,
    settings: CampaignSettings,
    segment_id: uuid.UUID,
    customer_id: uuid.UUID,
    at: datetime,
) -> int:
    """``segment.entered``: running journeys entered by that segment enroll the customer."""
    added = 0
    fragment = {"entry": {"type": "segment", "segment_id": str(segment_id)}}
    for campaign in await repository.campaigns_matching_definition(session, fragment):
        if campaign.kind != "journey":
            continue
        definition = campaigns.parse_definition(campaign)
        assert isinstance(definition.entry, SegmentEntry)
        added += await campaigns.enroll_customers(
            session, settings, campaign, definition, [customer_id], now=at
        )
    return added


def _now_for(activity: Activity) -> datetime:
    # Enroll at the event's time if it is recent (a redelivered old event must not start a fresh
    # goal window long after the fact), never in the future.
    now = datetime.now(UTC)
    return min(activity.occurred_at, now)


async def wake_response_branches(session: AsyncSession, activity: Activity) -> int:
    """A response (``message.opened``...) to a send step makes enrollments resting at a branch on that
    step's response due at once, so ``then`` does not wait for the period to end."""
    assert activity.campaign_id is not None
    campaign = await repository.get_campaign(session, activity.campaign_id)
    if campaign is None:
        return 0
    definition = campaigns.parse_definition(campaign)
    kind = activity.activity_type.removeprefix("message.")
    steps = [
        s.id
        for s in definition.response_branches()
        if isinstance(s.on, ResponseCondition)
        and s.on.step == activity.step_id
        and kind in _response_kinds(s.on.response)
    ]
    if not steps:
        return 0
    # Due at the response's time (never later than now), so the runner takes the branch at its next pass.
    due = min(activity.occurred_at, datetime.now(UTC))
    return await repository.wake_enrollments(session, campaign.id, activity.customer_id, steps, due)


# --- the jobs' units of work ---


async def enroll_due_segments(
    sessions: async_sessionmaker[AsyncSession],
    settings: CampaignSettings,
    *,
    now: datetime,
    max_batches: int = 20,
) -> int:
    """Scheduled and big broadcast enrollments: one keyset batch per transaction, so a crash loses at
    most the batch in flight and the cursor resumes where the last commit left it."""
    total = 0
    for _ in range(max_batches):
        async with sessions() as session, session.begin():
            claimed = await repository.claim_campaigns_to_enroll(session, now, 1)
            if not claimed:
                break
            total += await campaigns.enroll_next_batch(session, settings, claimed[0], now=now)
    return total


async def complete_finished(session: AsyncSession, *, now: datetime) -> int:
    """Running broadcasts whose enrollment is done and whose enrollments all left are completed."""
    done = 0
    for campaign in await repository.running_campaigns(session, kinds=["broadcast"]):
        if campaign.enroll_at is None and not await repository.active_enrollment_exists(session, campaign.id):
            await campaigns.complete_campaign(session, campaign, now=now)
            done += 1
    return done
