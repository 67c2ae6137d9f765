import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from crm_common.errors import Problem
from crm_common.validation import NO_CONTROL_CHARACTERS, SingleLineText
from identity.timeline.models import Channel

MAX_IDENTIFIERS_PER_RECORD = 20
MAX_PAYLOAD_KEYS = 100

TraitScalar = str | int | float | bool | None


class IdentifierIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(
        min_length=1, max_length=64, examples=["email", "phone", "social:instagram", "external:shop"]
    )
    value: str = Field(min_length=1, max_length=320, pattern=NO_CONTROL_CHARACTERS)


class TouchpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Channel
    type: SingleLineText = Field(max_length=100, examples=["order_placed", "call", "mention", "page_view"])
    occurred_at: datetime | None = Field(None, description="When it happened; defaults to now.")
    external_id: str | None = Field(
        None, min_length=1, max_length=200, description="The source's own id: a repeat is recorded once."
    )
    payload: dict[str, JsonValue] = Field(default_factory=dict)

    @field_validator("payload")
    @classmethod
    def _bounded(cls, payload: dict[str, Any]) -> dict[str, Any]:
        if len(payload) > MAX_PAYLOAD_KEYS:
            raise ValueError(f"at most {MAX_PAYLOAD_KEYS} keys")
        return payload


class IdentifyRequest(BaseModel):
    """Identifiers seen together (same session, same order, same call), with traits and what happened."""

    model_config = ConfigDict(extra="forbid")

    identifiers: list[IdentifierIn] = Field(min_length=1, max_length=MAX_IDENTIFIERS_PER_RECORD)
    traits: dict[str, TraitScalar] = Field(
        default_factory=dict,
        description="Profile fields (name, birth_date, address, postcode, city...); every value is kept "
        "with its source and time, the profile chooses one per field.",
    )
    source: SingleLineText = Field("api", max_length=100, description="The system the record comes from.")
    observed_at: datetime | None = Field(None, description="When the identifiers were seen; defaults to now.")
    touchpoint: TouchpointIn | None = None

    @field_validator("traits")
    @classmethod
    def _trait_names(cls, traits: dict[str, Any]) -> dict[str, Any]:
        for name in traits:
            if not name or len(name) > 100 or not name.replace("_", "").isalnum():
                raise ValueError(f"trait name {name!r} must be 1-100 letters, digits or '_'")
        return traits


class Outcome(StrEnum):
    CREATED = "created"
    MATCHED = "matched"
    MERGED = "merged"
    CONFLICT = "conflict"
    SUPPRESSED = "suppressed"


class IgnoredIdentifier(BaseModel):
    type: str
    value: str
    reason: str
    detail: str


class IdentifyResult(BaseModel):
    customer_id: uuid.UUID | None = Field(
        description="The customer the record resolved to (null if suppressed)."
    )
    outcome: Outcome
    rule: str | None = Field(
        None, description="The rule that matched: e.g. 'identifier:email', 'probabilistic'."
    )
    merged_customer_ids: list[uuid.UUID] = Field(default_factory=list)
    merge_ids: list[uuid.UUID] = Field(default_factory=list)
    conflict_ids: list[uuid.UUID] = Field(default_factory=list)
    suggestion_ids: list[uuid.UUID] = Field(default_factory=list)
    match_probability: float | None = None
    touchpoint_id: uuid.UUID | None = None
    ignored_identifiers: list[IgnoredIdentifier] = Field(default_factory=list)


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    records: list[dict[str, Any]] = Field(
        min_length=1,
        description="Each an IdentifyRequest, validated on its own: one bad record does not sink the rest.",
    )


class BatchItem(BaseModel):
    index: int
    status: int = Field(description="200 when resolved, else the problem's status")
    result: IdentifyResult | None = None
    problem: Problem | None = None


class BatchResponse(BaseModel):
    items: list[BatchItem]
    resolved: int
    failed: int
