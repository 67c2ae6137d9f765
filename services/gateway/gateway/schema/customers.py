"""The customer at the centre of the graph: identity's record joined with campaign and feedback.

A ``Customer`` is only an id until a field needs more; each field reads through the request's
loaders, so a list of customers costs one call per service and field, whatever its length. Every id
is identity's: a merged-away id resolves to its survivor (``resolvedFrom`` says which id was asked
for), and an erased customer is null.
"""

import uuid
from datetime import datetime
from typing import Annotated, Any, Self, TypeVar

import strawberry
from pydantic import BaseModel

from gateway.clients import ErrorCode, GraphError, ServiceClient
from gateway.context import GatewayInfo
from gateway.loaders import Page, single_call
from gateway.schema.access import STAFF, Forbidden, IsCustomer, IsStaff, require
from gateway.schema.base import Connection, from_service, page_size
from gateway.schema.campaigns import Enrollment, InboxMessage, Message, SegmentMembership
from gateway.schema.feedback import AdvocateScore, Comment, Complaint, ExperienceScores, Feedback, Idea, Vote
from gateway.schema.identity import (
    Consent,
    CustomerRecord,
    CustomerSummary,
    Identifier,
    Merge,
    ProfileField,
    Touchpoint,
)

NodeT = TypeVar("NodeT")

TIMELINE_DEFAULT = 20


@strawberry.type(description="The customer as the campaign service has projected them into its audience.")
@from_service
class AudienceMember:
    customer_id: uuid.UUID
    display_name: str | None
    email: str | None
    time_zone: str | None = None
    lifecycle_stage: str | None = strawberry.field(
        default=None,
        description="prospect, new (first order ≤ 30 days), active (≤ 90), at_risk (≤ 180) or lapsed.",
    )
    value_tier: str | None = strawberry.field(
        default=None, description="vip, high, medium or low, from the RFM scores."
    )
    rfm_segment: str | None = strawberry.field(
        default=None, description="Recency, frequency, monetary scores 1-5, e.g. 545."
    )
    order_count: int = 0
    last_order_at: datetime | None = None
    top_categories: list[str] = strawberry.field(default_factory=list)
    latest_nps: int | None = None
    advocate_score: float | None = None
    advocate_tier: str | None = None
    customer_created_at: datetime | None = None
    projected_at: datetime | None = strawberry.field(
        default=None, description="When campaign first learned of the customer."
    )


class AudienceBatch(BaseModel):
    items: list[AudienceMember]


@strawberry.type(description="A customer as identity resolves them, with what every service knows.")
class Customer:
    id: uuid.UUID = strawberry.field(description="Identity's id (the survivor's, after a merge).")
    resolved_from: uuid.UUID | None = strawberry.field(
        description="The id that was asked for, when it was merged away into this customer."
    )
    known: strawberry.Private[CustomerRecord | CustomerSummary | None]

    @classmethod
    def of(cls, customer_id: uuid.UUID, known: CustomerRecord | CustomerSummary | None = None) -> Self:
        resolved_from = known.resolved_from if isinstance(known, CustomerRecord) else None
        return cls(id=customer_id, resolved_from=resolved_from, known=known)

    async def record(self, info: GatewayInfo) -> CustomerRecord | None:
        if isinstance(self.known, CustomerRecord):
            return self.known
        return await load_customer(info, self.id)

    async def _summary(self, info: GatewayInfo) -> CustomerRecord | CustomerSummary | None:
        return self.known if self.known is not None else await self.record(info)

    @strawberry.field
    async def display_name(self, info: GatewayInfo) -> str | None:
        known = await self._summary(info)
        return None if known is None else known.display_name

    @strawberry.field
    async def created_at(self, info: GatewayInfo) -> datetime | None:
        known = await self._summary(info)
        return None if known is None else known.created_at

    @strawberry.field
    async def updated_at(self, info: GatewayInfo) -> datetime | None:
        known = await self._summary(info)
        return None if known is None else known.updated_at

    @strawberry.field(description="active, or merged for an id kept only to resolve to its survivor.")
    async def status(self, info: GatewayInfo) -> str | None:
        record = await self.record(info)
        return None if record is None else record.status

    @strawberry.field(description="The golden email (the identifier seen most recently).")
    async def email(self, info: GatewayInfo) -> str | None:
        return await self._identifier_value(info, "email")

    @strawberry.field(description="The golden phone number, E.164.")
    async def phone(self, info: GatewayInfo) -> str | None:
        return await self._identifier_value(info, "phone")

    async def _identifier_value(self, info: GatewayInfo, kind: str) -> str | None:
        record = await self.record(info)
        if record is None:
            return None
        golden = record.profile.get(kind)
        if golden is not None and isinstance(golden.value, str):
            return golden.value
        matching = [i for i in record.identifiers if i.type == kind]
        return max(matching, key=lambda i: i.last_seen_at).value if matching else None

    @strawberry.field(description="Golden profile values, each with the source it came from.")
    async def profile(self, info: GatewayInfo) -> list[ProfileField]:
        record = await self.record(info)
        if record is None:
            return []
        return [
            ProfileField(
                name=name,
                value=golden.value,
                source=golden.source,
                observed_at=golden.observed_at,
                sources=golden.sources,
            )
            for name, golden in sorted(record.profile.items())
        ]

    @strawberry.field(description="Every identifier from every channel that resolves to the customer.")
    async def identifiers(self, info: GatewayInfo) -> list[Identifier]:
        record = await self.record(info)
        return [] if record is None else record.identifiers

    @strawberry.field(description="Current consent per channel and purpose.")
    async def consents(self, info: GatewayInfo) -> list[Consent] | None:
        loader = info.context.loaders.by_ids(
            info.context.services.identity,
            "/v1/customers:consents",
            list[Consent],
            single_path="/v1/customers/{id}/consents",
        )
        return await loader.load(self.id) or []

    @strawberry.field(
        description="Merges this customer took part in, as survivor or as merged.",
        permission_classes=[IsStaff],
    )
    async def merges(self, info: GatewayInfo) -> list[Merge] | None:
        loader = info.context.loaders.by_ids(
            info.context.services.identity, "/v1/customers:merges", list[Merge]
        )
        return await loader.load(self.id) or []

    @strawberry.field(description="Touchpoints from every channel, newest first.")
    async def timeline(
        self,
        info: GatewayInfo,
        first: int | None = None,
        after: str | None = None,
        channels: list[str] | None = None,
        types: list[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Connection[Touchpoint] | None:
        filters: dict[str, Any] = {}
        if channels:
            filters["channel"] = channels
        if types:
            filters["type"] = types
        if since is not None:
            filters["since"] = since.isoformat()
        if until is not None:
            filters["until"] = until.isoformat()
        return await _customer_page(
            info,
            self.id,
            info.context.services.identity,
            "/v1/customers:timelines",
            "/v1/customers/{id}/timeline",
            Touchpoint,
            first if first is not None else TIMELINE_DEFAULT,
            after,
            filters,
        )

    @strawberry.field(description="Segments the customer is in now.", permission_classes=[IsStaff])
    async def segments(self, info: GatewayInfo) -> list[SegmentMembership] | None:
        loader = info.context.loaders.by_ids(
            info.context.services.campaign, "/v1/customers:segments", list[SegmentMembership]
        )
        return await loader.load(self.id) or []

    @strawberry.field(
        description="Campaigns the customer entered, with their group and progress.",
        permission_classes=[IsStaff],
    )
    async def campaigns(self, info: GatewayInfo) -> list[Enrollment] | None:
        loader = info.context.loaders.by_ids(
            info.context.services.campaign, "/v1/customers:campaigns", list[Enrollment]
        )
        return await loader.load(self.id) or []

    @strawberry.field(
        description="Campaign messages to the customer and their responses, newest first.",
        permission_classes=[IsStaff],
    )
    async def messages(
        self, info: GatewayInfo, first: int | None = None, after: str | None = None
    ) -> Connection[Message] | None:
        return await _customer_page(
            info,
            self.id,
            info.context.services.campaign,
            "/v1/customers:messages",
            "/v1/customers/{id}/messages",
            Message,
            first,
            after,
        )

    @strawberry.field(
        description="The customer's own in-app inbox (customer token only).", permission_classes=[IsCustomer]
    )
    async def inbox(
        self,
        info: GatewayInfo,
        first: int | None = None,
        after: str | None = None,
        unread: bool = False,
    ) -> Connection[InboxMessage] | None:
        params: dict[str, Any] = {"limit": page_size(first), "unread": unread}
        if after is not None:
            params["after"] = after
        page = await info.context.services.campaign.fetch_required(
            "/v1/me/messages", Page[InboxMessage], params=params
        )
        return Connection.of(page.items, page.next_cursor)

    @strawberry.field(
        description="Campaign's projection: lifecycle, value tier, RFM, orders.", permission_classes=[IsStaff]
    )
    async def campaign_audience(self, info: GatewayInfo) -> AudienceMember | None:
        loader = info.context.loaders.listed(
            info.context.services.campaign,
            "/v1/audience",
            AudienceMember,
            key=lambda member: member.customer_id,
            envelope=AudienceBatch,
        )
        return await loader.load(self.id)

    @strawberry.field(
        description="prospect, new, active, at_risk or lapsed (from campaign).", permission_classes=[IsStaff]
    )
    async def lifecycle_stage(self, info: GatewayInfo) -> str | None:
        audience = await self.campaign_audience(info)
        return None if audience is None else audience.lifecycle_stage

    @strawberry.field(description="vip, high, medium or low (from campaign).", permission_classes=[IsStaff])
    async def value_tier(self, info: GatewayInfo) -> str | None:
        audience = await self.campaign_audience(info)
        return None if audience is None else audience.value_tier

    @strawberry.field(description="Ideas the customer submitted, newest first.")
    async def ideas(
        self, info: GatewayInfo, first: int | None = None, after: str | None = None
    ) -> Connection[Idea] | None:
        return await _customer_page(
            info,
            self.id,
            info.context.services.feedback,
            "/v1/customers:ideas",
            "/v1/ideas?author_id={id}&sort=newest",
            Idea,
            first,
            after,
        )

    @strawberry.field(description="The customer's votes on ideas, newest first.")
    async def votes(
        self, info: GatewayInfo, first: int | None = None, after: str | None = None
    ) -> Connection[Vote] | None:
        return await _customer_page(
            info,
            self.id,
            info.context.services.feedback,
            "/v1/customers:votes",
            "/v1/customers/{id}/votes",
            Vote,
            first,
            after,
        )

    @strawberry.field(description="The customer's comments on ideas, newest first.")
    async def comments(
        self, info: GatewayInfo, first: int | None = None, after: str | None = None
    ) -> Connection[Comment] | None:
        return await _customer_page(
            info,
            self.id,
            info.context.services.feedback,
            "/v1/customers:comments",
            "/v1/comments?author_id={id}",
            Comment,
            first,
            after,
        )

    @strawberry.field(description="NPS, CSAT and comments the customer gave, newest first.")
    async def feedback(
        self, info: GatewayInfo, first: int | None = None, after: str | None = None
    ) -> Connection[Feedback] | None:
        return await _customer_page(
            info,
            self.id,
            info.context.services.feedback,
            "/v1/customers:feedback",
            "/v1/customers/{id}/feedback",
            Feedback,
            first,
            after,
        )

    @strawberry.field(description="The customer's complaints, newest first.")
    async def complaints(
        self, info: GatewayInfo, first: int | None = None, after: str | None = None
    ) -> Connection[Complaint] | None:
        return await _customer_page(
            info,
            self.id,
            info.context.services.feedback,
            "/v1/customers:complaints",
            "/v1/customers/{id}/complaints",
            Complaint,
            first,
            after,
        )

    @strawberry.field(description="Latest NPS and average CSAT over every touchpoint.")
    async def experience(self, info: GatewayInfo) -> ExperienceScores | None:
        loader = info.context.loaders.by_ids(
            info.context.services.feedback,
            "/v1/customers:scores",
            ExperienceScores,
            single_path="/v1/customers/{id}/scores",
        )
        return await loader.load(self.id)

    @strawberry.field(description="Advocate score and tier.", permission_classes=[IsStaff])
    async def advocate(self, info: GatewayInfo) -> AdvocateScore | None:
        loader = info.context.loaders.by_ids(
            info.context.services.feedback, "/v1/customers:advocate-scores", AdvocateScore
        )
        return await loader.load(self.id)


async def _customer_page(
    info: GatewayInfo,
    customer_id: uuid.UUID,
    client: ServiceClient,
    batch_path: str,
    single_path: str,
    node: type[NodeT],
    first: int | None,
    after: str | None,
    filters: dict[str, Any] | None = None,
) -> Connection[NodeT]:
    """The first page through the request's loader; later pages (``after``) from the single endpoint."""
    params: dict[str, Any] = {"limit": page_size(first), **(filters or {})}
    page_type: Any = Page[node]  # type: ignore[valid-type]
    if after is None:
        loader = info.context.loaders.by_ids(
            client, batch_path, page_type, single_path=single_path, params=params
        )
        page = await loader.load(customer_id)
    else:
        path, query = single_call(single_path, customer_id, {**params, "after": after})
        page = await client.fetch(path, page_type, params=query)
    return Connection.of(page.items, page.next_cursor) if page is not None else Connection.of([], None)


async def load_customer(info: GatewayInfo, customer_id: uuid.UUID) -> CustomerRecord | None:
    """Identity's record (of the survivor, for a merged-away id) through the request's loader."""
    loader = info.context.loaders.by_ids(
        info.context.services.identity,
        "/v1/customers:batch",
        CustomerRecord,
        single_path="/v1/customers/{id}",
    )
    return await loader.load(customer_id)


async def customer_by_id(info: GatewayInfo, customer_id: uuid.UUID | None) -> Customer | None:
    """The customer another record points at, as identity knows them now: the survivor for a
    merged-away id, and null for an erased (or unknown) one, so no field keeps an erased person."""
    if customer_id is None:
        return None
    record = await load_customer(info, customer_id)
    return None if record is None else Customer.of(record.id, record)


async def resolve_customer(
    info: GatewayInfo, customer_id: Annotated[uuid.UUID, strawberry.argument(name="id")]
) -> Customer | None:
    require(info, STAFF, "Staff only: a customer token reads itself through `me`.")
    record = await load_customer(info, customer_id)
    return None if record is None else Customer.of(record.id, record)


async def resolve_customer_by_identifier(info: GatewayInfo, type: str, value: str) -> Customer | None:
    require(info, STAFF, "Staff only.")
    record = await info.context.services.identity.fetch(
        "/v1/customers/lookup", CustomerRecord, params={"type": type, "value": value}
    )
    return None if record is None else Customer.of(record.id, record)


async def resolve_me(info: GatewayInfo) -> Customer | None:
    own = info.context.principal.customer_id
    if own is None:
        raise Forbidden("`me` needs a customer token.")
    record = await load_customer(info, own)
    return None if record is None else Customer.of(record.id, record)


class _SegmentMember(BaseModel):
    customer_id: uuid.UUID


async def resolve_customers(
    info: GatewayInfo,
    search: str | None = None,
    in_segment: uuid.UUID | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Connection[Customer]:
    require(info, STAFF, "Staff only.")
    params: dict[str, Any] = {"limit": page_size(first)}
    if after is not None:
        params["after"] = after
    if (search is None) == (in_segment is None):
        raise GraphError(ErrorCode.BAD_REQUEST, "Give exactly one of `search` and `inSegment`.")
    if search is not None:
        page = await info.context.services.identity.fetch_required(
            "/v1/customers/search", Page[CustomerSummary], params={**params, "q": search}
        )
        return Connection.of([Customer.of(c.id, c) for c in page.items], page.next_cursor)
    members = await info.context.services.campaign.fetch(
        f"/v1/segments/{in_segment}/members", Page[_SegmentMember], params=params
    )
    if members is None:
        return Connection.of([], None)
    return Connection.of([Customer.of(m.customer_id) for m in members.items], members.next_cursor)
