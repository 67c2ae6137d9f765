import uuid
from datetime import datetime
from typing import Annotated, Self

import strawberry

from gateway.clients import AudienceMemberRecord, CustomerRecord
from gateway.context import GatewayInfo


@strawberry.type(description="The customer as the campaign service has projected them into its audience.")
class AudienceMember:
    customer_id: uuid.UUID
    display_name: str | None
    email: str | None
    customer_created_at: datetime
    projected_at: datetime = strawberry.field(description="When campaign first learned of the customer.")
    lifecycle_stage: str | None = strawberry.field(
        description="prospect, new (first order ≤ 30 days), active (≤ 90), at_risk (≤ 180) or lapsed."
    )
    value_tier: str | None = strawberry.field(description="vip, high, medium or low, from the RFM scores.")
    rfm_segment: str | None = strawberry.field(
        description="Recency, frequency, monetary scores 1-5, e.g. 545."
    )
    order_count: int
    last_order_at: datetime | None
    latest_nps: int | None
    advocate_score: float | None
    advocate_tier: str | None

    @classmethod
    def from_record(cls, record: AudienceMemberRecord) -> Self:
        return cls(
            customer_id=record.customer_id,
            display_name=record.display_name,
            email=record.email,
            customer_created_at=record.customer_created_at,
            projected_at=record.projected_at,
            lifecycle_stage=record.lifecycle_stage,
            value_tier=record.value_tier,
            rfm_segment=record.rfm_segment,
            order_count=record.order_count,
            last_order_at=record.last_order_at,
            latest_nps=record.latest_nps,
            advocate_score=record.advocate_score,
            advocate_tier=record.advocate_tier,
        )


@strawberry.type(description="A customer as identity resolves them, with what the other services know.")
class Customer:
    id: uuid.UUID
    display_name: str | None
    email: str | None
    created_at: datetime

    @classmethod
    def from_record(cls, record: CustomerRecord) -> Self:
        return cls(
            id=record.id, display_name=record.display_name, email=record.email, created_at=record.created_at
        )

    @strawberry.field(
        description=(
            "Null until campaign has projected the customer, or when campaign cannot answer "
            "(then with an error whose extensions name the service)."
        )
    )
    async def campaign_audience(self, info: GatewayInfo) -> AudienceMember | None:
        record = await info.context.services.campaign.get_audience_member(self.id)
        return None if record is None else AudienceMember.from_record(record)


async def resolve_customer(
    info: GatewayInfo, customer_id: Annotated[uuid.UUID, strawberry.argument(name="id")]
) -> Customer | None:
    record = await info.context.services.identity.get_customer(customer_id)
    return None if record is None else Customer.from_record(record)
