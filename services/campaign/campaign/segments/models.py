import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlmodel import Field

from campaign.database import CampaignModel


class Segment(CampaignModel, table=True):
    """A named rule over the audience; its membership is stored and kept up to date."""

    __tablename__ = "segment"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    description: str | None = Field(default=None, max_length=2000)
    rule: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    referenced_segment_ids: list[uuid.UUID] = Field(
        default_factory=list,
        sa_column=Column(ARRAY(PG_UUID(as_uuid=True)), nullable=False, server_default=text("'{}'::uuid[]")),
    )
    member_count: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default=text("0")))
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(
        default_factory=lambda: datetime.now(UTC),
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    updated_at: datetime = Field(
        default_factory=lambda: datetime.now(UTC),
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    refreshed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class SegmentMembership(CampaignModel, table=True):
    """Who is in a segment now (one row per member); entries and exits are events."""

    __tablename__ = "segment_membership"
    __table_args__ = (Index("ix_segment_membership_customer_id", "customer_id"),)

    segment_id: uuid.UUID = Field(
        sa_column=Column(
            PG_UUID(as_uuid=True), ForeignKey("segment.id", ondelete="CASCADE"), primary_key=True
        )
    )
    customer_id: uuid.UUID = Field(primary_key=True)
    entered_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
