import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    SmallInteger,
    String,
    func,
    text,
)
from sqlmodel import Field

from feedback.database import FeedbackModel


class AdvocateScore(FeedbackModel, table=True):
    """A customer's advocate score (0-100, feedback.advocates.scoring), its inputs and its tier.

    ``announced_score``/``announced_tier`` are what the last ``advocate.score_changed`` said: the next
    event is due when the score has moved far enough from them, however many small steps it took.
    """

    __tablename__ = "advocate_score"
    __table_args__ = (
        CheckConstraint("score BETWEEN 0 AND 100", name="score_range"),
        CheckConstraint("tier IN ('advocate', 'supporter', 'neutral')", name="tier"),
        Index("ix_advocate_score_ranking", text("score DESC"), text("customer_id DESC")),
    )

    customer_id: uuid.UUID = Field(primary_key=True)
    score: float = Field(sa_column=Column(Float, nullable=False))
    tier: str = Field(sa_column=Column(String(10), nullable=False))
    latest_nps: int | None = Field(default=None, sa_column=Column(SmallInteger, nullable=True))
    upvotes_received: int = Field(sa_column=Column(Integer, nullable=False))
    positive_feedback: int = Field(sa_column=Column(Integer, nullable=False))
    computed_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    announced_score: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    announced_tier: str | None = Field(default=None, sa_column=Column(String(10), nullable=True))
