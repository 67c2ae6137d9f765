"""Channels' tables: the message content marketers write, and the in-app inbox the mobile app reads."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Column, DateTime, Index, String, Text, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlmodel import Field

from campaign.database import CampaignModel


class MessageContentRecord(CampaignModel, table=True):
    """One variant of one step's message: templates as written, rendered per customer at send time.

    Keyed by (campaign, step, variant): saving a draft's content again replaces its text in place, so
    the ledger rows that point at ``id`` always render the latest text.
    """

    __tablename__ = "message_content"
    __table_args__ = (
        UniqueConstraint("campaign_id", "step_id", "variant_key"),
        CheckConstraint("channel IN ('email', 'sms', 'push', 'webhook', 'in_app')", name="channel"),
        CheckConstraint("purpose IN ('marketing', 'transactional', 'service')", name="purpose"),
    )

    id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    campaign_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False))
    step_id: str = Field(sa_column=Column(String(100), nullable=False))
    variant_key: str = Field(sa_column=Column(String(100), nullable=False))
    channel: str = Field(sa_column=Column(String(20), nullable=False))
    purpose: str = Field(sa_column=Column(String(20), nullable=False))
    subject: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    body: str = Field(sa_column=Column(Text, nullable=False))
    payload_template: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=Column(JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    )
    created_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    updated_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )


class InboxMessage(CampaignModel, table=True):
    """An in-app message as the customer's app shows it. ``id`` is the delivery ledger's message id,
    so a retried send finds the row already there and adds nothing."""

    __tablename__ = "inbox_message"
    __table_args__ = (
        # The inbox page: one customer's messages, newest first, keyset on (created_at, id).
        Index("ix_inbox_message_customer_recent", "customer_id", text("created_at DESC"), text("id DESC")),
    )

    id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    customer_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False))
    campaign_id: uuid.UUID | None = Field(default=None, sa_column=Column(UUID(as_uuid=True), nullable=True))
    subject: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    body: str = Field(sa_column=Column(Text, nullable=False))
    payload: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=Column(JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    )
    created_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    read_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
