import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from identity.customers.profile import GoldenValue


class ProfileField(BaseModel):
    value: Any
    source: str = Field(description="The source the chosen value came from.")
    observed_at: datetime
    sources: int = Field(description="How many sources gave a value for this field.")

    @classmethod
    def of(cls, golden: GoldenValue) -> "ProfileField":
        return cls(
            value=golden.value, source=golden.source, observed_at=golden.observed_at, sources=golden.sources
        )


class IdentifierPublic(BaseModel):
    type: str
    value: str
    source: str
    first_seen_at: datetime
    last_seen_at: datetime


class CustomerPublic(BaseModel):
    id: uuid.UUID
    display_name: str | None
    status: str
    resolved_from: uuid.UUID | None = Field(
        None, description="Set when the requested id was merged away and this is its survivor."
    )
    profile: dict[str, ProfileField] = Field(default_factory=dict, description="Golden value per field.")
    identifiers: list[IdentifierPublic] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime


class CustomerSummary(BaseModel):
    id: uuid.UUID
    display_name: str | None
    created_at: datetime
    updated_at: datetime


class CustomerBatch(BaseModel):
    items: dict[str, CustomerSummary] = Field(description="Requested id → the customer it resolves to.")
    missing: list[uuid.UUID] = Field(description="Requested ids that match no customer.")


class CustomerPage(BaseModel):
    items: list[CustomerSummary]
    next_cursor: str | None = None


class CustomerPublicBatch(BaseModel):
    items: dict[str, CustomerPublic] = Field(
        description="Requested id → the full customer it resolves to (as `GET /v1/customers/{id}`)."
    )
    missing: list[uuid.UUID] = Field(description="Requested ids that match no customer (or an erased one).")
