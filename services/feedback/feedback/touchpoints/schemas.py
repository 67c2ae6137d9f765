import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from crm_common.validation import MultiLineText

HealthWindowName = Literal["hour", "day", "week"]


class HealthTrend(BaseModel):
    """This window minus the one before it (an empty previous window has volume 0 and no scores)."""

    volume_change: int
    nps_change: float | None = Field(description="In NPS points; null when either window has no NPS.")
    csat_average_change: float | None
    negative_share_change: float | None


class WindowHealth(BaseModel):
    window_start: datetime
    window_end: datetime
    volume: int = Field(description="Responses of every kind, complaints included.")
    nps: float | None = Field(
        description="% promoters (9-10) - % detractors (0-6), -100..100; null without NPS."
    )
    nps_responses: int
    promoters: int
    passives: int
    detractors: int
    csat_average: float | None = Field(description="Mean CSAT (1-5); null without CSAT.")
    csat_responses: int
    negatives: int = Field(description="Negative responses (EXPERIENCE.md).")
    negative_share: float = Field(description="negatives / volume.")
    complaints: int
    trend: HealthTrend


class TouchpointHealth(BaseModel):
    touchpoint: str
    windows: list[WindowHealth] = Field(description="The windows with feedback, oldest first.")


class HealthReport(BaseModel):
    window: HealthWindowName
    tz: str
    since: datetime = Field(serialization_alias="from")
    until: datetime = Field(serialization_alias="to")
    items: list[TouchpointHealth]
    next_cursor: str | None = Field(None, description="Pass as `after` for the next touchpoints.")


class AlertPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    touchpoint: str
    window_start: datetime
    window_end: datetime
    negative_count: int
    baseline_rate: float = Field(description="Negatives expected per window from the previous windows.")
    p_value: float = Field(description="Chance of this many negatives at the baseline rate (Poisson).")
    method: str
    raised_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    acknowledgement_note: str | None


class AlertPage(BaseModel):
    items: list[AlertPublic]
    next_cursor: str | None = None


class AcknowledgementCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[MultiLineText, Field(min_length=1, max_length=2000)] | None = None
