import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Column, DateTime, ForeignKey, Index, SmallInteger, func
from sqlmodel import Field

from feedback.database import FeedbackModel, utcnow


class Vote(FeedbackModel, table=True):
    """A customer's one vote on an idea: +1 promotes, -1 demotes (IdeaStorm)."""

    __tablename__ = "vote"
    __table_args__ = (
        CheckConstraint("direction IN (-1, 1)", name="direction"),
        Index("ix_vote_customer_id", "customer_id"),
    )

    idea_id: uuid.UUID = Field(sa_column=Column(ForeignKey("idea.id"), primary_key=True))
    customer_id: uuid.UUID = Field(primary_key=True)
    direction: int = Field(sa_column=Column(SmallInteger, nullable=False))
    cast_at: datetime = Field(
        default_factory=utcnow,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
