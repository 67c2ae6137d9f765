import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from crm_common.validation import MultiLineText, SingleLineText
from feedback.experience.models import Channel
from feedback.experience.schemas import SentimentPublic, TouchpointSlug

ComplaintStatusName = Literal["open", "in_progress", "resolved"]
StaffSubject = Annotated[SingleLineText, Field(min_length=1, max_length=200)]
Note = Annotated[MultiLineText, Field(min_length=1, max_length=4000)]


class ComplaintCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Channel
    touchpoint: TouchpointSlug = Field(examples=["call_center"])
    text: Annotated[MultiLineText, Field(min_length=1, max_length=4000)] = Field(
        description="What went wrong, in the customer's words."
    )
    campaign_id: uuid.UUID | None = None
    message_id: uuid.UUID | None = None


class AssignmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assignee: StaffSubject | None = Field(description="The staff subject to handle it; null unassigns.")


class StatusChangeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: ComplaintStatusName
    note: Note | None = Field(
        None, description="Required when resolving: how it was resolved (the customer sees it)."
    )


class StatusChangePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    from_status: str | None
    to_status: str
    assignee: str | None = Field(description="Staff only.")
    actor: str | None = Field(description="Staff only.")
    note: str | None = Field(description="Staff only.")
    changed_at: datetime


class ComplaintPublic(BaseModel):
    id: uuid.UUID
    feedback_id: uuid.UUID
    customer_id: uuid.UUID | None = Field(description="Null once the customer was erased.")
    channel: str
    touchpoint: str
    text: str | None = Field(description="The customer's words; null once erased.")
    sentiment: SentimentPublic | None
    campaign_id: uuid.UUID | None
    message_id: uuid.UUID | None
    status: str
    assignee: str | None = Field(description="Staff only.")
    resolution: str | None
    reopened_count: int
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None


class ComplaintDetail(ComplaintPublic):
    history: list[StatusChangePublic]


class ComplaintPage(BaseModel):
    items: list[ComplaintPublic]
    next_cursor: str | None = None


class ComplaintPageBatch(BaseModel):
    """The first page of each requested customer's complaints, keyed by customer id."""

    items: dict[str, ComplaintPage] = Field(
        description="Every requested customer; continue one with `/v1/customers/{id}/complaints?after=`."
    )
