import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from crm_common.auth import CurrentStaff, Principal, Role, require_roles
from crm_common.db import SessionDep
from crm_common.errors import FieldError, ValidationFailed, problem_responses
from crm_common.idempotency import IdempotencyDep
from crm_common.pagination import decode_cursor, encode_cursor
from crm_common.validation import NO_CONTROL_CHARACTERS
from feedback.comments import service as comments
from feedback.moderation import service
from feedback.moderation.schemas import (
    AuthorBlockCreate,
    AuthorBlockPage,
    AuthorBlockPublic,
    ModerationActionPage,
    ModerationActionPublic,
    ModerationDecision,
    ModerationOutcome,
    ModerationVerb,
    QueueItem,
    QueuePage,
    TargetKind,
)

router = APIRouter(prefix="/v1/moderation", tags=["moderation"], responses=problem_responses(401, 403))

# Admins and agents moderate; every staff role may read the queue, the blocks and the log.
Moderator = Annotated[Principal, require_roles(Role.ADMIN, Role.AGENT)]

After = Annotated[str | None, Query(max_length=500, pattern=NO_CONTROL_CHARACTERS)]
Limit = Annotated[int, Query(ge=1, le=200)]


def _actor(principal: Principal) -> str:
    return f"{principal.role.value}:{principal.subject}"


def _position(after: str | None) -> tuple[datetime, uuid.UUID] | None:
    key = decode_cursor(after)
    if key is None:
        return None
    try:
        return datetime.fromisoformat(str(key["at"])), uuid.UUID(str(key["id"]))
    except (KeyError, ValueError) as exc:
        raise ValidationFailed(
            "The cursor is not one this listing issued.",
            errors=[FieldError(field="query.after", message="invalid cursor", code="cursor_invalid")],
        ) from exc


def _cursor(at: datetime, key: uuid.UUID) -> str:
    return encode_cursor({"at": at.isoformat(), "id": str(key)})


@router.get("/queue", summary="Posts waiting for a moderator, oldest first, with the heuristics' findings")
async def moderation_queue(
    session: SessionDep,
    _: CurrentStaff,
    kind: Annotated[
        TargetKind | None, Query(description="Only ideas or only comments; both if absent.")
    ] = None,
    after: After = None,
    limit: Limit = 50,
) -> QueuePage:
    rows = await service.queue(session, kind=kind, after=_position(after), limit=limit + 1)
    page = rows[:limit]
    return QueuePage(
        items=[QueueItem.model_validate(row, from_attributes=True) for row in page],
        next_cursor=_cursor(page[-1].created_at, page[-1].id) if len(rows) > limit else None,
    )


@router.post(
    "/ideas/{idea_id}/{action}",
    response_model=ModerationOutcome,
    summary="Approve or reject a held idea, hide a published one, restore a hidden one",
    responses=problem_responses(404, 409, 422),
)
async def moderate_idea(
    idea_id: uuid.UUID,
    action: ModerationVerb,
    session: SessionDep,
    principal: Moderator,
    idempotency: IdempotencyDep,
    body: ModerationDecision | None = None,
) -> Response:
    async def moderate() -> ModerationOutcome:
        previous, idea, logged = await service.moderate_idea(
            session, idea_id, action=action, actor=_actor(principal), reason=body.reason if body else None
        )
        return ModerationOutcome(
            target_kind="idea",
            target_id=idea.id,
            previous_state=previous,
            moderation_state=idea.moderation_state,
            action=ModerationActionPublic.model_validate(logged),
        )

    return await idempotency.run(moderate, status_code=status.HTTP_200_OK)


@router.post(
    "/comments/{comment_id}/{action}",
    response_model=ModerationOutcome,
    summary="Approve or reject a held comment, hide a published one, restore a hidden one",
    responses=problem_responses(404, 409, 422),
)
async def moderate_comment(
    request: Request,
    comment_id: uuid.UUID,
    action: ModerationVerb,
    session: SessionDep,
    principal: Moderator,
    idempotency: IdempotencyDep,
    body: ModerationDecision | None = None,
) -> Response:
    async def moderate() -> ModerationOutcome:
        previous, comment, logged = await comments.moderate_comment(
            session,
            request.app.state.settings,
            comment_id,
            action=action,
            actor=_actor(principal),
            reason=body.reason if body else None,
        )
        return ModerationOutcome(
            target_kind="comment",
            target_id=comment.id,
            previous_state=previous,
            moderation_state=comment.moderation_state,
            action=ModerationActionPublic.model_validate(logged),
        )

    return await idempotency.run(moderate, status_code=status.HTTP_200_OK)


@router.post(
    "/blocks",
    status_code=status.HTTP_201_CREATED,
    response_model=AuthorBlockPublic,
    summary="Stop a customer from posting ideas and comments",
    responses=problem_responses(409, 422),
)
async def block_author(
    body: AuthorBlockCreate, session: SessionDep, principal: Moderator, idempotency: IdempotencyDep
) -> Response:
    async def block() -> AuthorBlockPublic:
        created = await service.block_author(
            session, customer_id=body.customer_id, reason=body.reason, actor=_actor(principal)
        )
        return AuthorBlockPublic.model_validate(created)

    return await idempotency.run(block, status_code=status.HTTP_201_CREATED)


@router.delete(
    "/blocks/{customer_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Let a blocked customer post again",
    responses=problem_responses(404),
)
async def unblock_author(customer_id: uuid.UUID, session: SessionDep, principal: Moderator) -> None:
    await service.unblock_author(session, customer_id=customer_id, actor=_actor(principal))


@router.get("/blocks", summary="Blocked customers, newest block first")
async def list_blocks(
    session: SessionDep, _: CurrentStaff, after: After = None, limit: Limit = 50
) -> AuthorBlockPage:
    rows = await service.list_blocks(session, after=_position(after), limit=limit + 1)
    page = rows[:limit]
    return AuthorBlockPage(
        items=[AuthorBlockPublic.model_validate(block) for block in page],
        next_cursor=_cursor(page[-1].blocked_at, page[-1].customer_id) if len(rows) > limit else None,
    )


@router.get("/actions", summary="The moderation log, newest first: of one target, or all")
async def list_actions(
    session: SessionDep,
    _: CurrentStaff,
    target_kind: Annotated[str | None, Query(pattern=r"^(idea|comment|author)$")] = None,
    target_id: uuid.UUID | None = None,
    after: After = None,
    limit: Limit = 50,
) -> ModerationActionPage:
    rows = await service.list_actions(
        session, target_kind=target_kind, target_id=target_id, after=_position(after), limit=limit + 1
    )
    page = rows[:limit]
    return ModerationActionPage(
        items=[ModerationActionPublic.model_validate(action) for action in page],
        next_cursor=_cursor(page[-1].acted_at, page[-1].id) if len(rows) > limit else None,
    )
