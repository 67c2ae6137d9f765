import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, Index, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field

from identity.database import IdentityModel


class MatchSuggestion(IdentityModel, table=True):
    """A probable match (between the review and auto-merge thresholds) for a person to accept or reject."""

    __tablename__ = "match_suggestion"
    __table_args__ = (
        UniqueConstraint("customer_id", "candidate_id"),
        Index("ix_match_suggestion_status", "status", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    customer_id: uuid.UUID
    candidate_id: uuid.UUID
    probability: float
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    status: str = Field(default="pending", max_length=16)
    created_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    decided_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    decided_by: str | None = Field(default=None, max_length=200)
    merge_id: uuid.UUID | None = None
