import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from crm_common.validation import MultiLineText, SingleLineText

SegmentName = Annotated[SingleLineText, StringConstraints(max_length=200)]
SegmentDescription = Annotated[MultiLineText, StringConstraints(max_length=2000)]
Rule = Annotated[
    dict[str, Any],
    Field(
        description="A rule node: and/or/not, a field condition, an event condition or a segment reference.",
        examples=[
            {
                "and": [
                    {"field": "lifecycle_stage", "op": "in", "value": ["active", "at_risk"]},
                    {"event": "order_placed", "op": "gte", "count": 2, "within_days": 30},
                ]
            }
        ],
    ),
]


class SegmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: SegmentName
    description: SegmentDescription | None = None
    rule: Rule


class SegmentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: SegmentName | None = None
    description: SegmentDescription | None = None
    rule: Rule | None = None


class SegmentPreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: Rule


class SegmentPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    description: str | None
    rule: dict[str, Any]
    explanation: str = Field(description="The rule in words.")
    referenced_segment_ids: list[uuid.UUID]
    member_count: int
    created_by: str
    created_at: datetime
    updated_at: datetime
    refreshed_at: datetime | None


class SegmentPage(BaseModel):
    items: list[SegmentPublic]
    next_cursor: str | None = None


class SampleMember(BaseModel):
    customer_id: uuid.UUID
    display_name: str | None
    lifecycle_stage: str
    value_tier: str


class SegmentPreview(BaseModel):
    count: int
    sample: list[SampleMember] = Field(description="Up to 20 matching members.")
    explanation: str


class SegmentMember(BaseModel):
    customer_id: uuid.UUID
    entered_at: datetime


class SegmentMemberPage(BaseModel):
    items: list[SegmentMember]
    next_cursor: str | None = Field(None, description="Pass as `after` for the next page.")


class CustomerSegment(BaseModel):
    segment_id: uuid.UUID
    name: str
    entered_at: datetime


class CustomerSegmentsBatch(BaseModel):
    items: dict[str, list[CustomerSegment]] = Field(
        description="By requested customer id: the segments they are in, by name ([] when none)."
    )


class SegmentBatch(BaseModel):
    items: dict[str, SegmentPublic] = Field(description="By requested segment id.")
    missing: list[uuid.UUID] = Field(description="Requested ids with no segment (unknown or deleted).")
