import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

AdvocateTier = Literal["advocate", "supporter", "neutral"]


class AdvocateScorePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    customer_id: uuid.UUID
    score: float = Field(
        ge=0, le=100, description="5 x latest NPS + up to 30 for upvotes + up to 20 for praise."
    )
    tier: AdvocateTier = Field(description="advocate >= 70, supporter >= 40, neutral below.")
    latest_nps: int | None
    upvotes_received: int = Field(description="Upvotes on the customer's published ideas.")
    positive_feedback: int = Field(description="Responses with positive sentiment or CSAT 4-5.")
    computed_at: datetime


class AdvocatePage(BaseModel):
    items: list[AdvocateScorePublic]
    next_cursor: str | None = None


class AdvocateScoreBatch(BaseModel):
    items: dict[str, AdvocateScorePublic | None] = Field(
        description="Every requested customer; null for one without a score yet (no NPS, upvoted idea "
        "or positive feedback)."
    )
