"""The entry points of the graph."""

import uuid
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry

from gateway.context import GatewayInfo
from gateway.loaders import Page
from gateway.schema.access import MATCH_REVIEWERS, STAFF, IsStaff, ReadsCampaigns, ReadsIdeas, require
from gateway.schema.base import Connection, page_size
from gateway.schema.campaigns import Campaign, Segment, load_campaign, load_segment
from gateway.schema.customers import (
    Customer,
    resolve_customer,
    resolve_customer_by_identifier,
    resolve_customers,
    resolve_me,
)
from gateway.schema.feedback import Complaint, Idea, TouchpointAlert, TouchpointHealth, load_idea
from gateway.schema.identity import MatchSuggestion
from gateway.schema.platform import ServiceStatus, resolve_platform


@strawberry.enum(description="How ideas are ordered.")
class IdeaSort(Enum):
    TOP = "top"
    TRENDING = "trending"
    NEWEST = "newest"


@strawberry.input(description="Narrow a list of ideas.")
class IdeaFilter:
    status: str | None = None
    category: str | None = None
    tag: str | None = None
    board: str | None = None


@strawberry.enum(description="The width of a touchpoint health window.")
class HealthWindow(Enum):
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"


def _page(first: int | None, after: str | None, **filters: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": page_size(first)}
    if after is not None:
        params["after"] = after
    params.update({name: value for name, value in filters.items() if value is not None})
    return params


class _HealthReport(Page[TouchpointHealth]):
    pass


@strawberry.type
class Query:
    platform: list[ServiceStatus] = strawberry.field(
        resolver=resolve_platform,
        description="The services behind the graph; one that does not answer is listed.",
    )
    customer: Customer | None = strawberry.field(
        resolver=resolve_customer,
        description=(
            "A customer by identity's id (staff). A merged-away id resolves to its survivor; null when "
            "identity knows no such customer or it was erased."
        ),
    )
    customer_by_identifier: Customer | None = strawberry.field(
        resolver=resolve_customer_by_identifier,
        description="The customer who owns an identifier, e.g. type email (staff).",
    )
    customers: Connection[Customer] | None = strawberry.field(
        resolver=resolve_customers,
        description="Customers by name/email/phone prefix, or the members of a segment (staff).",
    )
    me: Customer | None = strawberry.field(
        resolver=resolve_me, description="The customer the token belongs to (customer token)."
    )

    @strawberry.field(
        description="One idea (public data; hidden ideas only for staff).", permission_classes=[ReadsIdeas]
    )
    async def idea(self, info: GatewayInfo, id: uuid.UUID) -> Idea | None:
        return await load_idea(info, id)

    @strawberry.field(
        description="Ideas ranked by top (Wilson), trending or newest.", permission_classes=[ReadsIdeas]
    )
    async def ideas(
        self,
        info: GatewayInfo,
        sort: IdeaSort = IdeaSort.TOP,
        filter: IdeaFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Idea] | None:
        narrowed = filter or IdeaFilter()
        params = _page(
            first,
            after,
            sort=sort.value,
            status=narrowed.status,
            category=narrowed.category,
            tag=narrowed.tag,
            board=narrowed.board,
        )
        page = await info.context.services.feedback.fetch_required("/v1/ideas", Page[Idea], params=params)
        return Connection.of(page.items, page.next_cursor)

    @strawberry.field(description="One segment.", permission_classes=[ReadsCampaigns])
    async def segment(self, info: GatewayInfo, id: uuid.UUID) -> Segment | None:
        return await load_segment(info, id)

    @strawberry.field(description="Segments by name.", permission_classes=[ReadsCampaigns])
    async def segments(
        self, info: GatewayInfo, first: int | None = None, after: str | None = None
    ) -> Connection[Segment] | None:
        page = await info.context.services.campaign.fetch_required(
            "/v1/segments", Page[Segment], params=_page(first, after)
        )
        return Connection.of(page.items, page.next_cursor)

    @strawberry.field(description="One campaign.", permission_classes=[ReadsCampaigns])
    async def campaign(self, info: GatewayInfo, id: uuid.UUID) -> Campaign | None:
        return await load_campaign(info, id)

    @strawberry.field(description="Campaigns, newest first.", permission_classes=[ReadsCampaigns])
    async def campaigns(
        self,
        info: GatewayInfo,
        status: str | None = None,
        kind: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Campaign] | None:
        page = await info.context.services.campaign.fetch_required(
            "/v1/campaigns", Page[Campaign], params=_page(first, after, status=status, kind=kind)
        )
        return Connection.of(page.items, page.next_cursor)

    @strawberry.field(
        description="NPS, CSAT, negatives and complaints per touchpoint and window (staff).",
        permission_classes=[IsStaff],
    )
    async def touchpoint_health(
        self,
        info: GatewayInfo,
        window: HealthWindow = HealthWindow.DAY,
        touchpoint: str | None = None,
        channel: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        time_zone: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[TouchpointHealth] | None:
        params = _page(
            first,
            after,
            window=window.value,
            touchpoint=touchpoint,
            channel=channel,
            tz=time_zone,
            **{"from": since.isoformat() if since else None, "to": until.isoformat() if until else None},
        )
        report = await info.context.services.feedback.fetch_required(
            "/v1/touchpoints/health", _HealthReport, params=params
        )
        return Connection.of(report.items, report.next_cursor)

    @strawberry.field(description="Crisis alerts, newest first (staff).", permission_classes=[IsStaff])
    async def touchpoint_alerts(
        self,
        info: GatewayInfo,
        touchpoint: str | None = None,
        open_only: bool = False,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[TouchpointAlert] | None:
        params = _page(first, after, touchpoint=touchpoint, state="open" if open_only else None)
        page = await info.context.services.feedback.fetch_required(
            "/v1/touchpoints/alerts", Page[TouchpointAlert], params=params
        )
        return Connection.of(page.items, page.next_cursor)

    @strawberry.field(description="Probable matches waiting for a person, most probable first.")
    async def match_suggestions(
        self,
        info: GatewayInfo,
        status: str | None = "pending",
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[MatchSuggestion] | None:
        require(info, MATCH_REVIEWERS, "Agents and admins only.")
        page = await info.context.services.identity.fetch_required(
            "/v1/match-suggestions", Page[MatchSuggestion], params=_page(first, after, status=status)
        )
        return Connection.of(page.items, page.next_cursor)

    @strawberry.field(description="Complaints to handle, newest first (staff).")
    async def complaints(
        self,
        info: GatewayInfo,
        status: str | None = None,
        assignee: str | None = None,
        unassigned: bool | None = None,
        touchpoint: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Complaint] | None:
        require(info, STAFF, "Staff only.")
        params = _page(
            first, after, status=status, assignee=assignee, unassigned=unassigned, touchpoint=touchpoint
        )
        page = await info.context.services.feedback.fetch_required(
            "/v1/complaints", Page[Complaint], params=params
        )
        return Connection.of(page.items, page.next_cursor)
