"""Request and response models of the inbox API and the provider feedback intake."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from crm_common.pagination import Page


class InboxMessagePublic(BaseModel):
    id: uuid.UUID = Field(description="The message id (as in tracking and message history).")
    subject: str | None
    body: str
    payload: dict[str, Any]
    created_at: datetime
    read_at: datetime | None


InboxPage = Page[InboxMessagePublic]


class ProviderEvent(BaseModel):
    """What a channel provider reports about one message it was handed."""

    model_config = ConfigDict(extra="ignore")  # providers add fields; we read what we need

    message_id: uuid.UUID = Field(description="Our message id: the `webhook-id` / `Message-ID` we sent.")
    type: Literal["delivered", "bounced", "complained", "unsubscribed"]
    bounce: Literal["hard", "soft"] | None = Field(
        None, description="For `bounced`: a soft bounce is recorded but does not suppress (default hard)."
    )
    occurred_at: AwareDatetime | None = Field(None, description="When it happened; default: when received.")
    reason: str | None = Field(None, max_length=500)


class ProviderEventBatch(BaseModel):
    model_config = ConfigDict(extra="ignore")

    events: list[ProviderEvent] = Field(min_length=1, max_length=1000)


class ProviderEventsAccepted(BaseModel):
    received: int = Field(description="Events in the request.")
    recorded: int = Field(
        description="Events that were new (repeats and unknown message ids change nothing)."
    )
