import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Column, DateTime, ForeignKey, Index, Text, func, text
from sqlmodel import Field

from feedback.database import FeedbackModel, utcnow


class Comment(FeedbackModel, table=True):
    """A comment on an idea, or a reply to one (one level: replies cannot be replied to)."""

    __tablename__ = "comment"
    __table_args__ = (
        CheckConstraint(
            "moderation_state IN ('pending', 'published', 'hidden', 'rejected')", name="moderation_state"
        ),
        CheckConstraint("author_kind IN ('customer', 'staff')", name="author_kind"),
        Index("ix_comment_idea_id", "idea_id", "created_at", "id"),
        Index("ix_comment_author_id", "author_id"),
        Index(
            "ix_comment_moderation_queue", "created_at", postgresql_where=text("moderation_state = 'pending'")
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    idea_id: uuid.UUID = Field(sa_column=Column(ForeignKey("idea.id"), nullable=False))
    parent_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(ForeignKey("comment.id"), nullable=True)
    )
    author_kind: str = Field(max_length=10)
    author_id: uuid.UUID | None = Field(
        default=None, description="The customer; null for staff or once erased."
    )
    staff_subject: str | None = Field(default=None, max_length=200)
    body: str = Field(sa_column=Column(Text, nullable=False))
    moderation_state: str = Field(max_length=16)
    spam_score: float = Field(default=0.0)
    created_at: datetime = Field(
        default_factory=utcnow,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    edited_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
