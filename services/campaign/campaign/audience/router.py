import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from campaign.audience import service
from campaign.audience.schemas import AudienceBatch, AudienceMemberPublic
from crm_common.auth import CurrentStaff
from crm_common.db import SessionDep
from crm_common.errors import problem_responses

router = APIRouter(prefix="/v1/audience", tags=["audience"], responses=problem_responses(401, 403))

MAX_BATCH_IDS = 500


@router.get("", summary="Batch get by customer ids (one query for the whole batch)")
async def get_audience_members(
    session: SessionDep,
    _: CurrentStaff,
    ids: Annotated[list[uuid.UUID], Query(min_length=1, max_length=MAX_BATCH_IDS)],
) -> AudienceBatch:
    found = await service.get_members(session, ids)
    found_ids = {member.customer_id for member in found}
    return AudienceBatch(
        items=[AudienceMemberPublic.model_validate(member) for member in found],
        missing=[i for i in dict.fromkeys(ids) if i not in found_ids],
    )


@router.get("/{customer_id}", responses=problem_responses(404))
async def get_audience_member(
    customer_id: uuid.UUID, session: SessionDep, _: CurrentStaff
) -> AudienceMemberPublic:
    return AudienceMemberPublic.model_validate(await service.get_member(session, customer_id))
