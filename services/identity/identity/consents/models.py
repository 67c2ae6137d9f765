import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, Identity, Index, func, text
from sqlmodel import Field

from identity.database import IdentityModel


class ConsentChange(IdentityModel, table=True):
    """One change of a customer's consent for a channel and purpose, with its provenance.

    The current consent is the latest change per (channel, purpose); changes move with merges.
    """

    __tablename__ = "consent_change"
    __table_args__ = (
        Index("ix_consent_change_current", "customer_id", "channel", "purpose", text("changed_at DESC")),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=False), primary_key=True)
    )
    customer_id: uuid.UUID
    channel: str = Field(max_length=32)
    purpose: str = Field(max_length=64)
    granted: bool
    source: str = Field(max_length=100)
    actor: str = Field(max_length=200)
    changed_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
