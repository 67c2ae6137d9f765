"""Identity events the ledger reacts to: erasures (cancel, forget suppressions) and merges (move
pending messages to the survivor). Both are idempotent: a repeat finds nothing left to change."""

import uuid

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from campaign.delivery import service
from crm_common.events import EventEnvelope, subject_for
from crm_common.events.consumer import EventConsumer, PermanentEventError

CUSTOMER_ERASED = subject_for("identity", "customer.erased")
CUSTOMER_MERGED = subject_for("identity", "customer.merged")


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CustomerErasedV1(_Payload):
    customer_id: uuid.UUID
    merged_ids: list[uuid.UUID] = Field(default_factory=list)


class CustomerMergedV1(_Payload):
    survivor_id: uuid.UUID
    merged_id: uuid.UUID


async def on_customer_erased(session: AsyncSession, envelope: EventEnvelope) -> None:
    try:
        erased = CustomerErasedV1.model_validate(envelope.payload)
    except ValidationError as exc:
        raise PermanentEventError(str(exc)) from exc
    await service.forget_customers(session, [erased.customer_id, *erased.merged_ids])


async def on_customer_merged(session: AsyncSession, envelope: EventEnvelope) -> None:
    try:
        merge = CustomerMergedV1.model_validate(envelope.payload)
    except ValidationError as exc:
        raise PermanentEventError(str(exc)) from exc
    await service.move_customer(session, merge.merged_id, merge.survivor_id)


delivery_consumer = EventConsumer(
    name="campaign-delivery",
    handlers={CUSTOMER_ERASED: on_customer_erased, CUSTOMER_MERGED: on_customer_merged},
)

CONSUMERS: list[EventConsumer] = [delivery_consumer]
