"""HTTP of the ledger: a customer's message history, one message, and the suppression list."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from campaign.delivery import service
from campaign.delivery.schemas import (
    CustomerMessagesBatch,
    MessagePage,
    MessagePublic,
    SuppressionCreate,
    SuppressionPage,
    SuppressionPublic,
)
from crm_common.auth import CurrentStaff, Principal, Role, require_roles
from crm_common.db import SessionDep
from crm_common.errors import FieldError, ValidationFailed, problem_responses
from crm_common.pagination import BatchIds
from crm_common.validation import NO_CONTROL_CHARACTERS

router = APIRouter(tags=["delivery"], responses=problem_responses(401, 403))

HistoryReader = Annotated[Principal, require_roles(Role.AGENT, Role.ANALYST, Role.ADMIN, Role.MARKETER)]
SuppressionManager = Annotated[Principal, require_roles(Role.ADMIN, Role.MARKETER)]
Cursor = Annotated[str | None, Query(max_length=500, pattern=NO_CONTROL_CHARACTERS)]


@router.get(
    "/v1/customers:messages",
    response_model=CustomerMessagesBatch,
    summary="The first page of several customers' messages, newest first (agent, analyst, marketer, admin; "
    "one query for the whole batch)",
    responses=problem_responses(422),
)
async def customers_messages(
    session: SessionDep,
    _: HistoryReader,
    ids: BatchIds,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> CustomerMessagesBatch:
    pages = await service.first_history_pages(session, ids, limit=limit)
    return CustomerMessagesBatch(items={str(customer_id): page for customer_id, page in pages.items()})


@router.get(
    "/v1/customers/{customer_id}/messages",
    response_model=MessagePage,
    summary="The customer's messages, newest first (agent, analyst, marketer, admin)",
    responses=problem_responses(422),
)
async def customer_messages(
    customer_id: uuid.UUID,
    session: SessionDep,
    _: HistoryReader,
    after: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> MessagePage:
    return await service.message_history(session, customer_id, after=after, limit=limit)


@router.get(
    "/v1/messages/{message_id}",
    response_model=MessagePublic,
    summary="One message: status, attempts, responses (staff)",
    responses=problem_responses(404),
)
async def get_message(message_id: uuid.UUID, session: SessionDep, _: CurrentStaff) -> MessagePublic:
    return await service.get_message(session, message_id)


@router.get(
    "/v1/suppressions",
    response_model=SuppressionPage,
    summary="The suppression list, oldest first (marketer, admin)",
    responses=problem_responses(422),
)
async def list_suppressions(
    session: SessionDep,
    _: SuppressionManager,
    customer_id: uuid.UUID | None = None,
    address: Annotated[str | None, Query(max_length=320, pattern=NO_CONTROL_CHARACTERS)] = None,
    after: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> SuppressionPage:
    position = None
    if after is not None:
        if not after.isdigit() or len(after) > 18:
            raise ValidationFailed(
                "The cursor is not one this API issued.",
                errors=[FieldError(field="query.after", message="invalid cursor", code="cursor_invalid")],
            )
        position = int(after)
    rows = await service.list_suppressions(
        session, after=position, limit=limit + 1, customer_id=customer_id, address=address
    )
    page = rows[:limit]
    return SuppressionPage(
        items=[SuppressionPublic.model_validate(row) for row in page],
        next_cursor=str(page[-1].id) if len(rows) > limit else None,
    )


@router.post(
    "/v1/suppressions",
    status_code=status.HTTP_201_CREATED,
    response_model=SuppressionPublic,
    summary="Suppress an address or a customer (marketer, admin); adding it again returns the same one",
    responses=problem_responses(422),
)
async def add_suppression(
    body: SuppressionCreate, session: SessionDep, _: SuppressionManager
) -> SuppressionPublic:
    target: str | uuid.UUID = body.customer_id if body.customer_id is not None else str(body.address)
    row = await service.add_suppression(
        session,
        target,
        body.channel.value if body.channel else None,
        body.reason,
        purpose=body.purpose,
    )
    return SuppressionPublic.model_validate(row)


@router.delete(
    "/v1/suppressions/{suppression_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Lift a suppression (marketer, admin)",
    responses=problem_responses(404),
)
async def remove_suppression(
    suppression_id: Annotated[int, Path(ge=1, le=2**62)], session: SessionDep, _: SuppressionManager
) -> Response:
    await service.remove_suppression(session, suppression_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
