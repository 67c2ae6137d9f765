import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from crm_common.auth import CurrentStaff, Principal, Role, require_roles
from crm_common.db import SessionDep
from crm_common.errors import problem_responses
from crm_common.idempotency import IdempotencyDep
from crm_common.validation import NO_CONTROL_CHARACTERS
from feedback.idea_merges import service
from feedback.idea_merges.schemas import IdeaMergeCreate, IdeaMergePage, IdeaMergePublic, IdeaMergeUndone

router = APIRouter(tags=["idea merges"], responses=problem_responses(401, 403))

Steward = Annotated[Principal, require_roles(Role.ADMIN, Role.AGENT)]


def _actor(principal: Principal) -> str:
    return f"{principal.role.value}:{principal.subject}"


def _public(summary: service.MergeSummary) -> IdeaMergePublic:
    return IdeaMergePublic.model_validate(
        {
            **summary.merge.model_dump(),
            "moved_votes": summary.moved_votes,
            "dropped_votes": summary.dropped_votes,
            "moved_followers": summary.moved_followers,
            "already_following": summary.already_following,
        }
    )


@router.post(
    "/v1/ideas/{idea_id}/merge",
    status_code=status.HTTP_201_CREATED,
    response_model=IdeaMergePublic,
    summary="Merge a duplicate idea into the idea that survives; its voters and followers move there",
    responses=problem_responses(404, 409, 422),
)
async def merge_idea(
    request: Request,
    idea_id: uuid.UUID,
    body: IdeaMergeCreate,
    session: SessionDep,
    principal: Steward,
    idempotency: IdempotencyDep,
) -> Response:
    async def merge() -> IdeaMergePublic:
        summary = await service.merge_ideas(
            session,
            request.app.state.settings,
            idea_id,
            into_id=body.into_idea_id,
            response=body.response,
            actor=_actor(principal),
        )
        return _public(summary)

    return await idempotency.run(merge, status_code=status.HTTP_201_CREATED)


@router.post(
    "/v1/idea-merges/{merge_id}/undo",
    response_model=IdeaMergeUndone,
    summary="Undo a merge: the duplicate gets exactly its voters and followers back",
    responses=problem_responses(404, 409),
)
async def undo_idea_merge(
    request: Request,
    merge_id: uuid.UUID,
    session: SessionDep,
    principal: Steward,
    idempotency: IdempotencyDep,
) -> Response:
    async def undo() -> IdeaMergeUndone:
        undone = await service.undo_merge(
            session, request.app.state.settings, merge_id, actor=_actor(principal)
        )
        return IdeaMergeUndone(
            **_public(undone.merged).model_dump(),
            restored_votes=undone.restored_votes,
            removed_target_votes=undone.removed_target_votes,
            kept_target_votes=undone.kept_target_votes,
            restored_followers=undone.restored_followers,
            removed_target_followers=undone.removed_target_followers,
        )

    return await idempotency.run(undo, status_code=status.HTTP_200_OK)


@router.get("/v1/idea-merges/{merge_id}", responses=problem_responses(404))
async def get_idea_merge(merge_id: uuid.UUID, session: SessionDep, _: CurrentStaff) -> IdeaMergePublic:
    return _public(await service.get_merge(session, merge_id))


@router.get(
    "/v1/ideas/{idea_id}/merges",
    summary="Merges an idea took part in, as the duplicate or as the survivor, newest first",
    responses=problem_responses(404, 422),
)
async def list_idea_merges(
    idea_id: uuid.UUID,
    session: SessionDep,
    principal: CurrentStaff,
    after: Annotated[str | None, Query(max_length=500, pattern=NO_CONTROL_CHARACTERS)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> IdeaMergePage:
    merges, next_cursor = await service.merges_of_idea(session, idea_id, principal, after=after, limit=limit)
    return IdeaMergePage(items=[_public(summary) for summary in merges], next_cursor=next_cursor)
