import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, Index, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field

from feedback.database import FeedbackModel, utcnow


class CustomerRef(FeedbackModel, table=True):
    """A customer the feedback service knows about; authors and voters refer to it."""

    __tablename__ = "customer_ref"

    customer_id: uuid.UUID = Field(primary_key=True)
    display_name: str | None = Field(default=None, max_length=400)
    first_seen_at: datetime = Field(
        default_factory=utcnow,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    erased_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


class CustomerMergeMove(FeedbackModel, table=True):
    """What identity's ``customer.merged`` changed here, so ``customer.unmerged`` can put it back.

    ``kind`` names the row type (idea, vote, comment, follower, ...); ``row_key`` identifies the row;
    ``restore`` holds what is needed to recreate a row the merge had to drop (a double vote).
    """

    __tablename__ = "customer_merge_move"
    __table_args__ = (Index("ix_customer_merge_move_merge_id", "merge_id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    merge_id: uuid.UUID
    kind: str = Field(sa_column=Column(String(30), nullable=False))
    action: str = Field(sa_column=Column(String(10), nullable=False), description="moved or dropped")
    row_key: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    restore: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
