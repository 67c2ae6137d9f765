"""The events the identity service consumes: the campaign service's messages and responses, which go on
the customer's timeline so agents see what the company sent and how the customer reacted.

The payload model is identity's reading of the campaign contract (schema version 1): it takes the fields
the timeline needs and ignores the rest.
"""

import uuid

from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events import EventEnvelope, subject_for
from crm_common.events.consumer import EventConsumer, EventHandler
from identity.timeline import service as timeline
from identity.timeline.models import Channel

CAMPAIGN_SOURCE = "campaign"

# Campaign channels as the timeline names them.
CHANNELS = {
    "email": Channel.EMAIL,
    "sms": Channel.SMS,
    "push": Channel.PUSH,
    "in_app": Channel.MOBILE_APP,
    "webhook": Channel.PARTNER,
}

MESSAGE_EVENTS = (
    "message.sent",
    "message.delivered",
    "message.opened",
    "message.clicked",
    "message.bounced",
    "message.complained",
    "message.unsubscribed",
)


class CampaignMessageV1(BaseModel):
    model_config = ConfigDict(extra="ignore")

    customer_id: uuid.UUID
    campaign_id: uuid.UUID
    message_id: uuid.UUID | None = None
    step_id: str | None = None
    variant_key: str | None = None
    channel: str | None = None
    occurred_at: AwareDatetime
    url: str | None = None
    reason: str | None = None
    group: str | None = None
    goal_event: str | None = None


async def on_campaign_event(session: AsyncSession, envelope: EventEnvelope) -> None:
    event = CampaignMessageV1.model_validate(envelope.payload)
    details = event.model_dump(mode="json", exclude={"customer_id", "occurred_at"}, exclude_none=True)
    await timeline.record_external(
        session,
        [
            timeline.ExternalTouchpoint(
                customer_id=event.customer_id,
                channel=CHANNELS.get(event.channel or "", Channel.PARTNER).value,
                type=envelope.type,
                occurred_at=event.occurred_at,
                source=CAMPAIGN_SOURCE,
                # One touchpoint per event: a redelivered event finds its touchpoint already there.
                external_id=str(envelope.id),
                payload=details,
            )
        ],
    )


_handlers: dict[str, EventHandler] = {
    subject_for("campaign", event_type): on_campaign_event
    for event_type in (*MESSAGE_EVENTS, "campaign.converted")
}

campaign_timeline_consumer = EventConsumer(name="identity-campaign-timeline", handlers=_handlers)
