import uuid
from datetime import datetime

from sqlalchemy import Column, DateTime, Float, Index, Integer, String, Text, UniqueConstraint, func, text
from sqlmodel import Field

from feedback.database import FeedbackModel


class FeedbackAlert(FeedbackModel, table=True):
    """A spike of negative feedback at a touchpoint, raised once per touchpoint and window.

    The unique (touchpoint, window_start) is what makes "never twice" hold, even with two detectors
    running at once: the second insert does nothing and publishes nothing.
    """

    __tablename__ = "feedback_alert"
    __table_args__ = (
        UniqueConstraint("touchpoint", "window_start"),
        Index("ix_feedback_alert_raised_at", text("raised_at DESC"), text("id DESC")),
        Index(
            "ix_feedback_alert_open",
            text("raised_at DESC"),
            text("id DESC"),
            postgresql_where=text("acknowledged_at IS NULL"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    touchpoint: str = Field(sa_column=Column(String(60), nullable=False))
    window_start: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    window_end: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    negative_count: int = Field(sa_column=Column(Integer, nullable=False))
    baseline_rate: float = Field(
        sa_column=Column(Float, nullable=False), description="Expected negatives per window (Poisson mean)."
    )
    p_value: float = Field(sa_column=Column(Float, nullable=False), description="P(X >= count) at that rate.")
    method: str = Field(sa_column=Column(String(20), nullable=False))
    raised_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    acknowledged_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    acknowledged_by: str | None = Field(default=None, max_length=200)
    acknowledgement_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
