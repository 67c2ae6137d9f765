import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, DateTime, ForeignKey, Index, Integer, String, Text, func, text
from sqlmodel import Field

from feedback.database import FeedbackModel


class ComplaintStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"


# Where a complaint may go from each status. Reopening is resolved -> open.
TRANSITIONS: dict[ComplaintStatus, frozenset[ComplaintStatus]] = {
    ComplaintStatus.OPEN: frozenset({ComplaintStatus.IN_PROGRESS, ComplaintStatus.RESOLVED}),
    ComplaintStatus.IN_PROGRESS: frozenset({ComplaintStatus.OPEN, ComplaintStatus.RESOLVED}),
    ComplaintStatus.RESOLVED: frozenset({ComplaintStatus.OPEN}),
}


class Complaint(FeedbackModel, table=True):
    """A complaint handled as a case: its status, who handles it and how it was resolved.

    The customer's words are the ``feedback_response`` it was opened from (kind ``complaint``), so the
    complaint counts in touchpoint health like any negative feedback. ``customer_id`` and
    ``touchpoint`` are copied from it (they never change) to list cases without a join.
    """

    __tablename__ = "complaint"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'in_progress', 'resolved')", name="status"),
        CheckConstraint("(status = 'resolved') = (resolved_at IS NOT NULL)", name="resolved_at"),
        Index("ix_complaint_status", "status", text("opened_at DESC"), text("id DESC")),
        Index("ix_complaint_assignee", "assignee", text("opened_at DESC"), text("id DESC")),
        Index("ix_complaint_customer_id", "customer_id", text("opened_at DESC"), text("id DESC")),
        Index("ix_complaint_opened_at", text("opened_at DESC"), text("id DESC")),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    feedback_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("feedback_response.id"), nullable=False, unique=True)
    )
    customer_id: uuid.UUID | None = Field(default=None, description="Null once the customer was erased.")
    touchpoint: str = Field(sa_column=Column(String(60), nullable=False))
    status: str = Field(sa_column=Column(String(12), nullable=False))
    assignee: str | None = Field(default=None, max_length=200, description="The staff subject handling it.")
    resolution: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    reopened_count: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    opened_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    updated_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    resolved_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class ComplaintStatusChange(FeedbackModel, table=True):
    """One step in a complaint's handling: opened, assigned, moved to a status, resolved, reopened."""

    __tablename__ = "complaint_status_change"
    __table_args__ = (Index("ix_complaint_status_change_complaint_id", "complaint_id", "changed_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    complaint_id: uuid.UUID = Field(sa_column=Column(ForeignKey("complaint.id"), nullable=False))
    from_status: str | None = Field(default=None, sa_column=Column(String(12), nullable=True))
    to_status: str = Field(sa_column=Column(String(12), nullable=False))
    assignee: str | None = Field(default=None, max_length=200, description="The assignee after this step.")
    actor: str = Field(max_length=200)
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    changed_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
