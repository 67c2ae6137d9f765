"""The events the feedback service consumes.

The payload models below are feedback's reading of identity's contract (schema version 1): they take
the fields feedback needs and ignore the rest, so identity can add fields freely.
"""

import uuid

from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events import EventEnvelope, subject_for
from crm_common.events.consumer import EventConsumer
from feedback.customers import service as customers

CUSTOMER_CREATED = subject_for("identity", "customer.created")


class CustomerCreatedV1(BaseModel):
    model_config = ConfigDict(extra="ignore")

    customer_id: uuid.UUID
    display_name: str | None = None


async def on_customer_created(session: AsyncSession, envelope: EventEnvelope) -> None:
    customer = CustomerCreatedV1.model_validate(envelope.payload)
    await customers.record_customer(
        session, customer_id=customer.customer_id, display_name=customer.display_name
    )


customers_consumer = EventConsumer(
    name="feedback-customers", handlers={CUSTOMER_CREATED: on_customer_created}
)
