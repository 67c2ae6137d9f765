import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, DateTime, Index, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field

from identity.database import IdentityModel


class Channel(StrEnum):
    WEB = "web"
    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"
    CALL_CENTER = "call_center"
    SOCIAL = "social"
    STORE = "store"
    MOBILE_APP = "mobile_app"
    PARTNER = "partner"


class Touchpoint(IdentityModel, table=True):
    """Something the customer did or received on a channel; follows the customer through merges."""

    __tablename__ = "touchpoint"
    __table_args__ = (
        Index(
            "ix_touchpoint_customer_id_occurred_at", "customer_id", text("occurred_at DESC"), text("id DESC")
        ),
        UniqueConstraint("source", "external_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    customer_id: uuid.UUID = Field(nullable=False)
    channel: str = Field(max_length=32)
    type: str = Field(max_length=100)
    occurred_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    source: str = Field(max_length=100)
    external_id: str | None = Field(default=None, max_length=200)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    recorded_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
