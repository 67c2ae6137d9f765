import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from crm_common.auth import CurrentCustomer, CurrentPrincipal, CurrentStaff, ensure_staff_or_self
from crm_common.db import SessionDep
from crm_common.errors import problem_responses
from crm_common.pagination import BatchIds, BatchLimit
from crm_common.validation import NO_CONTROL_CHARACTERS
from feedback.votes import service
from feedback.votes.models import Vote
from feedback.votes.schemas import VotePage, VotePageBatch, VotePublic, VoteSet, VoteState

router = APIRouter(tags=["votes"], responses=problem_responses(401, 403))


def _state(outcome: service.VoteOutcome) -> VoteState:
    return VoteState(
        idea_id=outcome.idea_id,
        direction=outcome.direction,
        up_count=outcome.up_count,
        down_count=outcome.down_count,
        score=outcome.score,
        votes_left=outcome.votes_left,
    )


@router.put(
    "/v1/ideas/{idea_id}/vote",
    summary="Promote (up) or demote (down) an idea; repeating the call changes nothing",
    responses=problem_responses(404, 409, 422, 429),
)
async def set_vote(
    request: Request, idea_id: uuid.UUID, body: VoteSet, session: SessionDep, customer: CurrentCustomer
) -> VoteState:
    assert customer.customer_id is not None
    outcome = await service.set_vote(
        session, request.app.state.settings, idea_id, customer.customer_id, body.direction
    )
    return _state(outcome)


@router.delete(
    "/v1/ideas/{idea_id}/vote",
    summary="Clear the caller's vote; repeating the call changes nothing",
    responses=problem_responses(404, 409, 429),
)
async def clear_vote(
    request: Request, idea_id: uuid.UUID, session: SessionDep, customer: CurrentCustomer
) -> VoteState:
    assert customer.customer_id is not None
    outcome = await service.set_vote(session, request.app.state.settings, idea_id, customer.customer_id, None)
    return _state(outcome)


@router.get("/v1/customers/{customer_id}/votes", summary="A customer's votes, newest first (staff or self)")
async def customer_votes(
    customer_id: uuid.UUID,
    session: SessionDep,
    principal: CurrentPrincipal,
    after: Annotated[str | None, Query(max_length=500, pattern=NO_CONTROL_CHARACTERS)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> VotePage:
    ensure_staff_or_self(principal, customer_id)
    votes, next_cursor = await service.votes_of_customer(session, customer_id, limit=limit, after=after)
    return _page(votes, next_cursor)


@router.get(
    "/v1/customers:votes",
    summary="The first page of each customer's votes, newest first (staff; one query for the batch)",
    description="For the gateway's loaders: each page is the one `/v1/customers/{id}/votes` gives "
    "with the same `limit`, and its `next_cursor` continues there as `after`.",
    responses=problem_responses(422),
)
async def customers_votes(
    session: SessionDep, _: CurrentStaff, ids: BatchIds, limit: BatchLimit = 10
) -> VotePageBatch:
    pages = await service.votes_of_customers(session, ids, limit=limit)
    return VotePageBatch(
        items={str(customer_id): _page(votes, cursor) for customer_id, (votes, cursor) in pages.items()}
    )


def _page(votes: list[Vote], next_cursor: str | None) -> VotePage:
    return VotePage(
        items=[
            VotePublic(
                idea_id=v.idea_id,
                customer_id=v.customer_id,
                direction=service.NAMES[v.direction],
                cast_at=v.cast_at,
            )
            for v in votes
        ],
        next_cursor=next_cursor,
    )
