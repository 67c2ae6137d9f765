from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, Column, DateTime, Index, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field

from identity.database import IdentityModel


class DeliveryStatus(StrEnum):
    """Where a delivery is. ``processing`` is never stored: it is a worker's row lock (see jobs.py)."""

    PENDING = "pending"
    PROCESSING = "processing"
    FAILED = "failed"
    DONE = "done"
    DEAD = "dead"


# Deliveries a worker may claim once they are due.
WAITING_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.FAILED)


class WebhookDelivery(IdentityModel, table=True):
    """A signed partner event as received, kept until processed and afterwards (its id de-duplicates)."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'failed', 'done', 'dead')", name="status"),
        # The worker's claim: due waiting deliveries, oldest due first.
        Index(
            "ix_webhook_delivery_due",
            "next_attempt_at",
            postgresql_where=text("status IN ('pending', 'failed')"),
        ),
        # The dead-letter list, newest first.
        Index(
            "ix_webhook_delivery_dead",
            "received_at",
            "source",
            "webhook_id",
            postgresql_where=text("status = 'dead'"),
        ),
    )

    source: str = Field(sa_column=Column(String(100), primary_key=True))
    webhook_id: str = Field(
        sa_column=Column(String(200), primary_key=True), description="The partner's `webhook-id` header."
    )
    received_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    body: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    status: str = Field(
        default=DeliveryStatus.PENDING.value,
        sa_column=Column(String(16), nullable=False, server_default=DeliveryStatus.PENDING.value),
    )
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    next_attempt_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    processed_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
