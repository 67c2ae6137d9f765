import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from crm_common.auth import (
    CurrentCustomer,
    CurrentPrincipal,
    CurrentStaff,
    Principal,
    Role,
    ensure_staff_or_self,
    require_roles,
)
from crm_common.db import SessionDep
from crm_common.errors import Forbidden, problem_responses
from crm_common.idempotency import IdempotencyDep
from crm_common.pagination import BatchIds, BatchLimit
from crm_common.validation import NO_CONTROL_CHARACTERS
from feedback.complaints import service
from feedback.complaints.errors import ComplaintTransitionNotAllowed
from feedback.complaints.models import ComplaintStatus
from feedback.complaints.schemas import (
    AssignmentCreate,
    ComplaintCreate,
    ComplaintDetail,
    ComplaintPage,
    ComplaintPageBatch,
    ComplaintPublic,
    ComplaintStatusName,
    StatusChangeCreate,
    StatusChangePublic,
)
from feedback.complaints.service import ComplaintView
from feedback.experience.cursors import decode_time_cursor, encode_time_cursor
from feedback.experience.schemas import TOUCHPOINT_PATTERN, FeedbackPublic

router = APIRouter(tags=["complaints"], responses=problem_responses(401, 403))

# Agents handle complaints; admins can step in. Analysts and marketers read them.
Handler = Annotated[Principal, require_roles(Role.ADMIN, Role.AGENT)]
After = Annotated[str | None, Query(max_length=500, pattern=NO_CONTROL_CHARACTERS)]
Limit = Annotated[int, Query(ge=1, le=200)]


def _actor(principal: Principal) -> str:
    return f"{principal.role.value}:{principal.subject}"


def _public(view: ComplaintView, principal: Principal) -> ComplaintPublic:
    complaint, feedback = view.complaint, FeedbackPublic.of(view.feedback)
    return ComplaintPublic(
        id=complaint.id,
        feedback_id=complaint.feedback_id,
        customer_id=complaint.customer_id,
        channel=feedback.channel,
        touchpoint=complaint.touchpoint,
        text=feedback.comment,
        sentiment=feedback.sentiment,
        campaign_id=feedback.campaign_id,
        message_id=feedback.message_id,
        status=complaint.status,
        assignee=complaint.assignee if principal.is_staff else None,
        resolution=complaint.resolution,
        reopened_count=complaint.reopened_count,
        opened_at=complaint.opened_at,
        updated_at=complaint.updated_at,
        resolved_at=complaint.resolved_at,
    )


def _detail(view: ComplaintView, principal: Principal) -> ComplaintDetail:
    history = [StatusChangePublic.model_validate(change) for change in view.history]
    if not principal.is_staff:  # who handled it and the internal notes are staff matters
        history = [h.model_copy(update={"assignee": None, "actor": None, "note": None}) for h in history]
    return ComplaintDetail(**_public(view, principal).model_dump(), history=history)


def _page(views: list[ComplaintView], limit: int, principal: Principal) -> ComplaintPage:
    page = views[:limit]
    last = page[-1].complaint if page else None
    next_cursor = encode_time_cursor(last.opened_at, last.id) if last and len(views) > limit else None
    return ComplaintPage(items=[_public(v, principal) for v in page], next_cursor=next_cursor)


async def _owned(session: SessionDep, complaint_id: uuid.UUID, principal: Principal) -> ComplaintView:
    view = await service.get_complaint(session, complaint_id, with_history=True)
    if not principal.is_staff and (
        principal.customer_id is None or principal.customer_id != view.complaint.customer_id
    ):
        raise Forbidden("A customer token can only see its own complaints.")
    return view


@router.post(
    "/v1/complaints",
    status_code=status.HTTP_201_CREATED,
    response_model=ComplaintDetail,
    summary="Complain about a touchpoint (customer token, as themself); a case opens",
    responses=problem_responses(409, 422, 429),
)
async def open_complaint(
    request: Request,
    body: ComplaintCreate,
    session: SessionDep,
    customer: CurrentCustomer,
    idempotency: IdempotencyDep,
) -> Response:
    customer_id = customer.customer_id
    assert customer_id is not None  # a customer token's subject is its customer id

    async def open_case() -> ComplaintDetail:
        view = await service.open_complaint(
            session, request.app.state.settings, customer_id=customer_id, data=body
        )
        return _detail(view, customer)

    return await idempotency.run(open_case, status_code=status.HTTP_201_CREATED)


@router.get("/v1/complaints", summary="Complaints to handle, newest first (staff)")
async def list_complaints(
    session: SessionDep,
    principal: CurrentStaff,
    status_filter: Annotated[ComplaintStatusName | None, Query(alias="status")] = None,
    assignee: Annotated[
        str | None, Query(min_length=1, max_length=200, pattern=NO_CONTROL_CHARACTERS)
    ] = None,
    unassigned: bool = False,
    touchpoint: Annotated[str | None, Query(max_length=60, pattern=TOUCHPOINT_PATTERN)] = None,
    customer_id: uuid.UUID | None = None,
    after: After = None,
    limit: Limit = 50,
) -> ComplaintPage:
    views = await service.list_complaints(
        session,
        status=status_filter,
        assignee=assignee,
        unassigned=unassigned,
        touchpoint=touchpoint,
        customer_id=customer_id,
        after=decode_time_cursor(after),
        limit=limit + 1,
    )
    return _page(views, limit, principal)


@router.get(
    "/v1/customers/{customer_id}/complaints", summary="A customer's complaints, newest first (staff or self)"
)
async def list_customer_complaints(
    customer_id: uuid.UUID,
    session: SessionDep,
    principal: CurrentPrincipal,
    after: After = None,
    limit: Limit = 50,
) -> ComplaintPage:
    ensure_staff_or_self(principal, customer_id)
    views = await service.list_complaints(
        session, customer_id=customer_id, after=decode_time_cursor(after), limit=limit + 1
    )
    return _page(views, limit, principal)


@router.get(
    "/v1/customers:complaints",
    summary="The first page of each customer's complaints, newest first (staff; two queries for the batch)",
    description="For the gateway's loaders: each page is the one `/v1/customers/{id}/complaints` gives "
    "with the same `limit`, and its `next_cursor` continues there as `after`.",
    responses=problem_responses(422),
)
async def customers_complaints(
    session: SessionDep, principal: CurrentStaff, ids: BatchIds, limit: BatchLimit = 10
) -> ComplaintPageBatch:
    pages = await service.complaints_of_customers(session, ids, limit=limit + 1)
    return ComplaintPageBatch(
        items={str(customer_id): _page(views, limit, principal) for customer_id, views in pages.items()}
    )


@router.get("/v1/complaints/{complaint_id}", responses=problem_responses(404))
async def get_complaint(
    complaint_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> ComplaintDetail:
    """A complaint with its history: staff see any, a customer their own."""
    return _detail(await _owned(session, complaint_id, principal), principal)


@router.post(
    "/v1/complaints/{complaint_id}/assignment",
    response_model=ComplaintPublic,
    summary="Assign the complaint to a member of staff, or unassign it (agent, admin)",
    responses=problem_responses(404, 409, 422),
)
async def assign_complaint(
    complaint_id: uuid.UUID,
    body: AssignmentCreate,
    session: SessionDep,
    principal: Handler,
    idempotency: IdempotencyDep,
) -> Response:
    async def assign() -> ComplaintPublic:
        view = await service.assign(session, complaint_id, assignee=body.assignee, actor=_actor(principal))
        return _public(view, principal)

    return await idempotency.run(assign, status_code=status.HTTP_200_OK)


@router.post(
    "/v1/complaints/{complaint_id}/status",
    response_model=ComplaintDetail,
    summary="Move the complaint: in_progress, resolved (with a note), or open again",
    description="Agents and admins move complaints along; the customer who complained may reopen a "
    "resolved one (status `open`).",
    responses=problem_responses(404, 409, 422),
)
async def change_complaint_status(
    complaint_id: uuid.UUID,
    body: StatusChangeCreate,
    session: SessionDep,
    principal: CurrentPrincipal,
    idempotency: IdempotencyDep,
) -> Response:
    handler = principal.role in (Role.ADMIN, Role.AGENT)
    if not handler and (principal.role is not Role.CUSTOMER or body.status != ComplaintStatus.OPEN):
        raise Forbidden("Complaints are handled by agents and admins; a customer may only reopen theirs.")

    async def change() -> ComplaintDetail:
        if not handler:  # checked here, not before: a replayed reopen finds the complaint open already
            view = await _owned(session, complaint_id, principal)
            if view.complaint.status != ComplaintStatus.RESOLVED:
                raise ComplaintTransitionNotAllowed(
                    "A customer can reopen a complaint only once it is resolved."
                )
        view = await service.change_status(
            session,
            complaint_id,
            status=ComplaintStatus(body.status),
            note=body.note,
            actor=_actor(principal),
        )
        return _detail(view, principal)

    return await idempotency.run(change, status_code=status.HTTP_200_OK)
