import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AudienceMemberPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    customer_id: uuid.UUID
    display_name: str | None = None
    email: str | None
    phone: str | None = None
    traits: dict[str, Any] = Field(default_factory=dict, description="Identity's golden values.")
    time_zone: str | None = Field(None, description="IANA zone: the profile's, its country's or the default.")
    consents: dict[str, bool] = Field(default_factory=dict, description='{"email:marketing": true, ...}')
    order_count: int = 0
    order_total: Decimal = Decimal(0)
    avg_order_value: Decimal | None = None
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None
    top_categories: list[str] = Field(default_factory=list)
    last_activity_at: datetime | None = None
    latest_nps: int | None = None
    nps_count: int = 0
    open_complaints: int = 0
    complaint_count: int = 0
    advocate_score: float | None = None
    advocate_tier: str | None = None
    rfm_recency: int | None = Field(None, description="1-5, 5 = ordered most recently.")
    rfm_frequency: int | None = None
    rfm_monetary: int | None = None
    rfm_segment: str | None = None
    value_tier: str = Field(description="vip, high, medium or low.")
    lifecycle_stage: str = Field(description="prospect, new, active, at_risk or lapsed.")
    last_message_at: datetime | None = None
    last_opened_at: datetime | None = None
    last_clicked_at: datetime | None = None
    customer_created_at: datetime = Field(description="When identity created the customer.")
    projected_at: datetime = Field(description="When the campaign service first learned of the customer.")
    updated_at: datetime


class AudienceBatch(BaseModel):
    items: list[AudienceMemberPublic]
    missing: list[uuid.UUID] = Field(description="Requested ids that match no audience member.")
