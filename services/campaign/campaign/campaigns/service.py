"""Campaigns: drafts, the launch checks, launch / pause / resume, enrollment, results, allocation.

No SQL here (``repository``) and no HTTP (``router``). Other domains are reached only through their
``service`` modules as ``INTERFACES.md`` lists them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from campaign.audience import service as audience_service
from campaign.campaigns import assignment, measurement, repository
from campaign.campaigns.definition import (
    DEFINITION_FIELD,
    CampaignDefinition,
    ScheduleEntry,
    SegmentEntry,
    check_graph,
)
from campaign.campaigns.errors import (
    CampaignInvalid,
    CampaignNotEditable,
    CampaignNotFound,
    CampaignStateConflict,
)
from campaign.campaigns.models import Campaign, CampaignAllocation, CampaignEnrollment
from campaign.campaigns.schemas import CampaignCreate, CampaignUpdate
from campaign.channels import service as channels_service
from campaign.channels import templates as channel_templates
from campaign.channels.types import Channel, Purpose
from campaign.database import metadata
from campaign.delivery import policy as delivery_policy
from campaign.delivery import service as delivery_service
from campaign.segments import service as segments_service
from campaign.settings import CampaignSettings
from crm_common.errors import FieldError, ProblemError
from crm_common.events import record_event

PRODUCER = "campaign"
# How many members the eligibility check reads per query while looking for one reachable recipient.
_ELIGIBILITY_SCAN_BATCH = 5_000


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_definition(campaign: Campaign) -> CampaignDefinition:
    return CampaignDefinition.model_validate(campaign.definition)


def _dump(definition: CampaignDefinition) -> dict[str, Any]:
    return definition.model_dump(mode="json", by_alias=True, exclude_none=True)


# --- drafts ---


async def create_campaign(session: AsyncSession, data: CampaignCreate, *, created_by: str) -> Campaign:
    campaign = Campaign(
        name=data.name,
        kind=data.kind,
        status="draft",
        definition=_dump(data.definition),
        created_by=created_by,
    )
    return await repository.add_campaign(session, campaign)


async def get_campaign(session: AsyncSession, campaign_id: uuid.UUID, *, lock: bool = False) -> Campaign:
    campaign = await repository.get_campaign(session, campaign_id, lock=lock)
    if campaign is None:
        raise CampaignNotFound(f"No campaign with id {campaign_id}.")
    return campaign


async def get_campaigns(
    session: AsyncSession, campaign_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Campaign]:
    """The campaigns that exist among these ids, by id, in one query (unknown or deleted ids are
    simply absent)."""
    found = await repository.get_campaigns(session, list(dict.fromkeys(campaign_ids)))
    return {campaign.id: campaign for campaign in found}


async def list_campaigns(
    session: AsyncSession,
    *,
    status: str | None,
    kind: str | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Campaign]:
    return await repository.list_campaigns(session, status=status, kind=kind, after=after, limit=limit)


async def update_campaign(session: AsyncSession, campaign_id: uuid.UUID, data: CampaignUpdate) -> Campaign:
    campaign = await get_campaign(session, campaign_id, lock=True)
    if campaign.status != "draft":
        raise CampaignNotEditable(f"The campaign is {campaign.status}; only drafts can be changed.")
    if data.name is not None:
        campaign.name = data.name
    if data.definition is not None:
        campaign.definition = _dump(data.definition)
    campaign.updated_at = utcnow()
    await session.flush()
    return campaign


async def delete_campaign(session: AsyncSession, campaign_id: uuid.UUID) -> None:
    campaign = await get_campaign(session, campaign_id, lock=True)
    if campaign.status != "draft":
        raise CampaignNotEditable(f"The campaign is {campaign.status}; only drafts can be deleted.")
    await repository.delete_campaign(session, campaign)


# --- the launch checks ---


def _target_segment(definition: CampaignDefinition) -> uuid.UUID | None:
    if isinstance(definition.entry, SegmentEntry | ScheduleEntry):
        return definition.entry.segment_id
    return None


def _eligible(member: Any, channel: Channel, purpose: Purpose) -> bool:
    """Whether the read model says this member can receive on the channel for the purpose, by the same
    rules delivery applies at send time: an address, and the consent the purpose needs."""
    address = delivery_policy.address_for(channel.value, member.customer_id, member.email, member.phone)
    if address is None:
        return False
    return delivery_policy.consent_allows(channel.value, purpose.value, member.consents)


async def launch_problems(
    session: AsyncSession, settings: CampaignSettings, kind: str, definition: CampaignDefinition
) -> list[FieldError]:
    """Everything that stops a launch, each with the field path of its cause; changes nothing."""
    problems = check_graph(definition, kind)

    for field, rule in definition.rules():
        try:
            await segments_service.validate_rule(session, rule, field=field)
        except ProblemError as exc:
            problems.extend(exc.errors or [FieldError(field=field, message=str(exc), code="invalid_rule")])

    existing: set[uuid.UUID] = set()
    for field, segment_id in definition.segment_ids():
        try:
            await segments_service.get_segment(session, segment_id)
            existing.add(segment_id)
        except ProblemError:
            problems.append(
                FieldError(field=field, message=f"no segment with id {segment_id}", code="segment_not_found")
            )

    target = _target_segment(definition)
    sample_ids: list[uuid.UUID] = []
    if target is not None and target in existing:
        sample_ids = await segments_service.member_ids(
            session, target, after=None, limit=settings.campaign_template_sample_size
        )
    contexts: list[dict[str, Any]] = []
    if sample_ids:
        members = await audience_service.get_members(session, sample_ids)
        recommendations = await audience_service.recommendations(session, [m.customer_id for m in members])
        contexts = [
            audience_service.render_context(member, recommendations.get(member.customer_id, []))
            for member in members
        ]
    for i, step in enumerate(definition.steps):
        if step.type != "send":
            continue
        for j, variant in enumerate(step.variants):
            for problem in channel_templates.check_template(
                step.channel, variant.subject, variant.body, variant.payload_template, contexts
            ):
                who = f" (customer {problem.customer_id})" if problem.customer_id else ""
                problems.append(
                    FieldError(
                        field=f"{DEFINITION_FIELD}.steps.{i}.variants.{j}.{problem.field}",
                        message=problem.message + who,
                        code="template_invalid",
                    )
                )

    if target is not None and target in existing:
        problems.extend(await _eligibility_problems(session, definition, target, journey=kind == "journey"))
    return problems


async def _eligibility_problems(
    session: AsyncSession, definition: CampaignDefinition, segment_id: uuid.UUID, *, journey: bool
) -> list[FieldError]:
    """A send step whose channel and purpose no member of the target segment can receive is an error.
    Scans the segment in keyset batches and stops at the first eligible member of each pair. A journey
    entered by segment entries may launch on a segment that is still empty."""
    wanted: dict[tuple[Channel, Purpose], list[int]] = {}
    for i, step in enumerate(definition.steps):
        if step.type == "send":
            wanted.setdefault((step.channel, step.purpose), []).append(i)
    if not wanted:
        return []
    found: set[tuple[Channel, Purpose]] = set()
    after: uuid.UUID | None = None
    seen_any = False
    while len(found) < len(wanted):
        ids = await segments_service.member_ids(
            session, segment_id, after=after, limit=_ELIGIBILITY_SCAN_BATCH
        )
        if not ids:
            break
        seen_any = True
        for member in await audience_service.get_members(session, ids):
            for pair in wanted:
                if pair not in found and _eligible(member, *pair):
                    found.add(pair)
        after = ids[-1]
    if journey and not seen_any and isinstance(definition.entry, SegmentEntry):
        return []
    problems = []
    for (channel, purpose), indexes in wanted.items():
        if (channel, purpose) in found:
            continue
        for i in indexes:
            problems.append(
                FieldError(
                    field=f"{DEFINITION_FIELD}.steps.{i}.channel",
                    message=f"no member of the target segment can receive {channel.value} for "
                    f"{purpose.value} (address and consent in the read model)",
                    code="no_eligible_recipients",
                )
            )
    return problems


async def validate_campaign(
    session: AsyncSession, settings: CampaignSettings, campaign_id: uuid.UUID
) -> list[FieldError]:
    campaign = await get_campaign(session, campaign_id)
    return await launch_problems(session, settings, campaign.kind, parse_definition(campaign))


# --- launch, pause, resume ---


async def _publish_lifecycle(session: AsyncSession, campaign: Campaign, event_type: str) -> None:
    await record_event(
        session,
        metadata,
        producer=PRODUCER,
        event_type=event_type,
        subject_id=str(campaign.id),
        payload={"campaign_id": str(campaign.id), "name": campaign.name, "kind": campaign.kind},
    )


async def launch_campaign(
    session: AsyncSession, settings: CampaignSettings, campaign_id: uuid.UUID, *, now: datetime | None = None
) -> Campaign:
    """Checks, stores the contents, starts the campaign and schedules (or does) its enrollment, and
    publishes ``campaign.launched`` — all in the caller's one transaction, so a failure leaves a draft."""
    now = now or utcnow()
    campaign = await get_campaign(session, campaign_id, lock=True)
    if campaign.status != "draft":
        raise CampaignStateConflict(f"The campaign is {campaign.status}; only a draft can be launched.")
    definition = parse_definition(campaign)
    problems = await launch_problems(session, settings, campaign.kind, definition)
    if problems:
        raise CampaignInvalid(f"{len(problems)} problem(s) stop the launch.", errors=problems)

    content_ids: dict[str, str] = {}
    for step in definition.send_steps():
        for variant in step.variants:
            content_id = await channels_service.upsert_content(
                session,
                campaign_id=campaign.id,
                step_id=step.id,
                variant_key=variant.key,
                channel=step.channel,
                purpose=step.purpose,
                subject=variant.subject,
                body=variant.body,
                payload_template=variant.payload_template,
            )
            content_ids[f"{step.id}:{variant.key}"] = str(content_id)
    campaign.content_ids = content_ids
    campaign.status = "running"
    campaign.launched_at = now
    campaign.updated_at = now
    entry = definition.entry
    if isinstance(entry, ScheduleEntry):
        campaign.enroll_at = max(entry.at.astimezone(UTC), now)
    elif isinstance(entry, SegmentEntry) and (campaign.kind == "broadcast" or entry.include_current_members):
        campaign.enroll_at = now
    await session.flush()

    if campaign.enroll_at is not None and campaign.enroll_at <= now:
        target = _target_segment(definition)
        assert target is not None
        if await segments_service.member_count(session, target) <= settings.campaign_inline_enroll_max:
            while campaign.enroll_at is not None:
                await enroll_next_batch(session, settings, campaign, now=now)
    await _publish_lifecycle(session, campaign, "campaign.launched")
    return campaign


async def pause_campaign(
    session: AsyncSession, campaign_id: uuid.UUID, *, now: datetime | None = None
) -> Campaign:
    """Stops the runner for it and the delivery workers from claiming its sends; safe to repeat."""
    campaign = await get_campaign(session, campaign_id, lock=True)
    if campaign.status == "paused":
        return campaign
    if campaign.status != "running":
        raise CampaignStateConflict(f"The campaign is {campaign.status}; only a running one can be paused.")
    await delivery_service.pause_campaign(session, campaign.id)
    campaign.status = "paused"
    campaign.paused_at = campaign.updated_at = now or utcnow()
    await session.flush()
    await _publish_lifecycle(session, campaign, "campaign.paused")
    return campaign


async def resume_campaign(
    session: AsyncSession, campaign_id: uuid.UUID, *, now: datetime | None = None
) -> Campaign:
    """Lets the runner and delivery go on; enrollments that fell due while paused run at its next tick."""
    campaign = await get_campaign(session, campaign_id, lock=True)
    if campaign.status == "running":
        return campaign
    if campaign.status != "paused":
        raise CampaignStateConflict(f"The campaign is {campaign.status}; only a paused one can be resumed.")
    await delivery_service.resume_campaign(session, campaign.id)
    campaign.status = "running"
    campaign.paused_at = None
    campaign.updated_at = now or utcnow()
    await session.flush()
    await _publish_lifecycle(session, campaign, "campaign.resumed")
    return campaign


async def complete_campaign(session: AsyncSession, campaign: Campaign, *, now: datetime) -> None:
    campaign.status = "completed"
    campaign.completed_at = campaign.updated_at = now
    await session.flush()
    await _publish_lifecycle(session, campaign, "campaign.completed")


# --- enrollment ---


async def enroll_customers(
    session: AsyncSession,
    settings: CampaignSettings,
    campaign: Campaign,
    definition: CampaignDefinition,
    customer_ids: Sequence[uuid.UUID],
    *,
    now: datetime,
) -> int:
    """Enrolls customers (one query to read their previous enrollments, one insert), applying the
    re-entry rule and assigning the group by hash. Returns how many enrollments are new."""
    unique_ids = list(dict.fromkeys(customer_ids))
    if not unique_ids:
        return 0
    latest = await repository.latest_enrollments(session, campaign.id, unique_ids)
    cooldown = timedelta(hours=definition.re_entry.cooldown_hours)
    goal = definition.goal
    rows: list[dict[str, Any]] = []
    for customer_id in unique_ids:
        previous = latest.get(customer_id)
        occurrence = 0
        if previous is not None:
            if not definition.re_entry.allowed or previous.status == "active":
                continue
            if now < previous.entered_at + cooldown:
                continue
            occurrence = previous.occurrence + 1
        group = assignment.group_for(
            campaign.id,
            customer_id,
            holdout_percent=definition.holdout_percent,
            global_control_percent=settings.global_control_percent,
            global_control_salt=settings.global_control_salt,
        )
        deadline = now + timedelta(hours=goal.within_hours) if goal else None
        row: dict[str, Any] = {
            "id": uuid.uuid4(),
            "campaign_id": campaign.id,
            "customer_id": customer_id,
            "occurrence": occurrence,
            "group": group,
            "entered_at": now,
            "goal_event": goal.event if goal else None,
            "goal_deadline_at": deadline,
            "current_step": None,
            "visited": {},
            "status": "active",
            "next_run_at": now,
            "exited_at": None,
            "exit_reason": None,
        }
        if group != assignment.TREATMENT:
            # Control customers are never sent to: they wait out the goal window (conversions counted).
            row["next_run_at"] = deadline
            if deadline is None:
                row["status"] = "completed"
                row["exited_at"] = now
                row["exit_reason"] = "control"
        rows.append(row)
    return await repository.insert_enrollments(session, rows)


async def enroll_next_batch(
    session: AsyncSession, settings: CampaignSettings, campaign: Campaign, *, now: datetime
) -> int:
    """Enrolls the next keyset batch of the campaign's target segment and moves the cursor on; when the
    segment is exhausted, the enrollment is done (``enroll_at`` cleared)."""
    definition = parse_definition(campaign)
    target = _target_segment(definition)
    if target is None:
        campaign.enroll_at = None
        await session.flush()
        return 0
    ids = await segments_service.member_ids(
        session, target, after=campaign.enroll_after, limit=settings.campaign_enroll_batch_size
    )
    if not ids:
        campaign.enroll_at = None
        campaign.enroll_after = None
        await session.flush()
        return 0
    added = await enroll_customers(session, settings, campaign, definition, ids, now=now)
    campaign.enroll_after = ids[-1]
    if len(ids) < settings.campaign_enroll_batch_size:
        campaign.enroll_at = None
        campaign.enroll_after = None
    await session.flush()
    return added


async def customer_enrollments(session: AsyncSession, customer_id: uuid.UUID) -> list[CampaignEnrollment]:
    return await repository.enrollments_of_customer(session, customer_id)


async def customers_enrollments(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[CampaignEnrollment]]:
    """Each customer's enrollments (newest entry first) in one query; every requested customer is a
    key, with [] when they have none."""
    unique_ids = list(dict.fromkeys(customer_ids))
    by_customer: dict[uuid.UUID, list[CampaignEnrollment]] = {customer_id: [] for customer_id in unique_ids}
    for enrollment in await repository.enrollments_of_customers(session, unique_ids):
        by_customer[enrollment.customer_id].append(enrollment)
    return by_customer


async def erase_customers(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> int:
    """Removes every enrollment of erased people (``customer.erased``) and the merge records naming
    them; safe to repeat."""
    await repository.forget_merges_of(session, customer_ids)
    return await repository.delete_enrollments_of(session, customer_ids)


async def merge_customers(
    session: AsyncSession, *, survivor_id: uuid.UUID, merged_id: uuid.UUID, merge_id: uuid.UUID | None = None
) -> int:
    """Moves the merged customer's enrollments to the survivor (``customer.merged``), recording what it
    did under ``merge_id`` for :func:`unmerge_customers`; safe to repeat."""
    if survivor_id == merged_id:
        return 0
    return await repository.move_enrollments(session, from_id=merged_id, to_id=survivor_id, merge_id=merge_id)


async def unmerge_customers(session: AsyncSession, *, merge_id: uuid.UUID) -> int:
    """``customer.unmerged``: exactly the enrollments that merge moved or dropped go back; safe to repeat."""
    return await repository.restore_enrollments(session, merge_id)


# --- results ---


@dataclass(frozen=True, slots=True)
class GroupTally:
    group: str
    enrolled: int
    converted: int


@dataclass(frozen=True, slots=True)
class ResultsView:
    campaign: Campaign
    definition: CampaignDefinition
    groups: dict[str, GroupTally]
    by_variant: dict[str, tuple[int, int]]  # treatment variant -> (enrolled, converted)
    stats: list[Any]  # delivery.service.VariantStats
    expected_share: dict[str, float]


async def results(session: AsyncSession, settings: CampaignSettings, campaign_id: uuid.UUID) -> ResultsView:
    campaign = await get_campaign(session, campaign_id)
    definition = parse_definition(campaign)
    groups: dict[str, GroupTally] = {
        g: GroupTally(g, 0, 0) for g in (assignment.TREATMENT, assignment.CONTROL, assignment.GLOBAL_CONTROL)
    }
    by_variant: dict[str, tuple[int, int]] = {}
    for row in await repository.group_counts(session, campaign.id):
        tally = groups.get(row.group, GroupTally(row.group, 0, 0))
        groups[row.group] = GroupTally(
            row.group, tally.enrolled + row.enrolled, tally.converted + row.converted
        )
        if row.group == assignment.TREATMENT and row.variant_key is not None:
            enrolled, converted = by_variant.get(row.variant_key, (0, 0))
            by_variant[row.variant_key] = (enrolled + row.enrolled, converted + row.converted)
    stats = (
        list(await delivery_service.variant_stats(session, campaign.id)) if campaign.status != "draft" else []
    )
    expected = measurement.expected_group_shares(definition.holdout_percent, settings.global_control_percent)
    return ResultsView(campaign, definition, groups, by_variant, stats, expected)


# --- allocation ---


async def allocation_history(
    session: AsyncSession, campaign_id: uuid.UUID, *, limit: int = 200
) -> tuple[Campaign, CampaignDefinition, list[CampaignAllocation]]:
    campaign = await get_campaign(session, campaign_id)
    return (
        campaign,
        parse_definition(campaign),
        await repository.allocation_history(session, campaign.id, limit),
    )


def event_entry_campaigns_fragment(event_type: str) -> dict[str, Any]:
    return {"entry": {"type": "event", "event": event_type}}
