"""The delivery ledger and what send-time policy needs: suppressions, per-campaign state, responses."""

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlmodel import Field

from campaign.database import CampaignModel

STATUSES = ("pending", "held", "sending", "sent", "failed", "suppressed", "cancelled")
# Rows a worker may still claim once ``not_before_at`` has passed.
DUE = text("status IN ('pending', 'held')")


class Delivery(CampaignModel, table=True):
    """One message to one customer: the ledger row. Its id is the message id receivers see.

    Keyed by (campaign, step, customer, occurrence), so enqueueing the same send twice adds nothing.
    ``cap_counted_at`` is set when policy lets a marketing message go (the moment it counts against
    the customer's frequency caps) and cleared when the message goes back to pending or fails.
    """

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("campaign_id", "step_id", "customer_id", "occurrence"),
        CheckConstraint(
            "status IN ('pending', 'held', 'sending', 'sent', 'failed', 'suppressed', 'cancelled')",
            name="status",
        ),
        Index("ix_delivery_due", "not_before_at", postgresql_where=DUE),
        Index("ix_delivery_lease", "lease_expires_at", postgresql_where=text("status = 'sending'")),
        Index("ix_delivery_customer_history", "customer_id", text("created_at DESC"), text("id DESC")),
        Index(
            "ix_delivery_cap_window",
            "customer_id",
            "cap_counted_at",
            postgresql_where=text("cap_counted_at IS NOT NULL"),
        ),
    )

    id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    campaign_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False))
    step_id: str = Field(sa_column=Column(String(100), nullable=False))
    variant_key: str = Field(sa_column=Column(String(100), nullable=False))
    customer_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False))
    occurrence: int = Field(sa_column=Column(Integer, nullable=False, server_default=text("0")))
    channel: str = Field(sa_column=Column(String(20), nullable=False))
    purpose: str = Field(sa_column=Column(String(20), nullable=False))
    content_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False))
    status: str = Field(sa_column=Column(String(20), nullable=False, server_default=text("'pending'")))
    reason: str | None = Field(default=None, sa_column=Column(String(40), nullable=True))
    attempts: int = Field(sa_column=Column(Integer, nullable=False, server_default=text("0")))
    not_before_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    lease_owner: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    lease_expires_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    cap_counted_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    sent_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    updated_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )


class DeliveryResponse(CampaignModel, table=True):
    """What happened to a sent message (delivered, opened, clicked...): one row per (message, kind, url);
    ``url`` is '' for every kind but clicks, so clicks count once per link."""

    __tablename__ = "delivery_response"
    __table_args__ = (
        UniqueConstraint("message_id", "kind", "url"),
        CheckConstraint(
            "kind IN ('delivered', 'opened', 'clicked', 'bounced', 'complained', 'unsubscribed')", name="kind"
        ),
        Index("ix_delivery_response_campaign", "campaign_id", "step_id", "kind", "customer_id"),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=True), primary_key=True)
    )
    message_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False))
    campaign_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False))
    step_id: str = Field(sa_column=Column(String(100), nullable=False))
    variant_key: str = Field(sa_column=Column(String(100), nullable=False))
    customer_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False))
    kind: str = Field(sa_column=Column(String(20), nullable=False))
    url: str = Field(sa_column=Column(Text, nullable=False, server_default=text("''")))
    reason: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    occurred_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    recorded_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )


class Suppression(CampaignModel, table=True):
    """Do not send: to an address or a customer, on one channel (or all when ``channel`` is null),
    for one purpose (or all when ``purpose`` is null). ``suppression_key`` makes adding one idempotent."""

    __tablename__ = "suppression"
    __table_args__ = (
        CheckConstraint("address IS NOT NULL OR customer_id IS NOT NULL", name="target"),
        CheckConstraint("reason IN ('hard_bounce', 'complaint', 'unsubscribe', 'manual')", name="reason"),
        Index("ix_suppression_address", "address"),
        Index("ix_suppression_customer_id", "customer_id"),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=True), primary_key=True)
    )
    suppression_key: str = Field(sa_column=Column(String(500), nullable=False, unique=True))
    channel: str | None = Field(default=None, sa_column=Column(String(20), nullable=True))
    address: str | None = Field(default=None, sa_column=Column(String(320), nullable=True))
    customer_id: uuid.UUID | None = Field(default=None, sa_column=Column(UUID(as_uuid=True), nullable=True))
    purpose: str | None = Field(default=None, sa_column=Column(String(20), nullable=True))
    reason: str = Field(sa_column=Column(String(20), nullable=False))
    created_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )


class CampaignDeliveryState(CampaignModel, table=True):
    """Whether workers may claim a campaign's rows: no row means active."""

    __tablename__ = "campaign_delivery_state"
    __table_args__ = (CheckConstraint("state IN ('active', 'paused', 'cancelled')", name="state"),)

    campaign_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    state: str = Field(sa_column=Column(String(20), nullable=False))
    updated_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
