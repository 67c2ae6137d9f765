import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Column, DateTime, Index, String, Text, func
from sqlmodel import Field

from feedback.database import FeedbackModel, utcnow


class AuthorBlock(FeedbackModel, table=True):
    """A customer staff stopped from submitting ideas and comments."""

    __tablename__ = "author_block"

    customer_id: uuid.UUID = Field(primary_key=True)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    blocked_by: str = Field(max_length=200)
    blocked_at: datetime = Field(
        default_factory=utcnow,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


class ModerationAction(FeedbackModel, table=True):
    """What a moderator (or the spam heuristics) did to an idea or comment, and why."""

    __tablename__ = "moderation_action"
    __table_args__ = (
        CheckConstraint("target_kind IN ('idea', 'comment', 'author')", name="target_kind"),
        Index("ix_moderation_action_target", "target_kind", "target_id", "acted_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    target_kind: str = Field(sa_column=Column(String(10), nullable=False))
    target_id: uuid.UUID
    action: str = Field(max_length=30)
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    actor: str = Field(max_length=200)
    acted_at: datetime = Field(
        default_factory=utcnow,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
