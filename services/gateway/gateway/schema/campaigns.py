"""Campaign's parts of the graph: segments, campaigns and their results, messages, enrollments."""

import uuid
from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from gateway.context import GatewayInfo
from gateway.schema.access import ReadsCampaigns
from gateway.schema.base import from_service


@strawberry.type(description="A segment: a rule over the customer record, with its stored membership.")
@from_service
class Segment:
    id: uuid.UUID
    name: str
    description: str | None
    rule: JSON = strawberry.field(description="The rule (and/or/not of field and event conditions).")
    explanation: str = strawberry.field(description="The rule in words.")
    referenced_segment_ids: list[uuid.UUID]
    member_count: int
    created_by: str
    created_at: datetime
    updated_at: datetime
    refreshed_at: datetime | None


@strawberry.type(description="A segment the customer is in, since when.")
@from_service
class SegmentMembership:
    segment_id: uuid.UUID
    name: str
    entered_at: datetime

    @strawberry.field(
        description="The segment (marketers, analysts and admins).", permission_classes=[ReadsCampaigns]
    )
    async def segment(self, info: GatewayInfo) -> Segment | None:
        return await load_segment(info, self.segment_id)


@strawberry.type(description="Conversion of one group (treatment, holdout, global control).")
@from_service
class GroupResult:
    group: str
    enrolled: int
    converted: int
    conversion_rate: float | None


@strawberry.type(description="Difference in conversion between treatment and control, with a 95% CI.")
@from_service
class Lift:
    absolute: float
    relative: float | None
    ci_low: float
    ci_high: float
    approximation_ok: bool = strawberry.field(description="False when the groups are too small for the CI.")


@strawberry.type(description="Delivery and response counts of one variant.")
@from_service
class VariantResult:
    variant_key: str
    enrolled: int
    sent: int
    delivered: int
    opened: int
    clicked: int
    converted: int
    conversion_rate: float | None
    lift: Lift | None


@strawberry.type(description="Sample ratio check: are the groups the size the split promised?")
@from_service
class SampleRatio:
    observed: JSON
    expected_share: JSON
    p_value: float | None
    alarm: bool


@strawberry.type(description="A campaign's measured results against its control group.")
@from_service
class CampaignResults:
    campaign_id: uuid.UUID
    goal_event: str | None
    groups: list[GroupResult]
    variants: list[VariantResult]
    lift: Lift | None
    lift_over_global_control: Lift | None
    sample_ratio: SampleRatio
    method: str


@strawberry.type(description="A broadcast or a journey.")
@from_service
class Campaign:
    id: uuid.UUID
    name: str
    kind: str = strawberry.field(description="broadcast or journey.")
    status: str = strawberry.field(description="draft, running, paused or completed.")
    definition: JSON = strawberry.field(description="Entry, steps, goal, exits, holdout, optimization.")
    created_by: str
    created_at: datetime
    updated_at: datetime
    launched_at: datetime | None
    paused_at: datetime | None
    completed_at: datetime | None
    enrollment_pending: bool

    @strawberry.field(description="Results against the control group (marketers, analysts, admins).")
    async def results(self, info: GatewayInfo) -> CampaignResults | None:
        return await info.context.services.campaign.fetch(f"/v1/campaigns/{self.id}/results", CampaignResults)


@strawberry.type(description="The customer's path through a campaign.")
@from_service
class Enrollment:
    id: uuid.UUID
    campaign_id: uuid.UUID
    customer_id: uuid.UUID
    occurrence: int
    group: str = strawberry.field(description="treatment, holdout or global_control.")
    variant_key: str | None
    current_step: str | None
    next_run_at: datetime | None
    status: str
    entered_at: datetime
    exited_at: datetime | None
    exit_reason: str | None
    converted_at: datetime | None

    @strawberry.field(
        description="The campaign (marketers, analysts and admins).", permission_classes=[ReadsCampaigns]
    )
    async def campaign(self, info: GatewayInfo) -> Campaign | None:
        return await load_campaign(info, self.campaign_id)


@strawberry.type(description="A message sent (or decided not to be sent) to the customer, with responses.")
@from_service
class Message:
    id: uuid.UUID
    campaign_id: uuid.UUID
    step_id: str
    variant_key: str
    customer_id: uuid.UUID
    occurrence: int
    channel: str
    purpose: str
    status: str = strawberry.field(description="pending, sent, delivered, failed, suppressed, ...")
    reason: str | None = strawberry.field(description="Why it was suppressed or failed.")
    attempts: int
    not_before_at: datetime
    sent_at: datetime | None
    created_at: datetime
    responses: list[str] = strawberry.field(description="delivered, opened, clicked, bounced, ...")

    @strawberry.field(
        description="The campaign (marketers, analysts and admins).", permission_classes=[ReadsCampaigns]
    )
    async def campaign(self, info: GatewayInfo) -> Campaign | None:
        return await load_campaign(info, self.campaign_id)


@strawberry.type(description="A message in the customer's in-app inbox.")
@from_service
class InboxMessage:
    id: uuid.UUID
    subject: str | None
    body: str
    payload: JSON
    created_at: datetime
    read_at: datetime | None


async def load_segment(info: GatewayInfo, segment_id: uuid.UUID) -> Segment | None:
    loader = info.context.loaders.by_ids(
        info.context.services.campaign, "/v1/segments:batch", Segment, single_path="/v1/segments/{id}"
    )
    return await loader.load(segment_id)


async def load_campaign(info: GatewayInfo, campaign_id: uuid.UUID) -> Campaign | None:
    loader = info.context.loaders.by_ids(
        info.context.services.campaign, "/v1/campaigns:batch", Campaign, single_path="/v1/campaigns/{id}"
    )
    return await loader.load(campaign_id)
