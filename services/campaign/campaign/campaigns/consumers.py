"""What campaigns react to: activities (goals, exits, event entries), segment entries and exits,
message responses (response branches), identity merges and erasures.

Every handler is safe to repeat: goals only convert enrollments not yet converted, exits only active
ones, entries go through the re-entry rule and the enrollment key, merges and erasures are set-based.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from campaign.campaigns import journeys
from campaign.campaigns import service as campaigns
from campaign.settings import current_settings
from crm_common.events import EventEnvelope, subject_for
from crm_common.events.consumer import EventConsumer, EventHandler, PermanentEventError

# Feedback events that are customer activities (goals, exits and event entries may name any of them).
FEEDBACK_ACTIVITIES = (
    "feedback.received",
    "complaint.opened",
    "complaint.resolved",
    "complaint.reopened",
    "idea.submitted",
    "idea.status_changed",
    "vote.cast",
    "comment.posted",
)
MESSAGE_KINDS = (
    "sent",
    "delivered",
    "opened",
    "clicked",
    "bounced",
    "complained",
    "unsubscribed",
    "failed",
    "suppressed",
)


def _uuid(value: Any, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError) as exc:
        raise PermanentEventError(f"{field} is not a uuid: {value!r}") from exc


def _when(payload: dict[str, Any], envelope: EventEnvelope, *names: str) -> datetime:
    for name in names:
        value = payload.get(name)
        if value:
            try:
                moment = datetime.fromisoformat(str(value))
            except ValueError:
                continue
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return envelope.occurred_at


async def on_touchpoint(session: AsyncSession, envelope: EventEnvelope) -> None:
    payload = envelope.payload
    if not payload.get("type") or not payload.get("customer_id"):
        return
    if payload.get("source") == "campaign":
        return  # identity's echo of our own message events, which this consumer reads first-hand
    activity = journeys.Activity(
        activity_type=str(payload["type"]),
        customer_id=_uuid(payload["customer_id"], "customer_id"),
        occurred_at=_when(payload, envelope, "occurred_at"),
    )
    await journeys.on_activity(session, current_settings(), activity)


async def on_feedback(session: AsyncSession, envelope: EventEnvelope) -> None:
    payload = envelope.payload
    customer = payload.get("customer_id") or payload.get("author_id")
    if not customer:
        return  # anonymous feedback: no one to enroll or convert
    activity = journeys.Activity(
        activity_type=envelope.type,
        customer_id=_uuid(customer, "customer_id"),
        occurred_at=_when(payload, envelope, "occurred_at"),
    )
    await journeys.on_activity(session, current_settings(), activity)


async def on_message(session: AsyncSession, envelope: EventEnvelope) -> None:
    payload = envelope.payload
    if not payload.get("customer_id"):
        return
    campaign_id = payload.get("campaign_id")
    activity = journeys.Activity(
        activity_type=envelope.type,
        customer_id=_uuid(payload["customer_id"], "customer_id"),
        occurred_at=_when(payload, envelope, "occurred_at"),
        campaign_id=_uuid(campaign_id, "campaign_id") if campaign_id else None,
        step_id=str(payload["step_id"]) if payload.get("step_id") else None,
    )
    await journeys.on_activity(session, current_settings(), activity)


async def on_segment_entered(session: AsyncSession, envelope: EventEnvelope) -> None:
    payload = envelope.payload
    segment_id = _uuid(payload.get("segment_id"), "segment_id")
    customer_id = _uuid(payload.get("customer_id"), "customer_id")
    at = min(_when(payload, envelope, "occurred_at"), datetime.now(UTC))
    await journeys.enter_by_segment(session, current_settings(), segment_id, customer_id, at)


async def on_segment_exited(session: AsyncSession, envelope: EventEnvelope) -> None:
    payload = envelope.payload
    activity = journeys.Activity(
        activity_type="segment.exited",
        customer_id=_uuid(payload.get("customer_id"), "customer_id"),
        occurred_at=_when(payload, envelope, "occurred_at"),
        segment_id=_uuid(payload.get("segment_id"), "segment_id"),
    )
    await journeys.apply_exits(session, activity, {"segment_exited": activity.segment_id})


async def on_customer_merged(session: AsyncSession, envelope: EventEnvelope) -> None:
    payload = envelope.payload
    await campaigns.merge_customers(
        session,
        survivor_id=_uuid(payload.get("survivor_id"), "survivor_id"),
        merged_id=_uuid(payload.get("merged_id"), "merged_id"),
        merge_id=_uuid(payload["merge_id"], "merge_id") if payload.get("merge_id") else None,
    )


async def on_customer_unmerged(session: AsyncSession, envelope: EventEnvelope) -> None:
    await campaigns.unmerge_customers(session, merge_id=_uuid(envelope.payload.get("merge_id"), "merge_id"))


async def on_customer_erased(session: AsyncSession, envelope: EventEnvelope) -> None:
    payload = envelope.payload
    ids = [_uuid(payload.get("customer_id"), "customer_id")]
    ids += [_uuid(value, "merged_ids") for value in payload.get("merged_ids") or []]
    await campaigns.erase_customers(session, ids)


HANDLERS: dict[str, EventHandler] = {
    subject_for("identity", "touchpoint.recorded"): on_touchpoint,
    subject_for("identity", "customer.merged"): on_customer_merged,
    subject_for("identity", "customer.unmerged"): on_customer_unmerged,
    subject_for("identity", "customer.erased"): on_customer_erased,
    subject_for("campaign", "segment.entered"): on_segment_entered,
    subject_for("campaign", "segment.exited"): on_segment_exited,
    **{subject_for("feedback", event_type): on_feedback for event_type in FEEDBACK_ACTIVITIES},
    **{subject_for("campaign", f"message.{kind}"): on_message for kind in MESSAGE_KINDS},
}

campaigns_consumer = EventConsumer(name="campaign-campaigns", handlers=HANDLERS)

CONSUMERS: list[EventConsumer] = [campaigns_consumer]
