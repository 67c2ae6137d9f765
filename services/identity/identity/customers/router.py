import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from crm_common.auth import (
    CurrentPrincipal,
    CurrentStaff,
    Principal,
    Role,
    ensure_staff_or_self,
    require_roles,
)
from crm_common.db import SessionDep
from crm_common.errors import problem_responses
from identity.customers import service
from identity.customers.schemas import CustomerBatch, CustomerCreate, CustomerPublic

router = APIRouter(prefix="/v1/customers", tags=["customers"], responses=problem_responses(401, 403))

MAX_BATCH_IDS = 500

CustomerWriter = Annotated[Principal, require_roles(Role.ADMIN, Role.AGENT)]


@router.post("", status_code=status.HTTP_201_CREATED, responses=problem_responses(413))
async def create_customer(body: CustomerCreate, session: SessionDep, _: CustomerWriter) -> CustomerPublic:
    customer = await service.create_customer(session, body)
    return CustomerPublic.model_validate(customer)


@router.get("", summary="Batch get by ids (one query for the whole batch)")
async def get_customers(
    session: SessionDep,
    _: CurrentStaff,
    ids: Annotated[list[uuid.UUID], Query(min_length=1, max_length=MAX_BATCH_IDS)],
) -> CustomerBatch:
    found = await service.get_customers(session, ids)
    found_ids = {customer.id for customer in found}
    return CustomerBatch(
        items=[CustomerPublic.model_validate(c) for c in found],
        missing=[i for i in dict.fromkeys(ids) if i not in found_ids],
    )


@router.get("/{customer_id}", responses=problem_responses(404))
async def get_customer(
    customer_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> CustomerPublic:
    ensure_staff_or_self(principal, customer_id)
    return CustomerPublic.model_validate(await service.get_customer(session, customer_id))
