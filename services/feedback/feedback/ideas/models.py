import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field

from feedback.database import FeedbackModel, utcnow

# Ideas everyone may see: published and not folded into another idea.
VISIBLE = text("moderation_state = 'published'")


class Idea(FeedbackModel, table=True):
    """A customer's proposal, its workflow status, its vote tallies and the ranking keys derived from them.

    ``up_count``/``down_count``/``comment_count`` change only in the transaction that changes the rows
    they count, with the idea row locked, so they are always exact. ``top_score`` (Wilson lower bound)
    and ``trending_score`` (log of the exponentially decayed activity) are stored so the first page of
    a ranking is an index scan.
    """

    __tablename__ = "idea"
    __table_args__ = (
        CheckConstraint(
            "moderation_state IN ('pending', 'published', 'hidden', 'rejected')", name="moderation_state"
        ),
        CheckConstraint("up_count >= 0 AND down_count >= 0 AND comment_count >= 0", name="counts"),
        Index("ix_idea_top", text("top_score DESC"), text("id DESC"), postgresql_where=VISIBLE),
        Index("ix_idea_trending", text("trending_score DESC"), text("id DESC"), postgresql_where=VISIBLE),
        Index("ix_idea_newest", text("created_at DESC"), text("id DESC"), postgresql_where=VISIBLE),
        Index(
            "ix_idea_status_top", "status", text("top_score DESC"), text("id DESC"), postgresql_where=VISIBLE
        ),
        Index("ix_idea_tags", "tags", postgresql_using="gin"),
        Index("ix_idea_author_id", "author_id", "created_at"),
        Index("ix_idea_text_hash", "text_hash", "created_at"),
        Index(
            "ix_idea_moderation_queue", "created_at", postgresql_where=text("moderation_state = 'pending'")
        ),
        Index(
            "ix_idea_title_trgm",
            "title",
            postgresql_using="gin",
            postgresql_ops={"title": "gin_trgm_ops"},
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    board_id: uuid.UUID = Field(sa_column=Column(ForeignKey("board.id"), nullable=False))
    author_id: uuid.UUID | None = Field(default=None, description="Null once the author was erased.")
    title: str = Field(max_length=200)
    body: str = Field(sa_column=Column(Text, nullable=False))
    category: str | None = Field(default=None, max_length=60)
    tags: list[str] = Field(default_factory=list, sa_column=Column(ARRAY(String(40)), nullable=False))
    status: str = Field(max_length=30)
    moderation_state: str = Field(max_length=16)
    spam_score: float = Field(default=0.0, sa_column=Column(Float, nullable=False, server_default="0"))
    spam_reasons: list[str] = Field(
        default_factory=list, sa_column=Column(ARRAY(String(40)), nullable=False, server_default="{}")
    )
    text_hash: str = Field(max_length=64, description="Hash of the normalised title and body (repeats).")
    up_count: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    down_count: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    comment_count: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    top_score: float = Field(default=0.0, sa_column=Column(Float, nullable=False, server_default="0"))
    trending_score: float = Field(sa_column=Column(Float, nullable=False))
    merged_into_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(ForeignKey("idea.id"), nullable=True)
    )
    created_at: datetime = Field(
        default_factory=utcnow,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    edited_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    status_changed_at: datetime = Field(
        default_factory=utcnow,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


class IdeaStatusChange(FeedbackModel, table=True):
    """One step of an idea through the workflow, with the official response voters are told."""

    __tablename__ = "idea_status_change"
    __table_args__ = (Index("ix_idea_status_change_idea_id", "idea_id", "changed_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    idea_id: uuid.UUID = Field(sa_column=Column(ForeignKey("idea.id"), nullable=False))
    from_status: str | None = Field(default=None, max_length=30)
    to_status: str = Field(max_length=30)
    response: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    changed_by: str = Field(max_length=200)
    changed_at: datetime = Field(
        default_factory=utcnow,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


class IdeaFollower(FeedbackModel, table=True):
    """A customer who asked to hear about an idea (authors follow their own ideas)."""

    __tablename__ = "idea_follower"
    __table_args__ = (Index("ix_idea_follower_customer_id", "customer_id"),)

    idea_id: uuid.UUID = Field(sa_column=Column(ForeignKey("idea.id"), primary_key=True))
    customer_id: uuid.UUID = Field(primary_key=True)
    followed_at: datetime = Field(
        default_factory=utcnow,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
