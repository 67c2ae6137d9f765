"""The read model: customers as targeting sees them, their activity, purchases and the product catalog.

Everything here is projected from events (identity, feedback, the campaign's own message events); the
aggregates on ``audience_member`` are recomputed from ``customer_activity`` and ``purchase``, so a merge,
an unmerge or a replayed event always lands on the same numbers.
"""

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    Identity,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field

from campaign.database import CampaignModel


class AudienceMember(CampaignModel, table=True):
    """A customer as the campaign service knows it, projected from identity's events."""

    __tablename__ = "audience_member"
    __table_args__ = (
        Index("ix_audience_member_lifecycle_stage", "lifecycle_stage"),
        Index("ix_audience_member_value_tier", "value_tier"),
    )

    customer_id: uuid.UUID = Field(primary_key=True)
    display_name: str | None = Field(default=None, max_length=400)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=50)
    traits: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    )
    time_zone: str | None = Field(default=None, max_length=64)
    consents: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    )
    order_count: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default=text("0")))
    order_total: Decimal = Field(
        default=Decimal(0), sa_column=Column(Numeric(16, 2), nullable=False, server_default=text("0"))
    )
    avg_order_value: Decimal | None = Field(default=None, sa_column=Column(Numeric(16, 2), nullable=True))
    first_order_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    last_order_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    top_categories: list[str] = Field(
        default_factory=list,
        sa_column=Column(ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")),
    )
    last_activity_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    latest_nps: int | None = Field(default=None, sa_column=Column(SmallInteger, nullable=True))
    nps_count: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default=text("0")))
    open_complaints: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, server_default=text("0"))
    )
    complaint_count: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, server_default=text("0"))
    )
    advocate_score: float | None = Field(default=None)
    advocate_tier: str | None = Field(default=None, max_length=40)
    rfm_recency: int | None = Field(default=None, sa_column=Column(SmallInteger, nullable=True))
    rfm_frequency: int | None = Field(default=None, sa_column=Column(SmallInteger, nullable=True))
    rfm_monetary: int | None = Field(default=None, sa_column=Column(SmallInteger, nullable=True))
    rfm_segment: str | None = Field(default=None, max_length=40)
    value_tier: str = Field(
        default="low", sa_column=Column(String(10), nullable=False, server_default=text("'low'"))
    )
    lifecycle_stage: str = Field(
        default="prospect", sa_column=Column(String(10), nullable=False, server_default=text("'prospect'"))
    )
    last_message_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    last_opened_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    last_clicked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    customer_created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    projected_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    updated_at: datetime = Field(
        sa_column=Column(
            DateTime(timezone=True), nullable=False, server_default=func.now(), onupdate=func.now()
        )
    )


class CustomerActivity(CampaignModel, table=True):
    """One row per consumed event: the source of event conditions in segments.

    ``origin_customer_id`` is the customer the event was about when it arrived; ``customer_id`` follows
    merges. An unmerge moves the rows whose origin is the restored customer back to it.
    """

    __tablename__ = "customer_activity"
    __table_args__ = (
        UniqueConstraint("event_id"),
        Index("ix_customer_activity_customer_type_at", "customer_id", "activity_type", "occurred_at"),
        Index("ix_customer_activity_type_at", "activity_type", "occurred_at"),
        Index("ix_customer_activity_origin_customer_id", "origin_customer_id"),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=True), primary_key=True)
    )
    event_id: uuid.UUID
    customer_id: uuid.UUID
    origin_customer_id: uuid.UUID
    activity_type: str = Field(max_length=64)
    channel: str | None = Field(default=None, max_length=32)
    occurred_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    properties: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    )


class Purchase(CampaignModel, table=True):
    """An order line from an ``order_placed`` touchpoint (what recommendations and top categories read)."""

    __tablename__ = "purchase"
    __table_args__ = (
        UniqueConstraint("event_id", "line_number"),
        Index("ix_purchase_customer_id", "customer_id"),
        Index("ix_purchase_origin_customer_id", "origin_customer_id"),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=True), primary_key=True)
    )
    event_id: uuid.UUID
    line_number: int
    customer_id: uuid.UUID
    origin_customer_id: uuid.UUID
    order_id: str = Field(max_length=100)
    sku: str = Field(max_length=100)
    category: str | None = Field(default=None, max_length=100)
    price: Decimal = Field(sa_column=Column(Numeric(16, 2), nullable=False))
    quantity: int
    occurred_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class Product(CampaignModel, table=True):
    """The catalog as orders reveal it: last seen name, category and price, and how often it sells."""

    __tablename__ = "product"
    __table_args__ = (Index("ix_product_category_price", "category", "price"),)

    sku: str = Field(primary_key=True, max_length=100)
    name: str | None = Field(default=None, max_length=400)
    category: str | None = Field(default=None, max_length=100)
    price: Decimal = Field(sa_column=Column(Numeric(16, 2), nullable=False))
    purchase_count: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default=text("0"))
    )
    updated_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )


class AudienceChange(CampaignModel, table=True):
    """Customers whose read model changed since the segments job last claimed them (the dirty set)."""

    __tablename__ = "audience_change"
    __table_args__ = (Index("ix_audience_change_changed_at", "changed_at"),)

    customer_id: uuid.UUID = Field(primary_key=True)
    changed_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )


class MergedCustomer(CampaignModel, table=True):
    """A member folded into a survivor, with its profile as it was, so an unmerge can restore it."""

    __tablename__ = "merged_customer"
    __table_args__ = (
        Index("ix_merged_customer_survivor_id", "survivor_id"),
        Index("ix_merged_customer_merged_into", "merged_into"),
    )

    merged_id: uuid.UUID = Field(primary_key=True)
    survivor_id: uuid.UUID = Field(description="The member it lives on now (follows later merges).")
    merged_into: uuid.UUID = Field(description="The survivor of its own merge (never re-pointed).")
    profile: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    merged_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )


class ErasedCustomer(CampaignModel, table=True):
    """A tombstone: only the id, so a late event about an erased customer does not bring them back."""

    __tablename__ = "erased_customer"

    customer_id: uuid.UUID = Field(primary_key=True)
    erased_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )


class RfmThreshold(CampaignModel, table=True):
    """Quintile cut points (4 per dimension) over the whole base, computed by the derivation job."""

    __tablename__ = "rfm_threshold"

    dimension: str = Field(primary_key=True, max_length=20)
    cut_points: list[float] = Field(sa_column=Column(ARRAY(Float), nullable=False))
    computed_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
