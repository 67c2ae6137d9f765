import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status

from crm_common.auth import CurrentCustomer, CurrentPrincipal, CurrentStaff, ensure_staff_or_self
from crm_common.db import SessionDep
from crm_common.errors import Forbidden, problem_responses
from crm_common.idempotency import IdempotencyDep
from crm_common.pagination import BatchIds, BatchLimit
from crm_common.validation import NO_CONTROL_CHARACTERS
from feedback.experience import service
from feedback.experience.cursors import decode_time_cursor, encode_time_cursor
from feedback.experience.models import Channel, FeedbackResponse
from feedback.experience.schemas import (
    TOUCHPOINT_PATTERN,
    CustomerScoresBatch,
    CustomerScoresPublic,
    FeedbackCreate,
    FeedbackPage,
    FeedbackPageBatch,
    FeedbackPublic,
    Instant,
    SentimentLabelName,
)

router = APIRouter(tags=["feedback"], responses=problem_responses(401, 403))

After = Annotated[str | None, Query(max_length=500, pattern=NO_CONTROL_CHARACTERS)]
Limit = Annotated[int, Query(ge=1, le=200)]
TouchpointQuery = Annotated[str | None, Query(max_length=60, pattern=TOUCHPOINT_PATTERN)]


def _page(rows: list[FeedbackResponse], limit: int) -> FeedbackPage:
    page = rows[:limit]
    next_cursor = encode_time_cursor(page[-1].received_at, page[-1].id) if len(rows) > limit else None
    return FeedbackPage(items=[FeedbackPublic.of(r) for r in page], next_cursor=next_cursor)


def _scores(scores: service.CustomerScores) -> CustomerScoresPublic:
    return CustomerScoresPublic(
        latest_nps=scores.latest_nps,
        latest_nps_at=scores.latest_nps_at,
        nps_responses=scores.nps_responses,
        average_csat=scores.average_csat,
        csat_responses=scores.csat_responses,
    )


@router.post(
    "/v1/feedback",
    status_code=status.HTTP_201_CREATED,
    response_model=FeedbackPublic,
    summary="Give NPS, CSAT or a comment at a touchpoint (customer token, as themself)",
    responses=problem_responses(409, 422, 429),
)
async def submit_feedback(
    request: Request,
    body: FeedbackCreate,
    session: SessionDep,
    customer: CurrentCustomer,
    idempotency: IdempotencyDep,
) -> Response:
    customer_id = customer.customer_id
    assert customer_id is not None  # a customer token's subject is its customer id

    async def submit() -> FeedbackPublic:
        response = await service.submit_feedback(
            session, request.app.state.settings, customer_id=customer_id, data=body
        )
        return FeedbackPublic.of(response)

    return await idempotency.run(submit, status_code=status.HTTP_201_CREATED)


@router.get("/v1/feedback", summary="Feedback at every touchpoint, newest first (staff)")
async def list_feedback(
    session: SessionDep,
    _: CurrentStaff,
    touchpoint: TouchpointQuery = None,
    channel: Channel | None = None,
    kind: Literal["nps", "csat", "comment", "complaint"] | None = None,
    sentiment: SentimentLabelName | None = None,
    negative: bool | None = None,
    customer_id: uuid.UUID | None = None,
    since: Annotated[Instant | None, Query(alias="from", description="Received at or after.")] = None,
    until: Annotated[Instant | None, Query(alias="to", description="Received before.")] = None,
    after: After = None,
    limit: Limit = 50,
) -> FeedbackPage:
    rows = await service.list_feedback(
        session,
        customer_id=customer_id,
        touchpoint=touchpoint,
        channel=channel.value if channel else None,
        kind=kind,
        sentiment_label=sentiment,
        negative=negative,
        since=since,
        until=until,
        after=decode_time_cursor(after),
        limit=limit + 1,
    )
    return _page(rows, limit)


@router.get("/v1/feedback/{feedback_id}", responses=problem_responses(404))
async def get_feedback(
    feedback_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> FeedbackPublic:
    """Staff read any feedback; a customer reads only their own."""
    response = await service.get_feedback(session, feedback_id)
    if not principal.is_staff and (
        principal.customer_id is None or principal.customer_id != response.customer_id
    ):
        raise Forbidden("A customer token can only read its own feedback.")
    return FeedbackPublic.of(response)


@router.get(
    "/v1/customers/{customer_id}/feedback", summary="A customer's feedback, newest first (staff or self)"
)
async def list_customer_feedback(
    customer_id: uuid.UUID,
    session: SessionDep,
    principal: CurrentPrincipal,
    after: After = None,
    limit: Limit = 50,
) -> FeedbackPage:
    ensure_staff_or_self(principal, customer_id)
    rows = await service.list_feedback(
        session, customer_id=customer_id, after=decode_time_cursor(after), limit=limit + 1
    )
    return _page(rows, limit)


@router.get(
    "/v1/customers:feedback",
    summary="The first page of each customer's feedback, newest first (staff; one query for the batch)",
    description="For the gateway's loaders: each page is the one `/v1/customers/{id}/feedback` gives "
    "with the same `limit`, and its `next_cursor` continues there as `after`.",
    responses=problem_responses(422),
)
async def customers_feedback(
    session: SessionDep, _: CurrentStaff, ids: BatchIds, limit: BatchLimit = 10
) -> FeedbackPageBatch:
    pages = await service.feedback_of_customers(session, ids, limit=limit + 1)
    return FeedbackPageBatch(
        items={str(customer_id): _page(rows, limit) for customer_id, rows in pages.items()}
    )


@router.get(
    "/v1/customers:scores",
    summary="Each customer's NPS and CSAT summary (staff; one query for the batch)",
    responses=problem_responses(422),
)
async def customers_scores(session: SessionDep, _: CurrentStaff, ids: BatchIds) -> CustomerScoresBatch:
    found = await service.customer_scores(session, ids)
    return CustomerScoresBatch(items={str(customer_id): _scores(s) for customer_id, s in found.items()})


@router.get(
    "/v1/customers/{customer_id}/scores",
    summary="A customer's NPS and CSAT summary (staff or self)",
    responses=problem_responses(422),
)
async def customer_scores(
    customer_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> CustomerScoresPublic:
    ensure_staff_or_self(principal, customer_id)
    return _scores((await service.customer_scores(session, [customer_id]))[customer_id])
