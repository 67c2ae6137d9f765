import uuid

from fastapi import APIRouter

from crm_common.auth import CurrentStaff
from crm_common.db import SessionDep
from crm_common.errors import problem_responses
from feedback.customers import service
from feedback.customers.schemas import CustomerRefPublic

router = APIRouter(prefix="/v1/customer-refs", tags=["customers"], responses=problem_responses(401, 403))


@router.get("/{customer_id}", responses=problem_responses(404))
async def get_customer_ref(customer_id: uuid.UUID, session: SessionDep, _: CurrentStaff) -> CustomerRefPublic:
    return CustomerRefPublic.model_validate(await service.get_customer_ref(session, customer_id))
