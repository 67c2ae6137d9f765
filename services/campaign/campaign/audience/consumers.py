"""The events the read model consumes: identity's customers and touchpoints, feedback's responses,
complaints and advocacy, and the campaign's own message events (so responses reach segments quickly).

The payload models below are the campaign's reading of each producer's contract (schema version 1):
they take the fields the campaign needs and ignore the rest, so producers can add fields freely. One
consumer reads every subject, so the events about one customer are applied in stream order.
"""

import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from campaign.audience import service as audience
from campaign.audience.repository import OrderLine
from crm_common.events import EventEnvelope, subject_for
from crm_common.events.consumer import EventConsumer, EventHandler

CUSTOMER_CREATED = subject_for("identity", "customer.created")


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CustomerCreatedV1(_Payload):
    customer_id: uuid.UUID
    display_name: str | None = None
    email: str | None = None
    phone: str | None = None
    traits: dict[str, Any] = Field(default_factory=dict)
    created_at: AwareDatetime


class ConsentChangeV1(_Payload):
    channel: str
    purpose: str
    granted: bool


class CustomerUpdatedV1(_Payload):
    customer_id: uuid.UUID
    display_name: str | None = None
    email: str | None = None
    phone: str | None = None
    traits: dict[str, Any] | None = None
    created_at: AwareDatetime | None = None
    consents_changed: list[ConsentChangeV1] = Field(default_factory=list)


class CustomerMergedV1(_Payload):
    survivor_id: uuid.UUID
    merged_id: uuid.UUID


class CustomerUnmergedV1(_Payload):
    survivor_id: uuid.UUID
    restored_id: uuid.UUID


class CustomerErasedV1(_Payload):
    customer_id: uuid.UUID
    merged_ids: list[uuid.UUID] = Field(default_factory=list)


class OrderItemV1(_Payload):
    sku: str = Field(min_length=1)
    name: str | None = None
    category: str | None = None
    price: Decimal = Decimal(0)
    quantity: int = 1


class TouchpointRecordedV1(_Payload):
    customer_id: uuid.UUID
    channel: str | None = None
    type: str = Field(min_length=1)
    occurred_at: AwareDatetime
    source: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)


# Identity puts the campaign's own sends and responses on the timeline and announces them as touchpoints;
# the read model already has them from the campaign's message events.
OWN_SOURCE = "campaign"


async def on_customer_created(session: AsyncSession, envelope: EventEnvelope) -> None:
    customer = CustomerCreatedV1.model_validate(envelope.payload)
    await audience.project_customer(
        session,
        customer_id=customer.customer_id,
        display_name=customer.display_name,
        email=customer.email,
        phone=customer.phone,
        traits=customer.traits,
        customer_created_at=customer.created_at,
    )
    await _activity(session, envelope, customer.customer_id, "customer.created", None, {})


async def on_customer_updated(session: AsyncSession, envelope: EventEnvelope) -> None:
    update = CustomerUpdatedV1.model_validate(envelope.payload)
    # A consent-only update carries just the id: apply only the fields the event has.
    present = update.model_fields_set & {"display_name", "email", "phone", "traits"}
    await audience.update_customer(
        session,
        customer_id=update.customer_id,
        profile={name: getattr(update, name) for name in present},
        consents={f"{c.channel}:{c.purpose}": c.granted for c in update.consents_changed},
        customer_created_at=update.created_at,
    )
    fields = sorted(present | ({"consents"} if update.consents_changed else set()))
    await _activity(session, envelope, update.customer_id, "customer.updated", None, {"fields": fields})


async def on_customer_merged(session: AsyncSession, envelope: EventEnvelope) -> None:
    merge = CustomerMergedV1.model_validate(envelope.payload)
    await audience.merge_customers(
        session,
        event_id=envelope.id,
        survivor_id=merge.survivor_id,
        merged_id=merge.merged_id,
        occurred_at=envelope.occurred_at,
    )


async def on_customer_unmerged(session: AsyncSession, envelope: EventEnvelope) -> None:
    unmerge = CustomerUnmergedV1.model_validate(envelope.payload)
    await audience.unmerge_customers(
        session,
        event_id=envelope.id,
        survivor_id=unmerge.survivor_id,
        restored_id=unmerge.restored_id,
        occurred_at=envelope.occurred_at,
    )


async def on_customer_erased(session: AsyncSession, envelope: EventEnvelope) -> None:
    erased = CustomerErasedV1.model_validate(envelope.payload)
    await audience.erase_customers(session, [erased.customer_id, *erased.merged_ids])


def _order_of(properties: dict[str, Any], event_id: uuid.UUID) -> tuple[str, list[OrderLine]]:
    lines = []
    for raw in properties.get("items") or []:
        if not isinstance(raw, dict):
            continue
        try:
            item = OrderItemV1.model_validate(raw)
        except ValueError:
            continue  # one malformed line must not lose the order
        lines.append(OrderLine(item.sku, item.name, item.category, item.price, max(item.quantity, 0)))
    return str(properties.get("order_id") or event_id), lines


async def on_touchpoint_recorded(session: AsyncSession, envelope: EventEnvelope) -> None:
    touchpoint = TouchpointRecordedV1.model_validate(envelope.payload)
    if touchpoint.source == OWN_SOURCE:
        return
    order = None
    if touchpoint.type == "order_placed":
        try:
            Decimal(str(touchpoint.properties.get("total", "0")))
        except InvalidOperation:
            touchpoint.properties = {**touchpoint.properties, "total": "0"}
        order = _order_of(touchpoint.properties, envelope.id)
    await audience.record_activity(
        session,
        event_id=envelope.id,
        customer_id=touchpoint.customer_id,
        activity_type=touchpoint.type,
        channel=touchpoint.channel,
        occurred_at=touchpoint.occurred_at,
        properties=touchpoint.properties,
        order=order,
    )


async def _activity(
    session: AsyncSession,
    envelope: EventEnvelope,
    customer_id: uuid.UUID,
    activity_type: str,
    channel: str | None,
    properties: dict[str, Any],
) -> None:
    await audience.record_activity(
        session,
        event_id=envelope.id,
        customer_id=customer_id,
        activity_type=activity_type,
        channel=channel,
        occurred_at=_occurred_at(envelope),
        properties=properties,
    )


def _occurred_at(envelope: EventEnvelope) -> Any:
    raw = envelope.payload.get("occurred_at") or envelope.payload.get("received_at")
    if isinstance(raw, str):
        try:
            return _When.model_validate({"at": raw}).at
        except ValueError:
            pass
    return envelope.occurred_at


class _When(_Payload):
    at: AwareDatetime


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _activity_handler(activity_type: str, *customer_fields: str) -> EventHandler:
    """A handler recording the event as activity of the customer named by the first id field set."""

    async def handler(session: AsyncSession, envelope: EventEnvelope) -> None:
        payload = envelope.payload
        if payload.get("author_kind") not in (None, "customer"):
            return  # a staff comment is nobody's customer activity
        customer_id = next((i for f in customer_fields if (i := _uuid(payload.get(f))) is not None), None)
        if customer_id is None:
            return  # anonymous feedback: nobody to target
        channel = payload.get("channel") if isinstance(payload.get("channel"), str) else None
        await _activity(session, envelope, customer_id, activity_type, channel, dict(payload))

    handler.__name__ = f"on_{activity_type.replace('.', '_')}"
    return handler


_FEEDBACK = {
    "feedback.received": ("customer_id",),
    "complaint.opened": ("customer_id",),
    "complaint.resolved": ("customer_id",),
    "complaint.reopened": ("customer_id",),
    "advocate.score_changed": ("customer_id",),
    "idea.submitted": ("author_id",),
    "idea.status_changed": ("author_id",),
    "vote.cast": ("customer_id",),
    "comment.posted": ("author_id",),
}
_CAMPAIGN = {
    "message.sent": "message.sent",
    "message.delivered": "message.delivered",
    "message.opened": "message.opened",
    "message.clicked": "message.clicked",
    "message.bounced": "message.bounced",
    "message.unsubscribed": "message.unsubscribed",
    "campaign.converted": "message.converted",
}

HANDLERS: dict[str, EventHandler] = {
    CUSTOMER_CREATED: on_customer_created,
    subject_for("identity", "customer.updated"): on_customer_updated,
    subject_for("identity", "customer.merged"): on_customer_merged,
    subject_for("identity", "customer.unmerged"): on_customer_unmerged,
    subject_for("identity", "customer.erased"): on_customer_erased,
    subject_for("identity", "touchpoint.recorded"): on_touchpoint_recorded,
    **{
        subject_for("feedback", event_type): _activity_handler(event_type, *fields)
        for event_type, fields in _FEEDBACK.items()
    },
    **{
        subject_for("campaign", event_type): _activity_handler(activity_type, "customer_id")
        for event_type, activity_type in _CAMPAIGN.items()
    },
}

audience_consumer = EventConsumer(name="campaign-audience", handlers=HANDLERS)

CONSUMERS: list[EventConsumer] = [audience_consumer]
