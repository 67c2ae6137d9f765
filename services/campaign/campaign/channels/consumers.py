"""Events channels consumes: feedback's idea status notifications become in-app messages; identity's
erasures and merges reach the in-app inbox.

Feedback publishes one ``idea.status_notification`` per recipient (the idea's voters and followers).
Each becomes a transactional in-app message of the system campaign, sent through delivery's ledger
(so consent, suppression and retries apply as to any message). The ledger key is (system campaign,
status change id, customer): a redelivered event enqueues nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from campaign.channels import service as channels
from campaign.channels.templates import literal
from campaign.channels.types import Channel, Purpose
from campaign.delivery import service as delivery
from crm_common.events import EventEnvelope, subject_for
from crm_common.events.consumer import EventConsumer, PermanentEventError

IDEA_STATUS_NOTIFICATION = subject_for("feedback", "idea.status_notification")
CUSTOMER_ERASED = subject_for("identity", "customer.erased")
CUSTOMER_MERGED = subject_for("identity", "customer.merged")
IDEA_STATUS_CAMPAIGN_ID = uuid.uuid5(uuid.NAMESPACE_URL, "crm:campaign:idea-status-notifications")
VARIANT_KEY = "default"


class IdeaStatusNotificationV1(BaseModel):
    """Feedback's ``idea.status_notification`` (schema version 1), the fields this consumer needs."""

    model_config = ConfigDict(extra="ignore")

    customer_id: uuid.UUID
    idea_id: uuid.UUID
    status_change_id: uuid.UUID
    title: str
    from_status: str | None = None
    to_status: str
    response: str | None = None


def _status_label(status: str) -> str:
    return status.replace("_", " ")


def notification_texts(notification: IdeaStatusNotificationV1) -> tuple[str, str, dict[str, Any]]:
    """(subject, body, payload_template) of the in-app message. The idea's title and the team's response
    are customers' and staff's text: they go in as literals, never as template syntax."""
    title, to_status = literal(notification.title), literal(_status_label(notification.to_status))
    subject = f"Your idea is now {to_status}"
    body = f"{title} is now {to_status}."
    if notification.from_status:
        body = f"{title} moved from {literal(_status_label(notification.from_status))} to {to_status}."
    if notification.response:
        body += "\n\n" + literal(notification.response)
    payload = {
        "kind": "idea_status",
        "idea_id": str(notification.idea_id),
        "status_change_id": str(notification.status_change_id),
        "to_status": literal(notification.to_status),
    }
    return subject, body, payload


async def on_idea_status_notification(session: AsyncSession, envelope: EventEnvelope) -> None:
    try:
        notification = IdeaStatusNotificationV1.model_validate(envelope.payload)
    except ValidationError as exc:
        raise PermanentEventError(f"idea.status_notification breaks its contract: {exc}") from exc
    step_id = str(notification.status_change_id)
    # Every recipient of one status change shares one content: written by the first event, then reused
    # (rewriting the same row for each of thousands of voters would only churn it).
    existing = await channels.find_content(
        session, campaign_id=IDEA_STATUS_CAMPAIGN_ID, step_id=step_id, variant_key=VARIANT_KEY
    )
    if existing is not None:
        content_id = existing.id
    else:
        subject, body, payload_template = notification_texts(notification)
        content_id = await channels.upsert_content(
            session,
            campaign_id=IDEA_STATUS_CAMPAIGN_ID,
            step_id=step_id,
            variant_key=VARIANT_KEY,
            channel=Channel.IN_APP,
            purpose=Purpose.TRANSACTIONAL,
            subject=subject,
            body=body,
            payload_template=payload_template,
        )
    await delivery.enqueue(
        session,
        [
            delivery.SendRequest(
                campaign_id=IDEA_STATUS_CAMPAIGN_ID,
                step_id=step_id,
                variant_key=VARIANT_KEY,
                customer_id=notification.customer_id,
                channel=Channel.IN_APP,
                purpose=Purpose.TRANSACTIONAL,
                content_id=content_id,
            )
        ],
    )


class CustomerErasedV1(BaseModel):
    model_config = ConfigDict(extra="ignore")

    customer_id: uuid.UUID
    merged_ids: list[uuid.UUID] = Field(default_factory=list)


class CustomerMergedV1(BaseModel):
    model_config = ConfigDict(extra="ignore")

    survivor_id: uuid.UUID
    merged_id: uuid.UUID


async def on_customer_erased(session: AsyncSession, envelope: EventEnvelope) -> None:
    try:
        erased = CustomerErasedV1.model_validate(envelope.payload)
    except ValidationError as exc:
        raise PermanentEventError(f"customer.erased breaks its contract: {exc}") from exc
    await channels.forget_customers(session, [erased.customer_id, *erased.merged_ids])


async def on_customer_merged(session: AsyncSession, envelope: EventEnvelope) -> None:
    try:
        merge = CustomerMergedV1.model_validate(envelope.payload)
    except ValidationError as exc:
        raise PermanentEventError(f"customer.merged breaks its contract: {exc}") from exc
    await channels.move_customer(session, merge.merged_id, merge.survivor_id)


channels_consumer = EventConsumer(
    name="campaign-channels",
    handlers={
        IDEA_STATUS_NOTIFICATION: on_idea_status_notification,
        CUSTOMER_ERASED: on_customer_erased,
        CUSTOMER_MERGED: on_customer_merged,
    },
)

CONSUMERS: list[EventConsumer] = [channels_consumer]
