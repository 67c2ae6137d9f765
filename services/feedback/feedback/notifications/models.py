import uuid
from datetime import datetime

from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, func, text
from sqlmodel import Field

from feedback.database import FeedbackModel, utcnow


class NotificationFanout(FeedbackModel, table=True):
    """Telling an idea's voters and followers about a status change, done in chunks by the worker.

    ``last_customer_id`` is the keyset cursor over the recipients: each chunk's events and the cursor
    move are written in one transaction, so a killed worker resumes where it stopped, sending no one twice.
    """

    __tablename__ = "notification_fanout"
    __table_args__ = (
        Index("ix_notification_fanout_pending", "created_at", postgresql_where=text("done_at IS NULL")),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    idea_id: uuid.UUID = Field(sa_column=Column(ForeignKey("idea.id"), nullable=False))
    status_change_id: uuid.UUID = Field(sa_column=Column(ForeignKey("idea_status_change.id"), nullable=False))
    last_customer_id: uuid.UUID | None = None
    notified_count: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    created_at: datetime = Field(
        default_factory=utcnow,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    done_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
