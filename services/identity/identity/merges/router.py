import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, status

from crm_common.auth import Principal, Role, require_roles
from crm_common.db import SessionDep
from crm_common.errors import problem_responses
from crm_common.pagination import decode_cursor, encode_cursor
from identity.merges import service
from identity.merges.schemas import (
    ConflictPage,
    ConflictPublic,
    ConflictResolution,
    ConflictResolved,
    MergeCreate,
    MergePublic,
    NeverMergeCreate,
)

router = APIRouter(tags=["merges"], responses=problem_responses(401, 403))

Steward = Annotated[Principal, require_roles(Role.ADMIN, Role.AGENT)]


def _actor(principal: Principal) -> str:
    return f"{principal.role.value}:{principal.subject}"


@router.post("/v1/merges", status_code=status.HTTP_201_CREATED, responses=problem_responses(404, 409))
async def merge_customers(
    request: Request, body: MergeCreate, session: SessionDep, principal: Steward
) -> MergePublic:
    merge = await service.merge_manually(
        session,
        body.survivor_id,
        body.merged_id,
        actor=_actor(principal),
        reason=body.reason,
        settings=request.app.state.settings,
    )
    return MergePublic.model_validate(merge, from_attributes=True)


@router.get("/v1/merges/{merge_id}", responses=problem_responses(404))
async def get_merge(merge_id: uuid.UUID, session: SessionDep, _: Steward) -> MergePublic:
    return MergePublic.model_validate(await service.get_merge(session, merge_id), from_attributes=True)


@router.post(
    "/v1/merges/{merge_id}/undo",
    summary="Restore exactly the state before the merge; the pair becomes never-merge",
    responses=problem_responses(404, 409),
)
async def undo_merge(
    request: Request, merge_id: uuid.UUID, session: SessionDep, principal: Steward
) -> MergePublic:
    merge = await service.undo_merge(
        session, merge_id, actor=_actor(principal), settings=request.app.state.settings
    )
    return MergePublic.model_validate(merge, from_attributes=True)


@router.post(
    "/v1/never-merges", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(404, 409)
)
async def never_merge(body: NeverMergeCreate, session: SessionDep, principal: Steward) -> None:
    await service.mark_never_merge(
        session, body.customer_id, body.other_customer_id, actor=_actor(principal), reason=body.reason
    )


@router.get("/v1/merge-conflicts", summary="Merges the guardrails stopped")
async def list_conflicts(
    session: SessionDep,
    _: Steward,
    status: Annotated[Literal["open", "resolved"] | None, Query()] = "open",
    after: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ConflictPage:
    cursor = decode_cursor(after)
    position = (str(cursor.get("at")), str(cursor.get("id"))) if cursor else None
    rows = await service.list_conflicts(session, status=status, after=position, limit=limit + 1)
    page = rows[:limit]
    next_cursor = (
        encode_cursor({"at": page[-1].created_at.isoformat(), "id": str(page[-1].id)})
        if len(rows) > limit
        else None
    )
    return ConflictPage(
        items=[ConflictPublic.model_validate(c, from_attributes=True) for c in page], next_cursor=next_cursor
    )


@router.post("/v1/merge-conflicts/{conflict_id}/resolve", responses=problem_responses(404, 409))
async def resolve_conflict(
    request: Request,
    conflict_id: uuid.UUID,
    body: ConflictResolution,
    session: SessionDep,
    principal: Steward,
) -> ConflictResolved:
    conflict, merge = await service.resolve_conflict(
        session,
        conflict_id,
        merge=body.action == "merge",
        actor=_actor(principal),
        settings=request.app.state.settings,
    )
    return ConflictResolved(
        conflict=ConflictPublic.model_validate(conflict, from_attributes=True),
        merge=MergePublic.model_validate(merge, from_attributes=True) if merge else None,
    )
