"""All SQL of the campaigns domain: campaigns, enrollments, allocation history."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Result, Row, and_, delete, exists, func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.types import Uuid

from campaign.campaigns.models import Campaign, CampaignAllocation, CampaignEnrollment
from crm_common.db import any_of, table_of

enrollment_table = table_of(CampaignEnrollment)


async def add_campaign(session: AsyncSession, campaign: Campaign) -> Campaign:
    session.add(campaign)
    await session.flush()
    await session.refresh(campaign)
    return campaign


async def get_campaign(
    session: AsyncSession, campaign_id: uuid.UUID, *, lock: bool = False
) -> Campaign | None:
    query = select(Campaign).where(Campaign.id == campaign_id)  # type: ignore[arg-type]
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def get_campaigns(session: AsyncSession, campaign_ids: Sequence[uuid.UUID]) -> list[Campaign]:
    if not campaign_ids:
        return []
    query = select(Campaign).where(any_of(Campaign.id, list(campaign_ids), Uuid()))
    return list((await session.execute(query)).scalars())


async def list_campaigns(
    session: AsyncSession,
    *,
    status: str | None,
    kind: str | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Campaign]:
    query = select(Campaign)
    if status is not None:
        query = query.where(Campaign.status == status)  # type: ignore[arg-type]
    if kind is not None:
        query = query.where(Campaign.kind == kind)  # type: ignore[arg-type]
    if after is not None:
        created_at, campaign_id = after
        query = query.where(
            or_(
                Campaign.created_at < created_at,  # type: ignore[arg-type]
                and_(Campaign.created_at == created_at, Campaign.id < campaign_id),  # type: ignore[arg-type]
            )
        )
    query = query.order_by(Campaign.created_at.desc(), Campaign.id.desc()).limit(limit)  # type: ignore[attr-defined]
    return list((await session.execute(query)).scalars())


async def delete_campaign(session: AsyncSession, campaign: Campaign) -> None:
    await session.delete(campaign)
    await session.flush()


async def running_campaigns(session: AsyncSession, *, kinds: Sequence[str] | None = None) -> list[Campaign]:
    """Campaigns that react to events now (running); paused ones keep measuring goals, see
    :func:`campaigns_with_goal`."""
    query = select(Campaign).where(Campaign.status == "running")  # type: ignore[arg-type]
    if kinds:
        query = query.where(any_of(Campaign.kind, list(kinds), Campaign.__table__.c.kind.type))  # type: ignore[attr-defined]
    return list((await session.execute(query)).scalars())


async def campaigns_matching_definition(
    session: AsyncSession, fragment: dict[str, Any], *, statuses: Sequence[str] = ("running",)
) -> list[Campaign]:
    """Campaigns in these statuses whose definition contains ``fragment`` (JSONB ``@>``)."""
    t = table_of(Campaign)
    query = select(Campaign).where(
        any_of(t.c.status, list(statuses), t.c.status.type), t.c.definition.contains(fragment)
    )
    return list((await session.execute(query)).scalars())


async def claim_campaigns_to_enroll(session: AsyncSession, now: datetime, limit: int) -> list[Campaign]:
    """Running campaigns whose segment enrollment is due, locked so one worker enrolls each."""
    query = (
        select(Campaign)
        .where(Campaign.status == "running", Campaign.enroll_at <= now)  # type: ignore[arg-type, operator]
        .order_by(Campaign.enroll_at)  # type: ignore[arg-type]
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.execute(query)).scalars())


# --- enrollments ---


async def latest_enrollments(
    session: AsyncSession, campaign_id: uuid.UUID, customer_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Row[Any]]:
    """Per customer, their latest enrollment in the campaign (occurrence, status, entered_at)."""
    if not customer_ids:
        return {}
    t = enrollment_table
    query = (
        select(t.c.customer_id, t.c.occurrence, t.c.status, t.c.entered_at)
        .where(t.c.campaign_id == campaign_id, any_of(t.c.customer_id, list(customer_ids), Uuid()))
        .order_by(t.c.customer_id, t.c.occurrence.desc())
        .ext(distinct_on(t.c.customer_id))
    )
    result: Result[Any] = await session.execute(query)
    return {row.customer_id: row for row in result.all()}


_ENROLLMENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "uuid"),
    ("campaign_id", "uuid"),
    ("customer_id", "uuid"),
    ("occurrence", "int"),
    ("group", "text"),
    ("variant_key", "text"),
    ("current_step", "text"),
    ("next_run_at", "timestamptz"),
    ("status", "text"),
    ("goal_event", "text"),
    ("goal_deadline_at", "timestamptz"),
    ("entered_at", "timestamptz"),
    ("exited_at", "timestamptz"),
    ("exit_reason", "text"),
    ("converted_at", "timestamptz"),
)
# Built once from the constant column list above; values are always bound parameters.
_INSERT_ENROLLMENTS = text(
    "INSERT INTO campaign_enrollment ("  # noqa: S608
    + ", ".join(f'"{name}"' for name, _ in _ENROLLMENT_COLUMNS)
    + ", visited) SELECT u.*, '{}'::jsonb FROM unnest("
    + ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in _ENROLLMENT_COLUMNS)
    + ") AS u ON CONFLICT (campaign_id, customer_id, occurrence) DO NOTHING RETURNING id"
)


async def insert_enrollments(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """Adds enrollments in one statement (one array per column, ``unnest``), whatever the batch size;
    one already there for (campaign, customer, occurrence) stays as it is. Returns how many are new."""
    if not rows:
        return 0
    params = {name: [row.get(name) for row in rows] for name, _ in _ENROLLMENT_COLUMNS}
    return len((await session.execute(_INSERT_ENROLLMENTS, params)).all())


@dataclass(slots=True)
class DueEnrollment:
    """A claimed enrollment as the runner works on it: plain values (no ORM bookkeeping per row),
    written back for the whole batch by :func:`save_progress`."""

    id: uuid.UUID
    campaign_id: uuid.UUID
    customer_id: uuid.UUID
    occurrence: int
    group: str
    variant_key: str | None
    current_step: str | None
    next_run_at: datetime | None
    status: str
    visited: dict[str, Any]
    exited_at: datetime | None
    exit_reason: str | None


_DUE_COLUMNS = [enrollment_table.c[name] for name in DueEnrollment.__slots__]


async def claim_due_enrollments(session: AsyncSession, now: datetime, limit: int) -> list[DueEnrollment]:
    """Active enrollments of running campaigns whose next run is due, locked (``SKIP LOCKED``) so
    several runners share the work and an event handler touching one waits for the runner."""
    t = enrollment_table
    campaigns = table_of(Campaign)
    query = (
        select(*_DUE_COLUMNS)
        .select_from(t.join(campaigns, campaigns.c.id == t.c.campaign_id))
        .where(t.c.status == "active", t.c.next_run_at <= now, campaigns.c.status == "running")
        .order_by(t.c.next_run_at)
        .limit(limit)
        .with_for_update(of=t, skip_locked=True)
    )
    return [DueEnrollment(**row._mapping) for row in (await session.execute(query)).all()]


_PROGRESS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("variant_key", "text"),
    ("current_step", "text"),
    ("next_run_at", "timestamptz"),
    ("status", "text"),
    ("visited", "text"),
    ("exited_at", "timestamptz"),
    ("exit_reason", "text"),
)
# Built once from the constant column lists; values are always bound parameters.
_SAVE_PROGRESS = text(
    "UPDATE campaign_enrollment AS e SET "  # noqa: S608
    + ", ".join(
        f'"{name}" = u.{name}::jsonb' if name == "visited" else f'"{name}" = u.{name}'
        for name, _ in _PROGRESS_COLUMNS
    )
    + " FROM unnest(CAST(:id AS uuid[]), "
    + ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in _PROGRESS_COLUMNS)
    + ") AS u(id, "
    + ", ".join(name for name, _ in _PROGRESS_COLUMNS)
    + ") WHERE e.id = u.id"
)


async def save_progress(session: AsyncSession, enrollments: Sequence[DueEnrollment]) -> None:
    """Writes where each of these (claimed, locked) enrollments now stands, in one statement."""
    if not enrollments:
        return
    params: dict[str, list[Any]] = {"id": [e.id for e in enrollments]}
    for name, _ in _PROGRESS_COLUMNS:
        values = [getattr(e, name) for e in enrollments]
        params[name] = [json.dumps(v or {}) for v in values] if name == "visited" else values
    await session.execute(_SAVE_PROGRESS, params)


async def enrollments_of_customer(
    session: AsyncSession,
    customer_id: uuid.UUID,
    *,
    statuses: Sequence[str] | None = None,
    campaign_ids: Sequence[uuid.UUID] | None = None,
    lock: bool = False,
) -> list[CampaignEnrollment]:
    query = select(CampaignEnrollment).where(CampaignEnrollment.customer_id == customer_id)  # type: ignore[arg-type]
    if statuses is not None:
        query = query.where(any_of(enrollment_table.c.status, list(statuses), enrollment_table.c.status.type))
    if campaign_ids is not None:
        query = query.where(any_of(enrollment_table.c.campaign_id, list(campaign_ids), Uuid()))
    query = query.order_by(CampaignEnrollment.entered_at.desc(), CampaignEnrollment.id)  # type: ignore[attr-defined, arg-type]
    if lock:
        query = query.with_for_update()
    return list((await session.execute(query)).scalars())


async def enrollments_of_customers(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID]
) -> list[CampaignEnrollment]:
    """Every enrollment of these customers in one query, by customer, then in the order
    ``enrollments_of_customer`` gives one customer (newest entry first)."""
    if not customer_ids:
        return []
    query = (
        select(CampaignEnrollment)
        .where(any_of(enrollment_table.c.customer_id, list(customer_ids), Uuid()))
        .order_by(
            enrollment_table.c.customer_id,
            enrollment_table.c.entered_at.desc(),
            enrollment_table.c.id,
        )
    )
    return list((await session.execute(query)).scalars())


async def goal_candidates(
    session: AsyncSession, customer_id: uuid.UUID, goal_event: str, occurred_at: datetime
) -> list[CampaignEnrollment]:
    """Enrollments of the customer that count ``goal_event`` at ``occurred_at`` as their conversion
    (entered before it, deadline not passed, not converted, exited or erased), locked."""
    query = (
        select(CampaignEnrollment)
        .where(
            CampaignEnrollment.customer_id == customer_id,  # type: ignore[arg-type]
            CampaignEnrollment.goal_event == goal_event,  # type: ignore[arg-type]
            CampaignEnrollment.entered_at <= occurred_at,  # type: ignore[arg-type]
            CampaignEnrollment.goal_deadline_at >= occurred_at,  # type: ignore[arg-type, operator]
            any_of(enrollment_table.c.status, ["active", "completed"], enrollment_table.c.status.type),
        )
        .with_for_update()
    )
    return list((await session.execute(query)).scalars())


async def wake_enrollments(
    session: AsyncSession,
    campaign_id: uuid.UUID,
    customer_id: uuid.UUID,
    step_ids: Sequence[str],
    now: datetime,
) -> int:
    """Makes the customer's active enrollments resting at one of ``step_ids`` due now."""
    t = enrollment_table
    statement = (
        update(t)
        .where(
            t.c.campaign_id == campaign_id,
            t.c.customer_id == customer_id,
            t.c.status == "active",
            any_of(t.c.current_step, list(step_ids), t.c.current_step.type),
            t.c.next_run_at > now,
        )
        .values(next_run_at=now)
    )
    result = await session.execute(statement)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def active_enrollment_exists(session: AsyncSession, campaign_id: uuid.UUID) -> bool:
    t = enrollment_table
    query = select(exists().where(t.c.campaign_id == campaign_id, t.c.status == "active"))
    return bool((await session.execute(query)).scalar())


async def group_counts(session: AsyncSession, campaign_id: uuid.UUID) -> list[Row[Any]]:
    """Per group and variant: enrollments (first occurrences and re-entries alike) and conversions."""
    t = enrollment_table
    query = (
        select(
            t.c.group,
            t.c.variant_key,
            func.count().label("enrolled"),
            func.count().filter(t.c.status == "converted").label("converted"),
        )
        .where(t.c.campaign_id == campaign_id)
        .group_by(t.c.group, t.c.variant_key)
    )
    return list((await session.execute(query)).all())


async def delete_enrollments_of(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> int:
    t = enrollment_table
    result = await session.execute(delete(t).where(any_of(t.c.customer_id, list(customer_ids), Uuid())))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def move_enrollments(
    session: AsyncSession, *, from_id: uuid.UUID, to_id: uuid.UUID, merge_id: uuid.UUID | None = None
) -> int:
    """Re-keys the merged customer's enrollments to the survivor; where the survivor already has the
    same (campaign, occurrence), the survivor's is kept and the merged one dropped. With ``merge_id``,
    both are recorded first (``campaign_enrollment_merge``) so :func:`restore_enrollments` can undo it."""
    t = enrollment_table
    if merge_id is not None:
        # One statement records both kinds: a duplicate keeps its whole row, a moved one only its id.
        await session.execute(
            text(
                """
                INSERT INTO campaign_enrollment_merge
                    (merge_id, enrollment_id, from_customer_id, to_customer_id, dropped_row)
                SELECT :merge_id, e.id, e.customer_id, :to_id,
                       CASE WHEN EXISTS (SELECT 1 FROM campaign_enrollment s
                                         WHERE s.campaign_id = e.campaign_id AND s.customer_id = :to_id
                                           AND s.occurrence = e.occurrence)
                            THEN to_jsonb(e) END
                FROM campaign_enrollment e WHERE e.customer_id = :from_id
                """
            ),
            {"merge_id": merge_id, "from_id": from_id, "to_id": to_id},
        )
    survivor = aliased(t)
    moved = await session.execute(
        update(t)
        .where(
            t.c.customer_id == from_id,
            ~exists().where(
                survivor.c.campaign_id == t.c.campaign_id,
                survivor.c.customer_id == to_id,
                survivor.c.occurrence == t.c.occurrence,
            ),
        )
        .values(customer_id=to_id)
    )
    await session.execute(delete(t).where(t.c.customer_id == from_id))
    return int(moved.rowcount or 0)  # type: ignore[attr-defined]


async def restore_enrollments(session: AsyncSession, merge_id: uuid.UUID) -> int:
    """Undo what merge ``merge_id`` did: moved enrollments go back to their customer (unless they have
    since left the survivor), dropped duplicates come back as they were (unless their campaign is gone
    or the key is taken again); the records are then deleted, so a repeat changes nothing."""
    params = {"merge_id": merge_id}
    moved = await session.execute(
        text(
            """
            UPDATE campaign_enrollment e SET customer_id = m.from_customer_id
            FROM campaign_enrollment_merge m
            WHERE m.merge_id = :merge_id AND m.dropped_row IS NULL
              AND e.id = m.enrollment_id AND e.customer_id = m.to_customer_id
            """
        ),
        params,
    )
    restored = await session.execute(
        text(
            """
            INSERT INTO campaign_enrollment
            SELECT r.* FROM campaign_enrollment_merge m,
                 LATERAL jsonb_populate_record(NULL::campaign_enrollment, m.dropped_row) AS r
            WHERE m.merge_id = :merge_id AND m.dropped_row IS NOT NULL
              AND EXISTS (SELECT 1 FROM campaign c WHERE c.id = r.campaign_id)
            ON CONFLICT DO NOTHING
            """
        ),
        params,
    )
    await session.execute(text("DELETE FROM campaign_enrollment_merge WHERE merge_id = :merge_id"), params)
    return int(moved.rowcount or 0) + int(restored.rowcount or 0)  # type: ignore[attr-defined]


async def forget_merges_of(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> None:
    """Erasure: the merge records naming these customers go too."""
    await session.execute(
        text(
            "DELETE FROM campaign_enrollment_merge WHERE from_customer_id = ANY(CAST(:ids AS uuid[])) "
            "OR to_customer_id = ANY(CAST(:ids AS uuid[]))"
        ),
        {"ids": list(customer_ids)},
    )


# --- allocation history ---


async def add_allocation(session: AsyncSession, allocation: CampaignAllocation) -> None:
    await session.execute(
        insert(table_of(CampaignAllocation)).values(
            campaign_id=allocation.campaign_id,
            step_id=allocation.step_id,
            metric=allocation.metric,
            computed_at=allocation.computed_at,
            weights=allocation.weights,
            successes=allocation.successes,
            trials=allocation.trials,
        )
    )


async def latest_allocations(
    session: AsyncSession, campaign_ids: Sequence[uuid.UUID]
) -> dict[tuple[uuid.UUID, str], dict[str, float]]:
    """The newest weights per (campaign, step)."""
    if not campaign_ids:
        return {}
    t = table_of(CampaignAllocation)
    query = (
        select(t.c.campaign_id, t.c.step_id, t.c.weights)
        .where(any_of(t.c.campaign_id, list(campaign_ids), Uuid()))
        .order_by(t.c.campaign_id, t.c.step_id, t.c.computed_at.desc(), t.c.id.desc())
        .ext(distinct_on(t.c.campaign_id, t.c.step_id))
    )
    return {
        (row.campaign_id, row.step_id): {k: float(v) for k, v in row.weights.items()}
        for row in (await session.execute(query)).all()
    }


async def allocation_history(
    session: AsyncSession, campaign_id: uuid.UUID, limit: int
) -> list[CampaignAllocation]:
    query = (
        select(CampaignAllocation)
        .where(CampaignAllocation.campaign_id == campaign_id)  # type: ignore[arg-type]
        .order_by(CampaignAllocation.computed_at.desc(), CampaignAllocation.id.desc())  # type: ignore[attr-defined, union-attr]
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def converted_by_variant(session: AsyncSession, campaign_id: uuid.UUID) -> dict[str, tuple[int, int]]:
    """Treatment enrollments per variant: (converted, enrolled) — the trials of the converted metric."""
    t = enrollment_table
    query = (
        select(
            t.c.variant_key,
            func.count().filter(t.c.status == "converted").label("converted"),
            func.count().label("enrolled"),
        )
        .where(t.c.campaign_id == campaign_id, t.c.group == "treatment", t.c.variant_key.is_not(None))
        .group_by(t.c.variant_key)
    )
    return {
        row.variant_key: (int(row.converted), int(row.enrolled))
        for row in (await session.execute(query)).all()
    }
