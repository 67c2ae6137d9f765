"""What each user group changes through the graph.

Every mutation returns a union of what it made and :class:`MutationRejected`: invalid input, a missing
target or a conflicting state is an answer the client handles, not a top-level error. Unexpected
failures (a service down) are errors on the field as everywhere else. The services do the writing
and check the caller's role themselves; the gateway checks first so a wrong role costs no call.
"""

import uuid
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, TypeVar

import strawberry
from strawberry.scalars import JSON

from gateway.clients import Rejection, ServiceClient
from gateway.context import GatewayInfo
from gateway.schema.access import (
    CUSTOMER_DESK,
    HandlesComplaints,
    IsCustomer,
    IsCustomerDesk,
    IsStaff,
    ManagesCampaigns,
    ResolvesIdentifiers,
    WritesComments,
    require,
)
from gateway.schema.base import MutationRejected, from_service
from gateway.schema.campaigns import Campaign, Segment
from gateway.schema.customers import Customer, customer_by_id
from gateway.schema.feedback import Comment, Complaint, Feedback, Idea, IdeaStatusChange
from gateway.schema.identity import Consent, CustomerRecord, MatchSuggestion, Merge

T = TypeVar("T")


def _result(outcome: T | Rejection) -> T | MutationRejected:
    return MutationRejected.of(outcome) if isinstance(outcome, Rejection) else outcome


async def _write(
    client: ServiceClient,
    method: str,
    path: str,
    body: object,
    into: type[T],
    idempotency_key: str | None = None,
) -> T | MutationRejected:
    return _result(await client.submit(method, path, body, into, idempotency_key=idempotency_key))


IdempotencyKey = Annotated[
    str | None,
    strawberry.argument(
        description="Any unique string (a UUID) per intended change: a retry with the same key creates "
        "nothing twice and answers as the first attempt did."
    ),
]


def _fields(value: Any) -> dict[str, Any]:
    """An input object as the JSON body a service takes (unset optional fields left out)."""
    return {
        name: (item.value if isinstance(item, Enum) else item)
        for name, item in vars(value).items()
        if item is not None
    }


# --- identity ---------------------------------------------------------------------------------


@strawberry.input(description="One identifier seen on a channel.")
class IdentifierInput:
    type: str
    value: str


@strawberry.input(description="What a channel knows about a person.")
class IdentifyInput:
    identifiers: list[IdentifierInput]
    traits: JSON | None = None
    source: str = "crm"
    observed_at: datetime | None = strawberry.field(
        default=None, description="When the identifiers were seen together; now when left out."
    )


@strawberry.type(description="An identifier identity did not attach, and why.")
@from_service
class IgnoredIdentifier:
    type: str
    value: str
    reason: str
    detail: str


@strawberry.type(description="How identity resolved the identifiers.")
@from_service
class Identified:
    customer_id: uuid.UUID | None
    outcome: str = strawberry.field(description="created, matched, merged, conflict or suppressed.")
    rule: str | None
    merged_customer_ids: list[uuid.UUID]
    merge_ids: list[uuid.UUID]
    conflict_ids: list[uuid.UUID]
    suggestion_ids: list[uuid.UUID]
    match_probability: float | None
    ignored_identifiers: list[IgnoredIdentifier] = strawberry.field(
        default_factory=list,
        description="Identifiers left out: a blocked value, a shared role address, one too many of a type.",
    )

    # A partner may resolve identifiers but not read customers: the field is staff-only, like
    # Query.customer, so asking for it costs the partner no call to identity.
    @strawberry.field(
        description="The customer the identifiers resolved to (staff).", permission_classes=[IsStaff]
    )
    async def customer(self, info: GatewayInfo) -> Customer | None:
        return await customer_by_id(info, self.customer_id)


@strawberry.type(description="The decision on a match suggestion, and the merge it made, if accepted.")
@from_service
class SuggestionDecision:
    suggestion: MatchSuggestion
    merge: Merge | None


@strawberry.input(description="Consent for one channel and purpose.")
class ConsentInput:
    channel: str = strawberry.field(description="email, sms, push, phone, in_app or mail.")
    purpose: str = strawberry.field(description="marketing, service, research or profiling.")
    granted: bool


@strawberry.type(description="The customer's consents after the change.")
class ConsentsUpdated:
    consents: list[Consent]


IdentifyResult = Annotated[Identified | MutationRejected, strawberry.union("IdentifyResult")]
MergeResult = Annotated[Merge | MutationRejected, strawberry.union("MergeResult")]
SuggestionResult = Annotated[SuggestionDecision | MutationRejected, strawberry.union("MatchSuggestionResult")]
ProfileResult = Annotated[Customer | MutationRejected, strawberry.union("ProfileResult")]
ConsentsResult = Annotated[ConsentsUpdated | MutationRejected, strawberry.union("ConsentsResult")]

# --- feedback ---------------------------------------------------------------------------------


@strawberry.enum
class VoteDirection(Enum):
    UP = "up"
    DOWN = "down"


@strawberry.input(description="A new idea.")
class IdeaInput:
    title: str
    body: str
    category: str | None = None
    tags: list[str] | None = None
    board: str | None = None


@strawberry.type(description="The idea's counts after the caller's vote.")
@from_service
class VoteState:
    idea_id: uuid.UUID
    direction: str | None
    up_count: int
    down_count: int
    score: float
    votes_left: int | None = strawberry.field(description="Votes the caller has left on this board.")


@strawberry.input(description="NPS, CSAT or a comment at a touchpoint.")
class FeedbackInput:
    kind: str = strawberry.field(description="nps, csat or comment.")
    channel: str
    touchpoint: str
    nps: int | None = None
    csat: int | None = None
    comment: str | None = None
    campaign_id: uuid.UUID | None = None
    message_id: uuid.UUID | None = None


@strawberry.input(description="A complaint about a touchpoint.")
class ComplaintInput:
    channel: str
    touchpoint: str
    text: str
    campaign_id: uuid.UUID | None = None
    message_id: uuid.UUID | None = None


@strawberry.enum
class ComplaintStatus(Enum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"


@strawberry.type(description="A duplicate idea merged into the one that survives.")
@from_service
class IdeaMerge:
    id: uuid.UUID
    source_idea_id: uuid.UUID
    target_idea_id: uuid.UUID
    source_prior_status: str
    merged_by: str
    merged_at: datetime
    moved_votes: int
    dropped_votes: int
    moved_followers: int


IdeaResult = Annotated[Idea | MutationRejected, strawberry.union("IdeaResult")]
VoteResult = Annotated[VoteState | MutationRejected, strawberry.union("VoteResult")]
CommentResult = Annotated[Comment | MutationRejected, strawberry.union("CommentResult")]
FeedbackResult = Annotated[Feedback | MutationRejected, strawberry.union("FeedbackResult")]
ComplaintResult = Annotated[Complaint | MutationRejected, strawberry.union("ComplaintResult")]
IdeaStatusResult = Annotated[IdeaStatusChange | MutationRejected, strawberry.union("IdeaStatusResult")]
IdeaMergeResult = Annotated[IdeaMerge | MutationRejected, strawberry.union("IdeaMergeResult")]

# --- campaign ---------------------------------------------------------------------------------


@strawberry.enum
class CampaignKind(Enum):
    BROADCAST = "broadcast"
    JOURNEY = "journey"


SegmentResult = Annotated[Segment | MutationRejected, strawberry.union("SegmentResult")]
CampaignResult = Annotated[Campaign | MutationRejected, strawberry.union("CampaignResult")]


@strawberry.type(
    description=(
        "Each result is null only when its service could not be reached (an error on the field says "
        "which); a refusal is a MutationRejected."
    )
)
class Mutation:
    # identity: agents and admins; identify also partner systems, as identity's own rule has it
    @strawberry.mutation(
        description="Resolve identifiers from a channel to one customer (agents, admins, partners).",
        permission_classes=[ResolvesIdentifiers],
    )
    async def identify(self, info: GatewayInfo, input: IdentifyInput) -> IdentifyResult | None:
        body: dict[str, Any] = {
            "identifiers": [{"type": i.type, "value": i.value} for i in input.identifiers],
            "traits": input.traits or {},
            "source": input.source,
        }
        if input.observed_at is not None:
            body["observed_at"] = input.observed_at.isoformat()
        return await _write(info.context.services.identity, "POST", "/v1/identify", body, Identified)

    @strawberry.mutation(description="Merge two customers (reversible).", permission_classes=[IsCustomerDesk])
    async def merge_customers(
        self, info: GatewayInfo, survivor_id: uuid.UUID, merged_id: uuid.UUID, reason: str | None = None
    ) -> MergeResult | None:
        body = {"survivor_id": str(survivor_id), "merged_id": str(merged_id), "reason": reason}
        return await _write(info.context.services.identity, "POST", "/v1/merges", body, Merge)

    @strawberry.mutation(
        description="Undo a merge: both customers return as they were.", permission_classes=[IsCustomerDesk]
    )
    async def undo_merge(self, info: GatewayInfo, merge_id: uuid.UUID) -> MergeResult | None:
        return await _write(info.context.services.identity, "POST", f"/v1/merges/{merge_id}/undo", {}, Merge)

    @strawberry.mutation(
        description="Accept (merge) or reject a match suggestion.", permission_classes=[IsCustomerDesk]
    )
    async def resolve_match_suggestion(
        self, info: GatewayInfo, suggestion_id: uuid.UUID, accept: bool
    ) -> SuggestionResult | None:
        action = "accept" if accept else "reject"
        return await _write(
            info.context.services.identity,
            "POST",
            f"/v1/match-suggestions/{suggestion_id}/{action}",
            {},
            SuggestionDecision,
        )

    # the customer themself (customer token)
    @strawberry.mutation(
        description="Update my own profile fields (customer token).", permission_classes=[IsCustomer]
    )
    async def update_my_profile(self, info: GatewayInfo, traits: JSON) -> ProfileResult | None:
        outcome = await info.context.services.identity.submit(
            "PATCH", "/v1/me", {"traits": traits}, CustomerRecord
        )
        if isinstance(outcome, Rejection):
            return MutationRejected.of(outcome)
        return Customer.of(outcome.id, outcome)

    @strawberry.mutation(
        description="Give or withdraw consent per channel and purpose (customer token).",
        permission_classes=[IsCustomer],
    )
    async def set_my_consents(self, info: GatewayInfo, consents: list[ConsentInput]) -> ConsentsResult | None:
        body = {"consents": [_fields(c) for c in consents]}
        outcome = await info.context.services.identity.submit("PUT", "/v1/me/consents", body, list[Consent])
        if isinstance(outcome, Rejection):
            return MutationRejected.of(outcome)
        return ConsentsUpdated(consents=outcome)

    @strawberry.mutation(description="Submit an idea (customer token).", permission_classes=[IsCustomer])
    async def submit_idea(
        self, info: GatewayInfo, input: IdeaInput, idempotency_key: IdempotencyKey = None
    ) -> IdeaResult | None:
        return await _write(
            info.context.services.feedback, "POST", "/v1/ideas", _fields(input), Idea, idempotency_key
        )

    @strawberry.mutation(
        description="Vote an idea up or down (customer token); voting again changes it.",
        permission_classes=[IsCustomer],
    )
    async def vote(
        self, info: GatewayInfo, idea_id: uuid.UUID, direction: VoteDirection
    ) -> VoteResult | None:
        body = {"direction": direction.value}
        return await _write(
            info.context.services.feedback, "PUT", f"/v1/ideas/{idea_id}/vote", body, VoteState
        )

    @strawberry.mutation(description="Take my vote back (customer token).", permission_classes=[IsCustomer])
    async def withdraw_vote(self, info: GatewayInfo, idea_id: uuid.UUID) -> VoteResult | None:
        return await _write(
            info.context.services.feedback, "DELETE", f"/v1/ideas/{idea_id}/vote", None, VoteState
        )

    @strawberry.mutation(
        description="Comment on an idea, or reply to a comment (customers; staff answers are official).",
        permission_classes=[WritesComments],
    )
    async def comment(
        self, info: GatewayInfo, idea_id: uuid.UUID, body: str, parent_id: uuid.UUID | None = None
    ) -> CommentResult | None:
        payload = {"body": body, "parent_id": str(parent_id) if parent_id else None}
        return await _write(
            info.context.services.feedback, "POST", f"/v1/ideas/{idea_id}/comments", payload, Comment
        )

    @strawberry.mutation(
        description="Give NPS, CSAT or a comment at a touchpoint (customer token).",
        permission_classes=[IsCustomer],
    )
    async def give_feedback(
        self, info: GatewayInfo, input: FeedbackInput, idempotency_key: IdempotencyKey = None
    ) -> FeedbackResult | None:
        return await _write(
            info.context.services.feedback, "POST", "/v1/feedback", _json(input), Feedback, idempotency_key
        )

    @strawberry.mutation(
        description="Complain about a touchpoint (customer token); a case opens.",
        permission_classes=[IsCustomer],
    )
    async def file_complaint(
        self, info: GatewayInfo, input: ComplaintInput, idempotency_key: IdempotencyKey = None
    ) -> ComplaintResult | None:
        return await _write(
            info.context.services.feedback, "POST", "/v1/complaints", _json(input), Complaint, idempotency_key
        )

    # agents and admins handling feedback (feedback's stewards)
    @strawberry.mutation(
        description="Move an idea through the workflow with an official response.",
        permission_classes=[IsCustomerDesk],
    )
    async def set_idea_status(
        self, info: GatewayInfo, idea_id: uuid.UUID, status: str, response: str | None = None
    ) -> IdeaStatusResult | None:
        body = {"status": status, "response": response}
        return await _write(
            info.context.services.feedback, "POST", f"/v1/ideas/{idea_id}/status", body, IdeaStatusChange
        )

    @strawberry.mutation(
        description="Merge a duplicate idea into another; votes and followers move.",
        permission_classes=[IsCustomerDesk],
    )
    async def merge_ideas(
        self, info: GatewayInfo, idea_id: uuid.UUID, into_idea_id: uuid.UUID, response: str | None = None
    ) -> IdeaMergeResult | None:
        body = {"into_idea_id": str(into_idea_id), "response": response}
        return await _write(
            info.context.services.feedback, "POST", f"/v1/ideas/{idea_id}/merge", body, IdeaMerge
        )

    @strawberry.mutation(
        description="Assign a complaint to someone (null: unassign).", permission_classes=[IsCustomerDesk]
    )
    async def assign_complaint(
        self, info: GatewayInfo, complaint_id: uuid.UUID, assignee: str | None
    ) -> ComplaintResult | None:
        return await _write(
            info.context.services.feedback,
            "POST",
            f"/v1/complaints/{complaint_id}/assignment",
            {"assignee": assignee},
            Complaint,
        )

    @strawberry.mutation(
        description=(
            "Move a complaint to in progress or resolved, or reopen it (agents and admins; the customer "
            "who complained may reopen a resolved one)."
        ),
        permission_classes=[HandlesComplaints],
    )
    async def set_complaint_status(
        self, info: GatewayInfo, complaint_id: uuid.UUID, status: ComplaintStatus, note: str | None = None
    ) -> ComplaintResult | None:
        if status is not ComplaintStatus.OPEN:
            require(
                info,
                CUSTOMER_DESK,
                "Complaints are handled by agents and admins; a customer may only reopen theirs.",
            )
        return await _write(
            info.context.services.feedback,
            "POST",
            f"/v1/complaints/{complaint_id}/status",
            {"status": status.value, "note": note},
            Complaint,
        )

    # marketers
    @strawberry.mutation(description="Create a segment from a rule.", permission_classes=[ManagesCampaigns])
    async def create_segment(
        self, info: GatewayInfo, name: str, rule: JSON, description: str | None = None
    ) -> SegmentResult | None:
        body = {"name": name, "rule": rule, "description": description}
        return await _write(info.context.services.campaign, "POST", "/v1/segments", body, Segment)

    @strawberry.mutation(description="Create a draft campaign.", permission_classes=[ManagesCampaigns])
    async def create_campaign(
        self, info: GatewayInfo, name: str, kind: CampaignKind, definition: JSON
    ) -> CampaignResult | None:
        body = {"name": name, "kind": kind.value, "definition": definition}
        return await _write(info.context.services.campaign, "POST", "/v1/campaigns", body, Campaign)

    @strawberry.mutation(
        description="Launch a draft campaign after its checks pass.", permission_classes=[ManagesCampaigns]
    )
    async def launch_campaign(self, info: GatewayInfo, campaign_id: uuid.UUID) -> CampaignResult | None:
        return await _campaign_action(info, campaign_id, "launch")

    @strawberry.mutation(
        description="Pause a running campaign: nothing more is sent.", permission_classes=[ManagesCampaigns]
    )
    async def pause_campaign(self, info: GatewayInfo, campaign_id: uuid.UUID) -> CampaignResult | None:
        return await _campaign_action(info, campaign_id, "pause")

    @strawberry.mutation(description="Resume a paused campaign.", permission_classes=[ManagesCampaigns])
    async def resume_campaign(self, info: GatewayInfo, campaign_id: uuid.UUID) -> CampaignResult | None:
        return await _campaign_action(info, campaign_id, "resume")


async def _campaign_action(
    info: GatewayInfo, campaign_id: uuid.UUID, action: str
) -> Campaign | MutationRejected:
    return await _write(
        info.context.services.campaign, "POST", f"/v1/campaigns/{campaign_id}/{action}", {}, Campaign
    )


def _json(value: Any) -> dict[str, Any]:
    """An input with ids as strings, as JSON carries them."""
    return {name: str(item) if isinstance(item, uuid.UUID) else item for name, item in _fields(value).items()}
