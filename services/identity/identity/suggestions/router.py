import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from crm_common.auth import Principal, Role, require_roles
from crm_common.db import SessionDep
from crm_common.errors import problem_responses
from crm_common.pagination import decode_cursor, encode_cursor
from identity.merges.schemas import MergePublic
from identity.suggestions import service

router = APIRouter(
    prefix="/v1/match-suggestions", tags=["match suggestions"], responses=problem_responses(401, 403)
)

Steward = Annotated[Principal, require_roles(Role.ADMIN, Role.AGENT)]


class SuggestionPublic(BaseModel):
    id: uuid.UUID
    customer_id: uuid.UUID
    candidate_id: uuid.UUID
    probability: float
    evidence: dict[str, Any]
    status: str
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    merge_id: uuid.UUID | None


class SuggestionPage(BaseModel):
    items: list[SuggestionPublic]
    next_cursor: str | None = None


class SuggestionDecision(BaseModel):
    suggestion: SuggestionPublic
    merge: MergePublic | None


@router.get("", summary="Probable matches waiting for a person, most probable first")
async def list_suggestions(
    session: SessionDep,
    _: Steward,
    status: Annotated[Literal["pending", "accepted", "rejected"], Query()] = "pending",
    after: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> SuggestionPage:
    cursor = decode_cursor(after)
    position = (str(cursor.get("p")), str(cursor.get("id"))) if cursor else None
    rows = await service.list_pending(session, status=status, after=position, limit=limit + 1)
    page = rows[:limit]
    next_cursor = (
        encode_cursor({"p": page[-1].probability, "id": str(page[-1].id)}) if len(rows) > limit else None
    )
    return SuggestionPage(
        items=[SuggestionPublic.model_validate(s, from_attributes=True) for s in page],
        next_cursor=next_cursor,
    )


async def _decide(
    request: Request, suggestion_id: uuid.UUID, session: SessionDep, principal: Principal, accept: bool
) -> SuggestionDecision:
    suggestion, merge = await service.decide(
        session,
        suggestion_id,
        accept=accept,
        actor=f"{principal.role.value}:{principal.subject}",
        settings=request.app.state.settings,
    )
    return SuggestionDecision(
        suggestion=SuggestionPublic.model_validate(suggestion, from_attributes=True),
        merge=MergePublic.model_validate(merge, from_attributes=True) if merge else None,
    )


@router.post("/{suggestion_id}/accept", responses=problem_responses(404, 409))
async def accept(
    request: Request, suggestion_id: uuid.UUID, session: SessionDep, principal: Steward
) -> SuggestionDecision:
    return await _decide(request, suggestion_id, session, principal, True)


@router.post("/{suggestion_id}/reject", responses=problem_responses(404, 409))
async def reject(
    request: Request, suggestion_id: uuid.UUID, session: SessionDep, principal: Steward
) -> SuggestionDecision:
    return await _decide(request, suggestion_id, session, principal, False)
