"""Request and response shapes of the delivery domain."""

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from campaign.channels.types import Channel
from crm_common.pagination import Page


class MessagePublic(BaseModel):
    """One ledger row: a message to one customer and where it stands."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID = Field(description="The message id (also the Message-ID / webhook-id receivers see).")
    campaign_id: uuid.UUID
    step_id: str
    variant_key: str
    customer_id: uuid.UUID
    occurrence: int
    channel: str
    purpose: str
    status: str = Field(description="pending, held, sending, sent, failed, suppressed or cancelled.")
    reason: str | None = Field(None, description="Why it was suppressed or failed.")
    attempts: int
    not_before_at: datetime
    sent_at: datetime | None
    created_at: datetime
    responses: list[str] = Field(default_factory=list, description="Response kinds recorded, e.g. opened.")


class MessagePage(Page[MessagePublic]):
    pass


class CustomerMessagesBatch(BaseModel):
    items: dict[str, MessagePage] = Field(
        description="By requested customer id: the first page of their messages, newest first; pass a "
        "page's `next_cursor` as `after` to `GET /v1/customers/{id}/messages` for the rest."
    )


SuppressionReasonName = Literal["hard_bounce", "complaint", "unsubscribe", "manual"]


class SuppressionCreate(BaseModel):
    """Stop sending to an address or a customer; give exactly one of the two."""

    model_config = ConfigDict(extra="forbid")

    address: str | None = Field(None, min_length=3, max_length=320, description="Email address or phone.")
    customer_id: uuid.UUID | None = None
    channel: Channel | None = Field(None, description="Null: every channel.")
    purpose: Literal["marketing", "transactional", "service"] | None = Field(None, description="Null: all.")
    reason: SuppressionReasonName = "manual"

    @model_validator(mode="after")
    def _one_target(self) -> "SuppressionCreate":
        if (self.address is None) == (self.customer_id is None):
            raise ValueError("give exactly one of address and customer_id")
        return self


class SuppressionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    channel: str | None
    address: str | None
    customer_id: uuid.UUID | None
    purpose: str | None
    reason: str
    created_at: datetime


class SuppressionPage(Page[SuppressionPublic]):
    pass
