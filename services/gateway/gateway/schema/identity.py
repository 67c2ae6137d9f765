"""Identity's parts of the graph: identifiers, golden profile fields, consents, timeline, merges."""

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from pydantic import BaseModel
from strawberry.scalars import JSON

from gateway.context import GatewayInfo
from gateway.schema.base import from_service

if TYPE_CHECKING:
    from gateway.schema.customers import Customer

CustomerRef = Annotated["Customer", strawberry.lazy("gateway.schema.customers")]


@strawberry.type(description="An identifier from one channel that resolves to the customer.")
@from_service
class Identifier:
    type: str = strawberry.field(
        description="email, phone, device, loyalty, social:<platform>, external:<src>."
    )
    value: str = strawberry.field(description="Normalized (E.164 phones, lower-cased emails, ...).")
    source: str
    first_seen_at: datetime
    last_seen_at: datetime


@strawberry.type(description="The golden value of one profile field and where it came from.")
@from_service
class ProfileValue:
    value: JSON
    source: str = strawberry.field(description="The source whose value won (by the survivorship rules).")
    observed_at: datetime
    sources: int = strawberry.field(description="How many sources gave a value for this field.")


@strawberry.type(description="One golden profile field.")
class ProfileField:
    name: str
    value: JSON
    source: str
    observed_at: datetime
    sources: int


@strawberry.type(description="Consent for one channel and purpose, with its provenance.")
@from_service
class Consent:
    channel: str
    purpose: str
    granted: bool
    source: str
    actor: str
    changed_at: datetime


@strawberry.type(description="One touchpoint on the customer's timeline, from any channel.")
@from_service
class Touchpoint:
    id: uuid.UUID
    customer_id: uuid.UUID
    channel: str
    type: str
    occurred_at: datetime
    source: str
    external_id: str | None
    payload: JSON


@strawberry.type(description="A merge of two customers (reversible), with its evidence.")
@from_service
class Merge:
    id: uuid.UUID
    survivor_id: uuid.UUID
    merged_id: uuid.UUID
    rule: str = strawberry.field(description="The match rule, or 'manual' for a person's decision.")
    evidence: JSON
    actor: str
    created_at: datetime
    undone_at: datetime | None
    undone_by: str | None


@strawberry.type(description="A probable match waiting for a person to accept or reject it.")
@from_service
class MatchSuggestion:
    id: uuid.UUID
    customer_id: uuid.UUID
    candidate_id: uuid.UUID
    probability: float
    evidence: JSON
    status: str
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    merge_id: uuid.UUID | None

    @strawberry.field(description="The customer the suggestion is about (null once erased).")
    async def customer(self, info: GatewayInfo) -> CustomerRef | None:
        from gateway.schema.customers import customer_by_id

        return await customer_by_id(info, self.customer_id)

    @strawberry.field(description="The probable duplicate (null once erased).")
    async def candidate(self, info: GatewayInfo) -> CustomerRef | None:
        from gateway.schema.customers import customer_by_id

        return await customer_by_id(info, self.candidate_id)


class CustomerRecord(BaseModel):
    """Identity's full record of a customer (not exposed as is: the Customer type reads from it)."""

    id: uuid.UUID
    display_name: str | None
    status: str
    resolved_from: uuid.UUID | None
    profile: dict[str, ProfileValue]
    identifiers: list[Identifier]
    created_at: datetime
    updated_at: datetime


class CustomerSummary(BaseModel):
    """Identity's summary of a customer, as a search lists it."""

    id: uuid.UUID
    display_name: str | None
    created_at: datetime
    updated_at: datetime
