import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field

from campaign.database import CampaignModel


class Campaign(CampaignModel, table=True):
    """A broadcast or a journey: its definition (JSON, validated by ``definition.CampaignDefinition``),
    its lifecycle (draft → running ⇄ paused → completed) and the launch-time facts the runner needs."""

    __tablename__ = "campaign"
    __table_args__ = (Index("ix_campaign_status", "status"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=20)
    status: str = Field(default="draft", max_length=20)
    definition: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    # "<step_id>:<variant_key>" -> message_content id, filled at launch by channels.upsert_content.
    content_ids: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    )
    created_by: str = Field(max_length=200)
    # When the segment of a broadcast (or a scheduled journey entry) is to be enrolled; null once done.
    enroll_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    # Keyset position of the batch enrollment (the last customer id enrolled), committed per batch.
    enroll_after: uuid.UUID | None = Field(default=None)
    created_at: datetime = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    updated_at: datetime = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    launched_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    paused_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    completed_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class CampaignEnrollment(CampaignModel, table=True):
    """One customer's passage through a campaign (``occurrence`` counts re-entries from 0)."""

    __tablename__ = "campaign_enrollment"
    __table_args__ = (
        UniqueConstraint("campaign_id", "customer_id", "occurrence"),
        Index("ix_campaign_enrollment_customer_id", "customer_id"),
        # The runner's claim: due active enrollments, oldest first.
        Index("ix_campaign_enrollment_due", "next_run_at", postgresql_where=text("status = 'active'")),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    campaign_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("campaign.id", ondelete="CASCADE"), nullable=False)
    )
    customer_id: uuid.UUID
    occurrence: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default=text("0")))
    group: str = Field(max_length=20)  # treatment | control | global_control
    variant_key: str | None = Field(default=None, max_length=50)  # chosen at the first send step
    current_step: str | None = Field(default=None, max_length=100)
    next_run_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    status: str = Field(default="active", max_length=20)  # active | completed | exited | converted
    # step id -> when the enrollment passed it (response branches measure "within hours" from there).
    visited: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    )
    goal_event: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    goal_deadline_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    entered_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    exited_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    exit_reason: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    converted_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class CampaignAllocation(CampaignModel, table=True):
    """One recomputation of a step's variant weights (Thompson sampling), kept as history."""

    __tablename__ = "campaign_allocation"
    __table_args__ = (Index("ix_campaign_allocation_campaign_id", "campaign_id", "step_id", "computed_at"),)

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=True), primary_key=True)
    )
    campaign_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("campaign.id", ondelete="CASCADE"), nullable=False)
    )
    step_id: str = Field(max_length=100)
    metric: str = Field(max_length=20)
    computed_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    weights: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    successes: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    trials: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))


class CampaignEnrollmentMerge(CampaignModel, table=True):
    """What a customer merge did to enrollments, so ``customer.unmerged`` undoes exactly that: an
    enrollment moved to the survivor (``dropped_row`` null), or a duplicate of one the survivor already had,
    removed and kept here whole (``dropped_row``)."""

    __tablename__ = "campaign_enrollment_merge"
    __table_args__ = (Index("ix_campaign_enrollment_merge_merge_id", "merge_id"),)

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=True), primary_key=True)
    )
    merge_id: uuid.UUID
    enrollment_id: uuid.UUID
    from_customer_id: uuid.UUID
    to_customer_id: uuid.UUID
    dropped_row: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    recorded_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
