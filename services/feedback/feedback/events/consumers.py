"""The events the feedback service consumes.

The payload models below are feedback's reading of identity's contract (schema version 1): they take
the fields feedback needs and ignore the rest, so identity can add fields freely.
"""

import uuid

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events import EventEnvelope, subject_for
from crm_common.events.consumer import EventConsumer
from feedback.customers import service as customers

CUSTOMER_CREATED = subject_for("identity", "customer.created")
CUSTOMER_MERGED = subject_for("identity", "customer.merged")
CUSTOMER_UNMERGED = subject_for("identity", "customer.unmerged")
CUSTOMER_ERASED = subject_for("identity", "customer.erased")


class CustomerCreatedV1(BaseModel):
    model_config = ConfigDict(extra="ignore")

    customer_id: uuid.UUID
    display_name: str | None = None


class CustomerMergedV1(BaseModel):
    model_config = ConfigDict(extra="ignore")

    merge_id: uuid.UUID
    survivor_id: uuid.UUID
    merged_id: uuid.UUID


class CustomerUnmergedV1(BaseModel):
    model_config = ConfigDict(extra="ignore")

    merge_id: uuid.UUID
    survivor_id: uuid.UUID
    restored_id: uuid.UUID


class CustomerErasedV1(BaseModel):
    model_config = ConfigDict(extra="ignore")

    customer_id: uuid.UUID
    merged_ids: list[uuid.UUID] = Field(default_factory=list)


async def on_customer_created(session: AsyncSession, envelope: EventEnvelope) -> None:
    customer = CustomerCreatedV1.model_validate(envelope.payload)
    await customers.record_customer(
        session, customer_id=customer.customer_id, display_name=customer.display_name
    )


async def on_customer_merged(session: AsyncSession, envelope: EventEnvelope) -> None:
    merged = CustomerMergedV1.model_validate(envelope.payload)
    await customers.merge_customer(
        session, merge_id=merged.merge_id, survivor_id=merged.survivor_id, merged_id=merged.merged_id
    )


async def on_customer_unmerged(session: AsyncSession, envelope: EventEnvelope) -> None:
    unmerged = CustomerUnmergedV1.model_validate(envelope.payload)
    await customers.unmerge_customer(
        session,
        merge_id=unmerged.merge_id,
        survivor_id=unmerged.survivor_id,
        restored_id=unmerged.restored_id,
    )


async def on_customer_erased(session: AsyncSession, envelope: EventEnvelope) -> None:
    erased = CustomerErasedV1.model_validate(envelope.payload)
    await customers.erase_customer(session, customer_id=erased.customer_id, merged_ids=erased.merged_ids)


customers_consumer = EventConsumer(
    name="feedback-customers",
    handlers={
        CUSTOMER_CREATED: on_customer_created,
        CUSTOMER_MERGED: on_customer_merged,
        CUSTOMER_UNMERGED: on_customer_unmerged,
        CUSTOMER_ERASED: on_customer_erased,
    },
)
