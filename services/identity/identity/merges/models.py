import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import CheckConstraint, Column, DateTime, Index, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field

from identity.database import IdentityModel


def _now() -> datetime:
    return datetime.now(UTC)


class Merge(IdentityModel, table=True):
    """A merge of ``merged_id`` into ``survivor_id``: the rule, the evidence, who or what caused it."""

    __tablename__ = "merge"
    __table_args__ = (
        Index("ix_merge_survivor_id", "survivor_id"),
        Index("ix_merge_merged_id", "merged_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    survivor_id: uuid.UUID
    merged_id: uuid.UUID
    rule: str = Field(max_length=100)
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    actor: str = Field(max_length=200)
    created_at: datetime = Field(
        default_factory=_now,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    undone_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    undone_by: str | None = Field(default=None, max_length=200)


class MergeMove(IdentityModel, table=True):
    """A row a merge moved to the survivor; undo moves exactly these back."""

    __tablename__ = "merge_move"
    __table_args__ = (
        CheckConstraint("kind IN ('identifier', 'trait', 'touchpoint', 'consent')", name="kind"),
    )

    merge_id: uuid.UUID = Field(primary_key=True)
    kind: str = Field(sa_column=Column(String(16), primary_key=True))
    row_id: str = Field(sa_column=Column(String(64), primary_key=True))


class MergeConflict(IdentityModel, table=True):
    """A merge the guardrails stopped, waiting for a person to decide."""

    __tablename__ = "merge_conflict"
    __table_args__ = (Index("ix_merge_conflict_status", "status", "created_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    customer_id: uuid.UUID
    other_customer_id: uuid.UUID
    reason: str = Field(max_length=100)
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    status: str = Field(default="open", max_length=16)
    created_at: datetime = Field(
        default_factory=_now,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    resolved_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    resolved_by: str | None = Field(default=None, max_length=200)
    resolution: str | None = Field(default=None, max_length=16)


class NeverMerge(IdentityModel, table=True):
    """Two customers a person said are different people (stored with the smaller id first)."""

    __tablename__ = "never_merge"
    __table_args__ = (CheckConstraint("customer_a < customer_b", name="ordered"),)

    customer_a: uuid.UUID = Field(primary_key=True)
    customer_b: uuid.UUID = Field(primary_key=True)
    actor: str = Field(max_length=200)
    reason: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(
        default_factory=_now,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
