import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from crm_common.auth import CurrentPrincipal, CurrentStaff, Principal, Role, ensure_staff_or_self
from crm_common.db import SessionDep
from crm_common.errors import Forbidden, problem_responses
from crm_common.idempotency import IdempotencyDep
from crm_common.pagination import BatchIds, BatchLimit
from crm_common.validation import NO_CONTROL_CHARACTERS
from feedback.comments import service
from feedback.comments.models import Comment
from feedback.comments.schemas import (
    CommentCreate,
    CommentPage,
    CommentPageBatch,
    CommentPublic,
    CommentThread,
    CommentThreadPage,
    CommentUpdate,
)

router = APIRouter(tags=["comments"], responses=problem_responses(401, 403))

# Staff who answer customers on the idea board; analysts only read.
STAFF_WRITERS = frozenset({Role.ADMIN, Role.AGENT, Role.MARKETER})

After = Annotated[str | None, Query(max_length=500, pattern=NO_CONTROL_CHARACTERS)]
Limit = Annotated[int, Query(ge=1, le=100)]


def _reader(principal: Principal) -> Principal:
    if not (principal.is_staff or principal.role is Role.CUSTOMER):
        raise Forbidden("Comments are read by customers and staff.")
    return principal


def _writer(principal: Principal) -> Principal:
    if principal.role is Role.CUSTOMER or principal.role in STAFF_WRITERS:
        return principal
    raise Forbidden("Comments are written by customers, and by admins, agents and marketers.")


def _public(comment: Comment, principal: Principal) -> CommentPublic:
    staff = principal.is_staff
    own = comment.author_id is not None and comment.author_id == principal.customer_id
    return CommentPublic(
        id=comment.id,
        idea_id=comment.idea_id,
        parent_id=comment.parent_id,
        author_kind=comment.author_kind,
        author_id=comment.author_id if staff or own else None,
        staff_subject=comment.staff_subject if staff else None,
        official=comment.author_kind == "staff",
        body=comment.body,
        moderation_state=comment.moderation_state,
        spam_score=comment.spam_score if staff else None,
        created_at=comment.created_at,
        edited_at=comment.edited_at,
    )


@router.post(
    "/v1/ideas/{idea_id}/comments",
    status_code=status.HTTP_201_CREATED,
    response_model=CommentPublic,
    summary="Comment on an idea or reply to a comment (customers; staff comments are official)",
    responses=problem_responses(404, 409, 422, 429),
)
async def post_comment(
    request: Request,
    idea_id: uuid.UUID,
    body: CommentCreate,
    session: SessionDep,
    principal: CurrentPrincipal,
    idempotency: IdempotencyDep,
) -> Response:
    _writer(principal)

    async def post() -> CommentPublic:
        comment = await service.post_comment(session, request.app.state.settings, principal, idea_id, body)
        return _public(comment, principal)

    return await idempotency.run(post, status_code=status.HTTP_201_CREATED)


@router.get(
    "/v1/ideas/{idea_id}/comments",
    summary="The idea's comments, oldest first, each with its first replies",
    responses=problem_responses(404),
)
async def list_comments(
    idea_id: uuid.UUID,
    session: SessionDep,
    principal: CurrentPrincipal,
    after: After = None,
    limit: Limit = 20,
) -> CommentThreadPage:
    _reader(principal)
    listing = await service.list_thread(session, principal, idea_id, after=after, limit=limit)
    return CommentThreadPage(
        items=[
            CommentThread(
                **_public(thread.comment, principal).model_dump(),
                replies=[_public(reply, principal) for reply in thread.replies],
                reply_count=thread.reply_count,
            )
            for thread in listing.threads
        ],
        next_cursor=listing.next_cursor,
    )


@router.get("/v1/comments", summary="A customer's comments on every idea, newest first (customer 360)")
async def comments_by_author(
    session: SessionDep,
    principal: CurrentPrincipal,
    author_id: uuid.UUID,
    after: After = None,
    limit: Limit = 20,
) -> CommentPage:
    ensure_staff_or_self(principal, author_id)
    listing = await service.comments_by_author(session, author_id, after=after, limit=limit)
    return CommentPage(
        items=[_public(comment, principal) for comment in listing.comments], next_cursor=listing.next_cursor
    )


@router.get(
    "/v1/customers:comments",
    summary="The first page of each customer's comments, newest first (staff; one query for the batch)",
    description="For the gateway's loaders: each page is the one `/v1/comments?author_id={id}` gives "
    "with the same `limit` (every moderation state, as staff see it), and its `next_cursor` continues "
    "there as `after`.",
    responses=problem_responses(422),
)
async def customers_comments(
    session: SessionDep, principal: CurrentStaff, ids: BatchIds, limit: BatchLimit = 10
) -> CommentPageBatch:
    listings = await service.comments_by_authors(session, ids, limit=limit)
    return CommentPageBatch(
        items={
            str(author_id): CommentPage(
                items=[_public(comment, principal) for comment in listing.comments],
                next_cursor=listing.next_cursor,
            )
            for author_id, listing in listings.items()
        }
    )


@router.patch(
    "/v1/comments/{comment_id}",
    summary="Rewrite a comment: its author, within the edit window",
    responses=problem_responses(404, 409, 422),
)
async def edit_comment(
    request: Request,
    comment_id: uuid.UUID,
    body: CommentUpdate,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> CommentPublic:
    _writer(principal)
    comment = await service.edit_comment(session, request.app.state.settings, principal, comment_id, body)
    return _public(comment, principal)
