import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Column, DateTime, ForeignKey, Index, SmallInteger, String, func
from sqlmodel import Field

from feedback.database import FeedbackModel, utcnow


class IdeaMerge(FeedbackModel, table=True):
    """A duplicate idea (``source``) folded into the idea that survives (``target``)."""

    __tablename__ = "idea_merge"
    __table_args__ = (
        Index("ix_idea_merge_source_idea_id", "source_idea_id"),
        Index("ix_idea_merge_target_idea_id", "target_idea_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    source_idea_id: uuid.UUID = Field(sa_column=Column(ForeignKey("idea.id"), nullable=False))
    target_idea_id: uuid.UUID = Field(sa_column=Column(ForeignKey("idea.id"), nullable=False))
    source_prior_status: str = Field(max_length=30)
    merged_by: str = Field(max_length=200)
    merged_at: datetime = Field(
        default_factory=utcnow,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    undone_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    undone_by: str | None = Field(default=None, max_length=200)


class IdeaMergeVote(FeedbackModel, table=True):
    """A vote the source idea had when merged: ``moved`` to the target, or ``dropped`` because the
    customer had already voted on the target. Undo puts every one of them back on the source."""

    __tablename__ = "idea_merge_vote"
    __table_args__ = (CheckConstraint("outcome IN ('moved', 'dropped')", name="outcome"),)

    merge_id: uuid.UUID = Field(sa_column=Column(ForeignKey("idea_merge.id"), primary_key=True))
    customer_id: uuid.UUID = Field(primary_key=True)
    direction: int = Field(sa_column=Column(SmallInteger, nullable=False))
    cast_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    outcome: str = Field(sa_column=Column(String(8), nullable=False))


class IdeaMergeFollower(FeedbackModel, table=True):
    """A follower of the source idea when merged; ``moved`` when the merge added them to the target."""

    __tablename__ = "idea_merge_follower"
    __table_args__ = (CheckConstraint("outcome IN ('moved', 'already')", name="outcome"),)

    merge_id: uuid.UUID = Field(sa_column=Column(ForeignKey("idea_merge.id"), primary_key=True))
    customer_id: uuid.UUID = Field(primary_key=True)
    followed_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    outcome: str = Field(sa_column=Column(String(8), nullable=False))
