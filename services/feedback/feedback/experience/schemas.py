import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from crm_common.validation import MultiLineText
from feedback.experience.models import Channel, FeedbackResponse

# A named touchpoint: lower-case words joined by "_" or "-" (call_center, store_checkout, mobile-onboarding).
TOUCHPOINT_PATTERN = r"^[a-z0-9]+(?:[_-][a-z0-9]+)*$"
TouchpointSlug = Annotated[str, StringConstraints(pattern=TOUCHPOINT_PATTERN, max_length=60)]
FeedbackText = Annotated[MultiLineText, Field(min_length=1, max_length=2000)]
SentimentLabelName = Literal["negative", "neutral", "positive"]

# Instants the API accepts: with a zone, and within years feedback can have (windows and cursors do
# arithmetic on them, which must not overflow).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def within_range(value: datetime) -> datetime:
    if not EARLIEST <= value <= LATEST:
        raise ValueError(f"must be between {EARLIEST.date()} and {LATEST.date()}")
    return value


Instant = Annotated[AwareDatetime, AfterValidator(within_range)]


class FeedbackCreate(BaseModel):
    """A customer's feedback. ``nps`` goes with kind ``nps``, ``csat`` with ``csat``, and ``comment``
    is required for kind ``comment`` and optional (a reason) with a rating."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["nps", "csat", "comment"]
    channel: Channel
    touchpoint: TouchpointSlug = Field(examples=["store_checkout"])
    nps: int | None = Field(None, ge=0, le=10, description="How likely to recommend us, 0-10.")
    csat: int | None = Field(None, ge=1, le=5, description="How satisfied, 1-5.")
    comment: FeedbackText | None = None
    campaign_id: uuid.UUID | None = Field(None, description="The campaign whose message asked for it.")
    message_id: uuid.UUID | None = Field(None, description="The campaign message it answers.")


class SentimentPublic(BaseModel):
    score: float = Field(ge=-1, le=1, description="-1 (negative) .. 1 (positive).")
    label: SentimentLabelName


class FeedbackPublic(BaseModel):
    id: uuid.UUID
    customer_id: uuid.UUID | None = Field(description="Null once the customer was erased.")
    kind: str
    channel: str
    touchpoint: str
    nps: int | None
    csat: int | None
    comment: str | None
    sentiment: SentimentPublic | None = Field(description="Of the comment; null without one.")
    negative: bool = Field(description="Counted as negative at its touchpoint (EXPERIENCE.md).")
    campaign_id: uuid.UUID | None
    message_id: uuid.UUID | None
    received_at: datetime

    @classmethod
    def of(cls, response: FeedbackResponse) -> "FeedbackPublic":
        sentiment = (
            SentimentPublic.model_validate(
                {"score": response.sentiment_score, "label": response.sentiment_label}
            )
            if response.sentiment_score is not None and response.sentiment_label is not None
            else None
        )
        return cls(
            id=response.id,
            customer_id=response.customer_id,
            kind=response.kind,
            channel=response.channel,
            touchpoint=response.touchpoint,
            nps=response.nps_score,
            csat=response.csat_score,
            comment=response.comment,
            sentiment=sentiment,
            negative=response.negative,
            campaign_id=response.campaign_id,
            message_id=response.message_id,
            received_at=response.received_at,
        )


class FeedbackPage(BaseModel):
    items: list[FeedbackPublic]
    next_cursor: str | None = None


class FeedbackPageBatch(BaseModel):
    """The first page of each requested customer's feedback, keyed by customer id."""

    items: dict[str, FeedbackPage] = Field(
        description="Every requested customer; continue one with `/v1/customers/{id}/feedback?after=`."
    )


class CustomerScoresPublic(BaseModel):
    """What a customer's NPS and CSAT answers add up to (complaints and comments are not scores)."""

    latest_nps: int | None = Field(description="Their most recent NPS (0-10); null without one.")
    latest_nps_at: datetime | None = Field(description="When they gave it.")
    nps_responses: int
    average_csat: float | None = Field(description="Mean CSAT (1-5, three decimals); null without CSAT.")
    csat_responses: int


class CustomerScoresBatch(BaseModel):
    items: dict[str, CustomerScoresPublic] = Field(description="Every requested customer.")
