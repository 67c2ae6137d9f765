"""The customer at the centre of the graph: identity's record joined with campaign and feedback.

A ``Customer`` is only an id until a field needs more; each field reads through the request's
loaders, so a list of customers costs one call per service and field, whatever its length. Every id
is identity's: a merged-away id resolves to its survivor (``resolvedFrom`` says which id was asked
for), and an erased customer is null.
"""

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, Self, TypeVar

import strawberry
import structlog
from pydantic import BaseModel
from strawberry.dataloader import DataLoader
from strawberry.types.nodes import SelectedField

from gateway.clients import ErrorCode, GraphError, ServiceClient
from gateway.context import GatewayInfo
from gateway.loaders import Page, single_call
from gateway.schema.access import STAFF, Forbidden, IsCustomer, IsStaff, require
from gateway.schema.base import DEFAULT_PAGE_SIZE, Connection, from_service, page_size
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

ItemT = TypeVar("ItemT")
log = structlog.get_logger(__name__)

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


@dataclass(frozen=True)
class PerCustomer(Generic[ItemT]):
    """One thing read per customer: through the batch endpoint for staff, the single one for the
    customer themself (``single_path`` None: staff only)."""

    service: str
    batch_path: str
    single_path: str | None
    into: Any

    def loader(
        self, info: GatewayInfo, params: dict[str, Any] | None = None
    ) -> DataLoader[uuid.UUID, ItemT | None]:
        client: ServiceClient = getattr(info.context.services, self.service)
        loader: DataLoader[uuid.UUID, ItemT | None] = info.context.loaders.by_ids(
            client, self.batch_path, self.into, single_path=self.single_path, params=params
        )
        return loader


@dataclass(frozen=True)
class PerCustomerPages(PerCustomer[Any]):
    """A list per customer that pages: the first page batched, later ones (``after``) one by one."""

    default_first: int = DEFAULT_PAGE_SIZE

    def params(self, first: int | None, filters: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"limit": page_size(first if first is not None else self.default_first), **(filters or {})}

    async def connection(
        self,
        info: GatewayInfo,
        customer_id: uuid.UUID,
        first: int | None,
        after: str | None,
        filters: dict[str, Any] | None = None,
    ) -> Connection[Any]:
        params = self.params(first, filters)
        if after is None:
            page = await self.loader(info, params).load(customer_id)
        else:
            assert self.single_path is not None
            path, query = single_call(self.single_path, customer_id, {**params, "after": after})
            client: ServiceClient = getattr(info.context.services, self.service)
            page = await client.fetch(path, self.into, params=query)
        return Connection.of(page.items, page.next_cursor) if page is not None else Connection.of([], None)


def _pages(service: str, batch_path: str, single_path: str, node: Any, **options: Any) -> PerCustomerPages:
    return PerCustomerPages(service, batch_path, single_path, Page[node], **options)


CONSENTS = PerCustomer[list[Consent]](
    "identity", "/v1/customers:consents", "/v1/customers/{id}/consents", list[Consent]
)
MERGES = PerCustomer[list[Merge]]("identity", "/v1/customers:merges", None, list[Merge])
SEGMENTS = PerCustomer[list[SegmentMembership]](
    "campaign", "/v1/customers:segments", None, list[SegmentMembership]
)
ENROLLMENTS = PerCustomer[list[Enrollment]]("campaign", "/v1/customers:campaigns", None, list[Enrollment])
EXPERIENCE = PerCustomer[ExperienceScores](
    "feedback", "/v1/customers:scores", "/v1/customers/{id}/scores", ExperienceScores
)
ADVOCATE = PerCustomer[AdvocateScore]("feedback", "/v1/customers:advocate-scores", None, AdvocateScore)
TIMELINE = _pages(
    "identity",
    "/v1/customers:timelines",
    "/v1/customers/{id}/timeline",
    Touchpoint,
    default_first=TIMELINE_DEFAULT,
)
MESSAGES = _pages("campaign", "/v1/customers:messages", "/v1/customers/{id}/messages", Message)
IDEAS = _pages("feedback", "/v1/customers:ideas", "/v1/ideas?author_id={id}&sort=newest", Idea)
VOTES = _pages("feedback", "/v1/customers:votes", "/v1/customers/{id}/votes", Vote)
COMMENTS = _pages("feedback", "/v1/customers:comments", "/v1/comments?author_id={id}", Comment)
FEEDBACK = _pages("feedback", "/v1/customers:feedback", "/v1/customers/{id}/feedback", Feedback)
COMPLAINTS = _pages("feedback", "/v1/customers:complaints", "/v1/customers/{id}/complaints", Complaint)


def _audience_loader(info: GatewayInfo) -> DataLoader[uuid.UUID, AudienceMember | None]:
    return info.context.loaders.listed(
        info.context.services.campaign,
        "/v1/audience",
        AudienceMember,
        key=lambda member: member.customer_id,
        envelope=AudienceBatch,
    )


def _timeline_filters(
    channels: list[str] | None, types: list[str] | None, since: datetime | None, until: datetime | None
) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    if channels:
        filters["channel"] = channels
    if types:
        filters["type"] = types
    if since is not None:
        filters["since"] = since.isoformat()
    if until is not None:
        filters["until"] = until.isoformat()
    return filters


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
        return await CONSENTS.loader(info).load(self.id) or []

    @strawberry.field(
        description="Merges this customer took part in, as survivor or as merged.",
        permission_classes=[IsStaff],
    )
    async def merges(self, info: GatewayInfo) -> list[Merge] | None:
        return await MERGES.loader(info).load(self.id) or []

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
        filters = _timeline_filters(channels, types, since, until)
        return await TIMELINE.connection(info, self.id, first, after, filters)

    @strawberry.field(description="Segments the customer is in now.", permission_classes=[IsStaff])
    async def segments(self, info: GatewayInfo) -> list[SegmentMembership] | None:
        return await SEGMENTS.loader(info).load(self.id) or []

    @strawberry.field(
        description="Campaigns the customer entered, with their group and progress.",
        permission_classes=[IsStaff],
    )
    async def campaigns(self, info: GatewayInfo) -> list[Enrollment] | None:
        return await ENROLLMENTS.loader(info).load(self.id) or []

    @strawberry.field(
        description="Campaign messages to the customer and their responses, newest first.",
        permission_classes=[IsStaff],
    )
    async def messages(
        self, info: GatewayInfo, first: int | None = None, after: str | None = None
    ) -> Connection[Message] | None:
        return await MESSAGES.connection(info, self.id, first, after)

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
        return await _audience_loader(info).load(self.id)

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
        return await IDEAS.connection(info, self.id, first, after)

    @strawberry.field(description="The customer's votes on ideas, newest first.")
    async def votes(
        self, info: GatewayInfo, first: int | None = None, after: str | None = None
    ) -> Connection[Vote] | None:
        return await VOTES.connection(info, self.id, first, after)

    @strawberry.field(description="The customer's comments on ideas, newest first.")
    async def comments(
        self, info: GatewayInfo, first: int | None = None, after: str | None = None
    ) -> Connection[Comment] | None:
        return await COMMENTS.connection(info, self.id, first, after)

    @strawberry.field(description="NPS, CSAT and comments the customer gave, newest first.")
    async def feedback(
        self, info: GatewayInfo, first: int | None = None, after: str | None = None
    ) -> Connection[Feedback] | None:
        return await FEEDBACK.connection(info, self.id, first, after)

    @strawberry.field(description="The customer's complaints, newest first.")
    async def complaints(
        self, info: GatewayInfo, first: int | None = None, after: str | None = None
    ) -> Connection[Complaint] | None:
        return await COMPLAINTS.connection(info, self.id, first, after)

    @strawberry.field(description="Latest NPS and average CSAT over every touchpoint.")
    async def experience(self, info: GatewayInfo) -> ExperienceScores | None:
        return await EXPERIENCE.loader(info).load(self.id)

    @strawberry.field(description="Advocate score and tier.", permission_classes=[IsStaff])
    async def advocate(self, info: GatewayInfo) -> AdvocateScore | None:
        return await ADVOCATE.loader(info).load(self.id)


def _start(future: Awaitable[Any]) -> None:
    # A read started ahead may go unused (the id was merged away); its failure is then nobody's.
    if isinstance(future, asyncio.Future):
        future.add_done_callback(lambda done: done.cancelled() or done.exception())


def _int(value: Any) -> int | None:
    # Arguments read off the selection are as written: a literal 20 comes as "20".
    return None if value is None else int(value)


def _first_page(spec: PerCustomerPages) -> Callable[[GatewayInfo, uuid.UUID, dict[str, Any]], None]:
    def prime(info: GatewayInfo, customer_id: uuid.UUID, arguments: dict[str, Any]) -> None:
        if arguments.get("after") is None:
            _start(spec.loader(info, spec.params(_int(arguments.get("first")))).load(customer_id))

    return prime


def _timeline_first_page(info: GatewayInfo, customer_id: uuid.UUID, arguments: dict[str, Any]) -> None:
    # Dates come unparsed here; a filtered timeline is left to its field rather than guessed at.
    if arguments.get("after") is None and arguments.get("since") is None and arguments.get("until") is None:
        filters = _timeline_filters(arguments.get("channels"), arguments.get("types"), None, None)
        params = TIMELINE.params(_int(arguments.get("first")), filters)
        _start(TIMELINE.loader(info, params).load(customer_id))


def _whole(spec: PerCustomer[Any]) -> Callable[[GatewayInfo, uuid.UUID, dict[str, Any]], None]:
    def prime(info: GatewayInfo, customer_id: uuid.UUID, arguments: dict[str, Any]) -> None:
        _start(spec.loader(info).load(customer_id))

    return prime


def _audience(info: GatewayInfo, customer_id: uuid.UUID, arguments: dict[str, Any]) -> None:
    _start(_audience_loader(info).load(customer_id))


# By GraphQL field name: the read each Customer field makes, with the same loader key, so that the
# field finds it under way (or done) instead of starting it after identity has answered.
_PRIMERS: dict[str, Callable[[GatewayInfo, uuid.UUID, dict[str, Any]], None]] = {
    "consents": _whole(CONSENTS),
    "merges": _whole(MERGES),
    "segments": _whole(SEGMENTS),
    "campaigns": _whole(ENROLLMENTS),
    "experience": _whole(EXPERIENCE),
    "advocate": _whole(ADVOCATE),
    "campaignAudience": _audience,
    "lifecycleStage": _audience,
    "valueTier": _audience,
    "timeline": _timeline_first_page,
    "messages": _first_page(MESSAGES),
    "ideas": _first_page(IDEAS),
    "votes": _first_page(VOTES),
    "comments": _first_page(COMMENTS),
    "feedback": _first_page(FEEDBACK),
    "complaints": _first_page(COMPLAINTS),
}


def _selected(selections: list[Any]) -> Iterator[SelectedField]:
    for selection in selections:
        if isinstance(selection, SelectedField):
            yield selection
        else:  # a fragment spread or an inline fragment
            yield from _selected(selection.selections)


def start_reads_ahead(info: GatewayInfo, customer_id: uuid.UUID) -> None:
    """Start the per-customer reads this customer's selection asks for, under the id as asked.

    Identity must answer first to say which customer an id is (the survivor, for a merged-away one),
    so each field would otherwise wait for it before starting its own read. Almost every id is its
    own survivor: the reads started here are then the ones the fields find in their loaders, and a
    customer 360 costs one round of calls instead of two. For a merged-away id they are wasted and
    the fields read the survivor's.
    """
    for field in info.selected_fields:
        for child in _selected(field.selections):
            primer = _PRIMERS.get(child.name)
            if primer is not None:
                try:
                    primer(info, customer_id, child.arguments)
                except (TypeError, ValueError):  # an argument it cannot read: the field reads alone
                    log.debug("read_ahead_skipped", field=child.name)


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
    start_reads_ahead(info, customer_id)
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
    start_reads_ahead(info, own)
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
