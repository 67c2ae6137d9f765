import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Column, DateTime, String, func
from sqlmodel import Field

from feedback.database import FeedbackModel, utcnow


class Board(FeedbackModel, table=True):
    """A place ideas are submitted to, with its own voting and moderation rules."""

    __tablename__ = "board"
    __table_args__ = (
        CheckConstraint("moderation_mode IN ('pre', 'post')", name="moderation_mode"),
        CheckConstraint("vote_budget IS NULL OR vote_budget > 0", name="vote_budget_positive"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    slug: str = Field(sa_column=Column(String(60), nullable=False, unique=True))
    name: str = Field(max_length=200)
    vote_budget: int | None = Field(
        default=None, description="Open-idea votes a customer may hold on this board at once; null: no limit."
    )
    moderation_mode: str = Field(
        default="post", sa_column=Column(String(8), nullable=False, server_default="post")
    )
    created_at: datetime = Field(
        default_factory=utcnow,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
