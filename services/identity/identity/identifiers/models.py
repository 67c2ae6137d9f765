import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, Identity, Index, UniqueConstraint, func
from sqlmodel import Field

from identity.database import IdentityModel


class Identifier(IdentityModel, table=True):
    """A normalized identifier seen on some channel. Each belongs to exactly one customer."""

    __tablename__ = "identifier"
    __table_args__ = (
        UniqueConstraint("type", "value"),
        Index("ix_identifier_customer_id", "customer_id"),
        Index("ix_identifier_value_prefix", "value", postgresql_ops={"value": "text_pattern_ops"}),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=False), primary_key=True)
    )
    customer_id: uuid.UUID = Field(nullable=False)
    type: str = Field(max_length=64)
    value: str = Field(max_length=320)
    raw_value: str = Field(max_length=320)
    source: str = Field(max_length=100)
    first_seen_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    last_seen_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
