import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    Index,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlmodel import Field

from feedback.database import FeedbackModel


class Channel(StrEnum):
    """Where the customer was reached (the same channels identity's timeline uses)."""

    WEB = "web"
    MOBILE_APP = "mobile_app"
    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"
    CALL_CENTER = "call_center"
    STORE = "store"
    SOCIAL = "social"
    PARTNER = "partner"


class FeedbackKind(StrEnum):
    NPS = "nps"
    CSAT = "csat"
    COMMENT = "comment"
    COMPLAINT = "complaint"  # written by the complaints domain, which opens a case for it


class FeedbackResponse(FeedbackModel, table=True):
    """One piece of feedback at a touchpoint: an NPS or CSAT rating, free text, or a complaint.

    ``negative`` is decided once, when the feedback arrives (EXPERIENCE.md): negative sentiment, an NPS
    detractor, a CSAT of 1 or 2, or a complaint. It is stored so that touchpoint health and the crisis
    detector count negatives with an index, and it stays after erasure, when the customer and the text
    are gone but the de-identified scores still count for the touchpoint.
    """

    __tablename__ = "feedback_response"
    __table_args__ = (
        CheckConstraint("kind IN ('nps', 'csat', 'comment', 'complaint')", name="kind"),
        CheckConstraint("nps_score IS NULL OR nps_score BETWEEN 0 AND 10", name="nps_range"),
        CheckConstraint("csat_score IS NULL OR csat_score BETWEEN 1 AND 5", name="csat_range"),
        CheckConstraint("(kind = 'nps') = (nps_score IS NOT NULL)", name="nps_for_nps"),
        CheckConstraint("(kind = 'csat') = (csat_score IS NOT NULL)", name="csat_for_csat"),
        CheckConstraint(
            "kind IN ('nps', 'csat') OR comment IS NOT NULL OR erased_at IS NOT NULL", name="text_for_text"
        ),
        CheckConstraint(
            "sentiment_label IS NULL OR sentiment_label IN ('negative', 'neutral', 'positive')",
            name="sentiment_label",
        ),
        Index("ix_feedback_response_touchpoint", "touchpoint", "received_at"),
        Index(
            "ix_feedback_response_negative",
            "received_at",
            "touchpoint",
            postgresql_where=text("negative"),
        ),
        Index("ix_feedback_response_customer_id", "customer_id", text("received_at DESC"), text("id DESC")),
        Index("ix_feedback_response_received_at", text("received_at DESC"), text("id DESC")),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    customer_id: uuid.UUID | None = Field(default=None, description="Null once the customer was erased.")
    kind: str = Field(sa_column=Column(String(10), nullable=False))
    channel: str = Field(sa_column=Column(String(20), nullable=False))
    touchpoint: str = Field(sa_column=Column(String(60), nullable=False))
    nps_score: int | None = Field(default=None, sa_column=Column(SmallInteger, nullable=True))
    csat_score: int | None = Field(default=None, sa_column=Column(SmallInteger, nullable=True))
    comment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    sentiment_score: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    sentiment_label: str | None = Field(default=None, sa_column=Column(String(10), nullable=True))
    negative: bool = Field(sa_column=Column(Boolean, nullable=False))
    campaign_id: uuid.UUID | None = None
    message_id: uuid.UUID | None = None
    received_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    erased_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
