"""The events the campaign service consumes.

The payload models below are the campaign's reading of identity's contract (schema version 1): they
take the fields the campaign needs and ignore the rest, so identity can add fields freely.
"""

import uuid

from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from campaign.audience import service as audience
from crm_common.events import EventEnvelope, subject_for
from crm_common.events.consumer import EventConsumer

CUSTOMER_CREATED = subject_for("identity", "customer.created")


class CustomerCreatedV1(BaseModel):
    model_config = ConfigDict(extra="ignore")

    customer_id: uuid.UUID
    display_name: str | None = None
    email: str | None = None
    created_at: AwareDatetime


async def on_customer_created(session: AsyncSession, envelope: EventEnvelope) -> None:
    customer = CustomerCreatedV1.model_validate(envelope.payload)
    await audience.project_customer(
        session,
        customer_id=customer.customer_id,
        display_name=customer.display_name,
        email=customer.email,
        customer_created_at=customer.created_at,
    )


audience_consumer = EventConsumer(name="campaign-audience", handlers={CUSTOMER_CREATED: on_customer_created})

CONSUMERS: list[EventConsumer] = [audience_consumer]
