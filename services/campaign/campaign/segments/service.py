"""Segments: rules checked and compiled (rules.py), stored membership kept up to date, entry and exit
events published in the same transaction as the membership change. No SQL and no HTTP here.

Membership is updated incrementally: the job claims the customers whose read model changed
(``audience.service.claim_changed``) and re-evaluates every segment for just them, referenced segments
first. A periodic full refresh catches what only time changes (``within_days``). The membership
computed when a segment is created is its starting point and publishes no ``segment.entered``; every
later change does.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from campaign.audience import service as audience
from campaign.database import metadata
from campaign.segments import repository, rules
from campaign.segments.errors import InvalidSegmentRule, SegmentInUse, SegmentNameTaken, SegmentNotFound
from campaign.segments.models import Segment
from campaign.settings import current_settings
from crm_common.errors import FieldError
from crm_common.events.outbox import record_events

PRODUCER = "campaign"
SAMPLE_SIZE = 20
EVENT_CHUNK = 1000


@dataclass(frozen=True)
class Preview:
    count: int
    sample: list[Any]
    explanation: str


@dataclass(frozen=True)
class MembershipChanges:
    entered: int = 0
    exited: int = 0


# --- rules ---------------------------------------------------------------------------------------------


async def validate_rule(
    session: AsyncSession, rule: Any, *, field: str = "body.rule", segment_id: uuid.UUID | None = None
) -> None:
    """Raise :class:`InvalidSegmentRule` (422) naming each problem's place in the rule
    (``body.rule.and.2.field``): unknown field, op not valid for its type, wrong value type or enum
    value, too deep or too large, a segment that does not exist or that would form a cycle
    (``segment_id`` is the segment the rule is for, when it exists already)."""
    settings = current_settings()
    checked = rules.check(
        rule,
        field,
        max_depth=settings.segments_max_rule_depth,
        max_conditions=settings.segments_max_rule_conditions,
    )
    errors = list(checked.errors)
    if checked.references:
        known = await repository.existing_ids(session, list(checked.references))
        for reference, path in checked.references.items():
            if reference not in known:
                errors.append(
                    FieldError(field=path, message=f"no segment {reference}", code="segment_unknown")
                )
        if segment_id is not None:
            for reference, path in checked.references.items():
                if reference in known and (
                    reference == segment_id or await repository.reaches(session, [reference], segment_id)
                ):
                    errors.append(
                        FieldError(
                            field=path, message="this reference would form a cycle", code="segment_cycle"
                        )
                    )
    if errors:
        raise InvalidSegmentRule(f"The rule has {len(errors)} problem(s).", errors=errors)


async def matching(
    session: AsyncSession, rule: dict[str, Any], customer_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of these customers the (valid) rule holds for now, in one query."""
    return await repository.matching(session, rule, list(dict.fromkeys(customer_ids)))


async def preview(session: AsyncSession, rule: dict[str, Any]) -> Preview:
    """Count, a sample of 20 and the rule in words; nothing is stored."""
    await validate_rule(session, rule)
    return Preview(
        count=await repository.count_matching(session, rule),
        sample=await repository.sample_matching(session, rule, SAMPLE_SIZE),
        explanation=rules.explain(rule),
    )


# --- segments ------------------------------------------------------------------------------------------


async def get_segment(session: AsyncSession, segment_id: uuid.UUID) -> Segment:
    """The segment (404 :class:`SegmentNotFound`)."""
    segment = await repository.get(session, segment_id)
    if segment is None:
        raise SegmentNotFound(f"No segment {segment_id}.")
    return segment


async def get_segments(session: AsyncSession, segment_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Segment]:
    """The segments that exist among these ids, by id, in one query (unknown or deleted ids are
    simply absent)."""
    found = await repository.get_many(session, list(dict.fromkeys(segment_ids)))
    return {segment.id: segment for segment in found}


async def list_segments(
    session: AsyncSession, *, after: tuple[str, uuid.UUID] | None, limit: int
) -> list[Segment]:
    return await repository.page(
        session, after_name=after[0] if after else None, after_id=after[1] if after else None, limit=limit
    )


async def _ensure_name_free(session: AsyncSession, name: str, other_than: uuid.UUID | None = None) -> None:
    if await repository.name_taken(session, name, other_than=other_than):
        raise SegmentNameTaken(
            f"A segment named {name!r} exists.",
            errors=[FieldError(field="body.name", message="already taken", code="name_taken")],
        )


async def create_segment(
    session: AsyncSession, *, name: str, description: str | None, rule: dict[str, Any], created_by: str
) -> Segment:
    """Validate, store and compute the membership now (the starting point: no entry events)."""
    await validate_rule(session, rule)
    await _ensure_name_free(session, name)
    segment = Segment(
        name=name,
        description=description,
        rule=rule,
        referenced_segment_ids=sorted(rules.references(rule)),
        created_by=created_by,
    )
    await repository.add(session, segment)
    await repository.add_entries(session, segment.id, rule, None)
    await repository.recount(session, segment.id)
    await session.refresh(segment)
    return segment


async def update_segment(session: AsyncSession, segment_id: uuid.UUID, changes: dict[str, Any]) -> Segment:
    """Rename, re-describe or change the rule; a rule change recomputes the membership (publishing
    entries and exits), then that of the segments that reference it."""
    segment = await repository.get(session, segment_id, for_update=True)
    if segment is None:
        raise SegmentNotFound(f"No segment {segment_id}.")
    if "name" in changes and changes["name"] != segment.name:
        await _ensure_name_free(session, changes["name"], other_than=segment_id)
        segment.name = changes["name"]
    if "description" in changes:
        segment.description = changes["description"]
    rule_changed = "rule" in changes and changes["rule"] != segment.rule
    if rule_changed:
        await validate_rule(session, changes["rule"], segment_id=segment_id)
        segment.rule = changes["rule"]
        segment.referenced_segment_ids = sorted(rules.references(changes["rule"]))
    segment.updated_at = datetime.now(UTC)
    await session.flush()
    if rule_changed:
        ordered = _dependency_order(await repository.all_segments(session))
        dependents = _dependents_of(segment_id, ordered)
        for each in ordered:
            if each.id == segment_id or each.id in dependents:
                await _refresh(session, each, None)
    await session.refresh(segment)
    return segment


async def delete_segment(session: AsyncSession, segment_id: uuid.UUID) -> None:
    """Delete it with its membership; refused (409) while another segment references it."""
    segment = await repository.get(session, segment_id, for_update=True)
    if segment is None:
        raise SegmentNotFound(f"No segment {segment_id}.")
    users = await repository.referenced_by(session, segment_id)
    if users:
        raise SegmentInUse(
            f"Segment {segment_id} is referenced by {len(users)} other segment(s).",
            referenced_by=[str(u) for u in users],
        )
    await repository.delete_segment(session, segment)


async def member_count(session: AsyncSession, segment_id: uuid.UUID) -> int:
    """How many customers are in the segment (stored membership)."""
    return (await get_segment(session, segment_id)).member_count


async def member_ids(
    session: AsyncSession, segment_id: uuid.UUID, *, after: uuid.UUID | None, limit: int
) -> list[uuid.UUID]:
    """The members, keyset by customer id: pass the last id of a page as ``after`` for the next."""
    await get_segment(session, segment_id)
    return [
        customer_id
        for customer_id, _ in await repository.member_ids(session, segment_id, after=after, limit=limit)
    ]


async def members(
    session: AsyncSession, segment_id: uuid.UUID, *, after: uuid.UUID | None, limit: int
) -> list[tuple[uuid.UUID, datetime]]:
    await get_segment(session, segment_id)
    return await repository.member_ids(session, segment_id, after=after, limit=limit)


async def is_member(
    session: AsyncSession, segment_id: uuid.UUID, customer_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of these customers are in the segment now (stored membership, one query)."""
    return await repository.members_among(session, segment_id, list(dict.fromkeys(customer_ids)))


async def segments_of_customer(session: AsyncSession, customer_id: uuid.UUID) -> list[Any]:
    return await repository.segments_of(session, customer_id)


async def segments_of_customers(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Any]]:
    """The segments each of these customers is in (rows with ``id``, ``name``, ``entered_at``, by
    name), in one query; every requested customer is a key, with [] when they are in none."""
    unique_ids = list(dict.fromkeys(customer_ids))
    by_customer: dict[uuid.UUID, list[Any]] = {customer_id: [] for customer_id in unique_ids}
    for row in await repository.segments_of_many(session, unique_ids):
        by_customer[row.customer_id].append(row)
    return by_customer


# --- keeping membership up to date ---------------------------------------------------------------------


def _dependency_order(segments: list[Segment]) -> list[Segment]:
    """Referenced segments before the segments that reference them (rules cannot form cycles)."""
    by_id = {s.id: s for s in segments}
    ordered: list[Segment] = []
    placed: set[uuid.UUID] = set()

    def place(segment: Segment, path: frozenset[uuid.UUID]) -> None:
        if segment.id in placed or segment.id in path:
            return
        for reference in segment.referenced_segment_ids:
            if reference in by_id:
                place(by_id[reference], path | {segment.id})
        placed.add(segment.id)
        ordered.append(segment)

    for segment in segments:
        place(segment, frozenset())
    return ordered


def _dependents_of(segment_id: uuid.UUID, ordered: list[Segment]) -> set[uuid.UUID]:
    dependents: set[uuid.UUID] = set()
    for segment in ordered:  # references come first, so one pass finds every transitive dependent
        if segment_id in segment.referenced_segment_ids or dependents & set(segment.referenced_segment_ids):
            dependents.add(segment.id)
    return dependents


async def _publish(
    session: AsyncSession, event_type: str, segment_id: uuid.UUID, changes: list[tuple[uuid.UUID, datetime]]
) -> None:
    events: list[tuple[str, str | None, dict[str, Any]]] = [
        (
            event_type,
            str(customer_id),
            {"segment_id": str(segment_id), "customer_id": str(customer_id), "occurred_at": at.isoformat()},
        )
        for customer_id, at in changes
    ]
    for start in range(0, len(events), EVENT_CHUNK):
        await record_events(session, metadata, producer=PRODUCER, events=events[start : start + EVENT_CHUNK])


async def _refresh(
    session: AsyncSession, segment: Segment, scope: Sequence[uuid.UUID] | None
) -> MembershipChanges:
    """Re-evaluate one segment (for ``scope`` only, or everyone) and publish what changed."""
    entered = await repository.add_entries(session, segment.id, segment.rule, scope)
    exited = await repository.remove_exits(session, segment.id, segment.rule, scope)
    now = datetime.now(UTC)
    await _publish(session, "segment.entered", segment.id, entered)
    # An exit carries ids only: it may be an erased customer's.
    await _publish(session, "segment.exited", segment.id, [(customer_id, now) for customer_id in exited])
    if scope is None:
        await repository.recount(session, segment.id)
    else:
        await repository.adjust_count(session, segment.id, len(entered) - len(exited), refreshed=False)
    return MembershipChanges(entered=len(entered), exited=len(exited))


async def process_changed(session: AsyncSession, limit: int) -> int:
    """One incremental pass: claim changed customers, re-evaluate every segment for them (referenced
    segments first, one query each for entries and exits); returns how many customers were claimed."""
    customer_ids = await audience.claim_changed(session, limit)
    if not customer_ids:
        return 0
    for segment in _dependency_order(await repository.all_segments(session)):
        await _refresh(session, segment, customer_ids)
    return len(customer_ids)


async def refresh_all(session: AsyncSession) -> MembershipChanges:
    """The full refresh: every segment over the whole base (time-relative conditions move)."""
    entered = exited = 0
    for segment in _dependency_order(await repository.all_segments(session)):
        changes = await _refresh(session, segment, None)
        entered, exited = entered + changes.entered, exited + changes.exited
    return MembershipChanges(entered=entered, exited=exited)
