import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class MergePublic(BaseModel):
    id: uuid.UUID
    survivor_id: uuid.UUID
    merged_id: uuid.UUID
    rule: str
    evidence: dict[str, Any]
    actor: str
    created_at: datetime
    undone_at: datetime | None
    undone_by: str | None


class MergeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    survivor_id: uuid.UUID
    merged_id: uuid.UUID
    reason: str | None = Field(None, max_length=500)


class NeverMergeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: uuid.UUID
    other_customer_id: uuid.UUID
    reason: str | None = Field(None, max_length=500)


class ConflictPublic(BaseModel):
    id: uuid.UUID
    customer_id: uuid.UUID
    other_customer_id: uuid.UUID
    reason: str
    evidence: dict[str, Any]
    status: str
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: str | None


class ConflictPage(BaseModel):
    items: list[ConflictPublic]
    next_cursor: str | None = None


class ConflictResolution(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["merge", "keep_apart"]


class ConflictResolved(BaseModel):
    conflict: ConflictPublic
    merge: MergePublic | None


class MergeHistoryBatch(BaseModel):
    items: dict[str, list[MergePublic]] = Field(
        description="Requested id → its merge history (as `GET /v1/customers/{id}/merges`); "
        "every requested id is a key, an empty list when it took part in no merge."
    )
