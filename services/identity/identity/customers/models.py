import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Identity, Index, Integer, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field

from identity.database import IdentityModel


def _now() -> datetime:
    return datetime.now(UTC)


class CustomerStatus(StrEnum):
    ACTIVE = "active"
    MERGED = "merged"
    ERASED = "erased"


class Customer(IdentityModel, table=True):
    """A person. The id never changes; a merged-away customer keeps resolving to its survivor."""

    __tablename__ = "customer"
    __table_args__ = (
        Index("ix_customer_name_key_prefix", "name_key", postgresql_ops={"name_key": "text_pattern_ops"}),
        Index(
            "ix_customer_merged_into_id",
            "merged_into_id",
            postgresql_where=text("merged_into_id IS NOT NULL"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    status: str = Field(default=CustomerStatus.ACTIVE, max_length=16)
    merged_into_id: uuid.UUID | None = Field(default=None)
    # Cached from the golden profile for search and display; the trait values are the truth.
    display_name: str | None = Field(default=None, max_length=400)
    name_key: str | None = Field(default=None, max_length=400)
    match_profile: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    created_at: datetime = Field(
        default_factory=_now,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    updated_at: datetime = Field(
        default_factory=_now,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    erased_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


class TraitValue(IdentityModel, table=True):
    """One source's value for one field of a customer; the golden profile chooses among them."""

    __tablename__ = "trait_value"
    __table_args__ = (Index("ix_trait_value_customer_id_field", "customer_id", "field"),)

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=False), primary_key=True)
    )
    customer_id: uuid.UUID = Field(nullable=False)
    field: str = Field(max_length=100)
    value: Any = Field(sa_column=Column(JSONB, nullable=False))
    source: str = Field(max_length=100)
    first_observed_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    last_observed_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    observations: int = Field(default=1, sa_column=Column(Integer, nullable=False, server_default=text("1")))


class MatchKey(IdentityModel, table=True):
    """Blocking keys of a customer's golden profile: probabilistic matching compares only key-sharers."""

    __tablename__ = "match_key"

    key: str = Field(sa_column=Column(String(200), primary_key=True))
    customer_id: uuid.UUID = Field(primary_key=True)
