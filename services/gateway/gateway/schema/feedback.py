"""Feedback's parts of the graph: ideas and votes (public), comments, feedback, complaints, scores."""

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from gateway.context import GatewayInfo
from gateway.loaders import Page
from gateway.schema.access import IsStaff, ReadsIdeas
from gateway.schema.base import Connection, from_service, page_size

if TYPE_CHECKING:
    from gateway.schema.customers import Customer

CustomerRef = Annotated["Customer", strawberry.lazy("gateway.schema.customers")]


@strawberry.type(description="Sentiment of a text, from feedback's analyser.")
@from_service
class Sentiment:
    score: float = strawberry.field(description="-1 (negative) to 1 (positive).")
    label: str = strawberry.field(description="negative, neutral or positive.")


@strawberry.type(description="An idea on a board (IdeaStorm-style): customers submit, vote and comment.")
@from_service
class Idea:
    id: uuid.UUID
    board_id: uuid.UUID
    title: str
    body: str
    category: str | None
    tags: list[str]
    status: str = strawberry.field(
        description="new, under_review, planned, in_progress, shipped, declined..."
    )
    author_id: uuid.UUID | None
    up_count: int
    down_count: int
    comment_count: int
    score: float = strawberry.field(description="Wilson lower bound of the up share (the 'top' order).")
    moderation_state: str
    merged_into_id: uuid.UUID | None
    created_at: datetime
    edited_at: datetime | None
    status_changed_at: datetime
    my_vote: str | None = strawberry.field(description="The caller's own vote: up, down or null.")

    @strawberry.field(
        description="The customer who submitted the idea (staff only).", permission_classes=[IsStaff]
    )
    async def author(self, info: GatewayInfo) -> CustomerRef | None:
        from gateway.schema.customers import customer_by_id

        return await customer_by_id(info, self.author_id)

    @strawberry.field(
        description="Comment threads on the idea, oldest first.", permission_classes=[ReadsIdeas]
    )
    async def comments(
        self, info: GatewayInfo, first: int | None = None, after: str | None = None
    ) -> Connection["CommentThread"] | None:
        page = await info.context.services.feedback.fetch_required(
            f"/v1/ideas/{self.id}/comments",
            Page[CommentThread],
            params=_page_params(first, after),
        )
        return Connection.of(page.items, page.next_cursor)

    @strawberry.field(description="Status changes with the company's responses, oldest first.")
    async def status_history(self, info: GatewayInfo) -> list["IdeaStatusChange"] | None:
        return await info.context.services.feedback.fetch_required(
            f"/v1/ideas/{self.id}/status-history", list[IdeaStatusChange]
        )


@strawberry.type(description="A status change of an idea, with the response customers see.")
@from_service
class IdeaStatusChange:
    id: uuid.UUID
    idea_id: uuid.UUID
    from_status: str | None
    to_status: str
    response: str | None
    changed_by: str
    changed_at: datetime


@strawberry.type(description="A comment on an idea.")
@from_service
class Comment:
    id: uuid.UUID
    idea_id: uuid.UUID
    parent_id: uuid.UUID | None
    author_kind: str = strawberry.field(description="customer or staff.")
    author_id: uuid.UUID | None
    official: bool = strawberry.field(description="An official answer from the company.")
    body: str
    moderation_state: str
    created_at: datetime
    edited_at: datetime | None


@strawberry.type(description="A top-level comment with its replies.")
@from_service
class CommentThread:
    id: uuid.UUID
    idea_id: uuid.UUID
    parent_id: uuid.UUID | None
    author_kind: str
    author_id: uuid.UUID | None
    official: bool
    body: str
    moderation_state: str
    created_at: datetime
    edited_at: datetime | None
    replies: list[Comment]
    reply_count: int


@strawberry.type(description="A customer's vote on an idea.")
@from_service
class Vote:
    idea_id: uuid.UUID
    customer_id: uuid.UUID
    direction: str = strawberry.field(description="up or down.")
    cast_at: datetime

    @strawberry.field(description="The idea voted on.")
    async def idea(self, info: GatewayInfo) -> Idea | None:
        return await load_idea(info, self.idea_id)


@strawberry.type(description="NPS, CSAT or a comment given at one touchpoint.")
@from_service
class Feedback:
    id: uuid.UUID
    customer_id: uuid.UUID | None
    kind: str = strawberry.field(description="nps, csat or comment.")
    channel: str
    touchpoint: str
    nps: int | None
    csat: int | None
    comment: str | None
    sentiment: Sentiment | None
    negative: bool
    campaign_id: uuid.UUID | None
    message_id: uuid.UUID | None
    received_at: datetime


@strawberry.type(description="A complaint and how it is being handled.")
@from_service
class Complaint:
    id: uuid.UUID
    feedback_id: uuid.UUID
    customer_id: uuid.UUID | None
    channel: str
    touchpoint: str
    text: str | None
    sentiment: Sentiment | None
    campaign_id: uuid.UUID | None
    message_id: uuid.UUID | None
    status: str = strawberry.field(description="open, in_progress or resolved.")
    assignee: str | None
    resolution: str | None
    reopened_count: int
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None

    @strawberry.field(description="The customer who complained (staff only).", permission_classes=[IsStaff])
    async def customer(self, info: GatewayInfo) -> CustomerRef | None:
        from gateway.schema.customers import customer_by_id

        return await customer_by_id(info, self.customer_id)


@strawberry.type(description="How much of an advocate the customer is, from votes, NPS and feedback.")
@from_service
class AdvocateScore:
    customer_id: uuid.UUID
    score: float
    tier: str = strawberry.field(description="advocate, supporter or neutral.")
    latest_nps: int | None
    upvotes_received: int
    positive_feedback: int
    computed_at: datetime


@strawberry.type(description="A customer's NPS and CSAT, from every touchpoint.")
@from_service
class ExperienceScores:
    latest_nps: int | None
    latest_nps_at: datetime | None
    nps_responses: int
    average_csat: float | None
    csat_responses: int


@strawberry.type(description="Experience at one touchpoint in one time window.")
@from_service
class TouchpointWindow:
    window_start: datetime
    window_end: datetime
    volume: int
    nps: float | None
    nps_responses: int
    promoters: int
    passives: int
    detractors: int
    csat_average: float | None
    csat_responses: int
    negatives: int
    negative_share: float
    complaints: int
    trend: JSON = strawberry.field(description="Change against the previous window.")


@strawberry.type(description="One touchpoint's health over time.")
@from_service
class TouchpointHealth:
    touchpoint: str
    windows: list[TouchpointWindow]


@strawberry.type(
    description="A crisis alert, with its acknowledgement: negatives at a touchpoint beyond its baseline."
)
@from_service
class TouchpointAlert:
    id: uuid.UUID
    touchpoint: str
    window_start: datetime
    window_end: datetime
    negative_count: int
    baseline_rate: float = strawberry.field(description="Expected negatives per window (Poisson mean).")
    p_value: float
    method: str
    raised_at: datetime
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledgement_note: str | None = None


def _page_params(first: int | None, after: str | None) -> dict[str, str | int]:
    params: dict[str, str | int] = {"limit": page_size(first)}
    if after is not None:
        params["after"] = after
    return params


async def load_idea(info: GatewayInfo, idea_id: uuid.UUID) -> Idea | None:
    """One idea through the request's loader (one call for every idea the query needs)."""
    loader = info.context.loaders.listed(
        info.context.services.feedback, "/v1/ideas:batch", Idea, key=lambda idea: idea.id
    )
    return await loader.load(idea_id)
