import uuid
from datetime import datetime

from sqlalchemy import Column, DateTime, func
from sqlmodel import Field

from feedback.database import FeedbackModel


class CustomerRef(FeedbackModel, table=True):
    """A customer the feedback service knows about; authors and voters refer to it."""

    __tablename__ = "customer_ref"

    customer_id: uuid.UUID = Field(primary_key=True)
    display_name: str | None = Field(default=None, max_length=400)
    first_seen_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    erased_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
