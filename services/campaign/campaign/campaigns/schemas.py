import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from campaign.campaigns.definition import CampaignDefinition
from crm_common.errors import FieldError
from crm_common.validation import SingleLineText

CampaignKind = Literal["broadcast", "journey"]
CampaignStatus = Literal["draft", "running", "paused", "completed"]


class CampaignCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: SingleLineText = Field(max_length=200)
    kind: CampaignKind
    definition: CampaignDefinition


class CampaignUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: SingleLineText | None = Field(None, max_length=200)
    definition: CampaignDefinition | None = None


class CampaignPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    kind: CampaignKind
    status: CampaignStatus
    definition: dict[str, Any]
    created_by: str
    created_at: datetime
    updated_at: datetime
    launched_at: datetime | None
    paused_at: datetime | None
    completed_at: datetime | None
    enrollment_pending: bool = Field(
        False, description="The segment enrollment of a broadcast or scheduled entry is still to run."
    )


class CampaignPage(BaseModel):
    items: list[CampaignPublic]
    next_cursor: str | None = None


class CampaignBatch(BaseModel):
    items: dict[str, CampaignPublic] = Field(description="By requested campaign id.")
    missing: list[uuid.UUID] = Field(description="Requested ids with no campaign (unknown or deleted).")


class ValidationReport(BaseModel):
    valid: bool
    errors: list[FieldError]


class EnrollmentPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    campaign_id: uuid.UUID
    customer_id: uuid.UUID
    occurrence: int
    group: str
    variant_key: str | None
    current_step: str | None
    next_run_at: datetime | None
    status: str
    entered_at: datetime
    exited_at: datetime | None
    exit_reason: str | None
    converted_at: datetime | None


class CustomerEnrollmentsBatch(BaseModel):
    items: dict[str, list[EnrollmentPublic]] = Field(
        description="By requested customer id: their enrollments, newest entry first ([] when none)."
    )


class LiftPublic(BaseModel):
    absolute: float = Field(description="Conversion rate difference, treatment - control.")
    relative: float | None = Field(description="(p_t - p_c) / p_c; null when the control rate is 0.")
    ci_low: float
    ci_high: float
    approximation_ok: bool = Field(
        description="Each group has >= 5 conversions and >= 5 non-conversions (normal approximation holds)."
    )


class GroupResult(BaseModel):
    group: str
    enrolled: int
    converted: int
    conversion_rate: float | None


class VariantResult(BaseModel):
    variant_key: str
    enrolled: int
    sent: int
    delivered: int
    opened: int
    clicked: int
    converted: int
    conversion_rate: float | None
    lift: LiftPublic | None


class StepVariantStats(BaseModel):
    step_id: str
    variant_key: str
    sent: int
    delivered: int
    opened: int
    clicked: int
    bounced: int
    unsubscribed: int
    suppressed: int
    failed: int


class SampleRatioPublic(BaseModel):
    observed: dict[str, int]
    expected_share: dict[str, float]
    p_value: float | None
    alarm: bool = Field(
        description="Chi-square p < 0.001: the group sizes are not what the split should give."
    )


class CampaignResults(BaseModel):
    campaign_id: uuid.UUID
    goal_event: str | None
    groups: list[GroupResult]
    variants: list[VariantResult]
    lift: LiftPublic | None = Field(description="Treatment over this campaign's control group.")
    lift_over_global_control: LiftPublic | None
    sample_ratio: SampleRatioPublic
    steps: list[StepVariantStats]
    method: str


class AllocationPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    step_id: str
    metric: str
    computed_at: datetime
    weights: dict[str, float]
    successes: dict[str, int]
    trials: dict[str, int]


class AllocationReport(BaseModel):
    campaign_id: uuid.UUID
    step_id: str | None
    metric: str | None
    exploration_floor: float | None
    current: dict[str, float]
    history: list[AllocationPublic]
