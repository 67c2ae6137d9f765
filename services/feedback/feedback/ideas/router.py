import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from crm_common.auth import CurrentCustomer, CurrentPrincipal, CurrentStaff, Principal, Role, require_roles
from crm_common.db import SessionDep
from crm_common.errors import Forbidden, problem_responses
from crm_common.idempotency import IdempotencyDep
from crm_common.pagination import BatchIds, BatchLimit
from crm_common.validation import NO_CONTROL_CHARACTERS
from feedback.ideas import service
from feedback.ideas.models import Idea
from feedback.ideas.schemas import (
    FollowPublic,
    IdeaCreate,
    IdeaPage,
    IdeaPageBatch,
    IdeaPublic,
    IdeaSort,
    IdeaSubmitted,
    IdeaUpdate,
    SimilarIdea,
    Slug,
    StatusChangeCreate,
    StatusChangePublic,
)

router = APIRouter(tags=["ideas"], responses=problem_responses(401, 403))

Steward = Annotated[Principal, require_roles(Role.ADMIN, Role.AGENT)]
ModerationStateQuery = Annotated[
    str | None, Query(pattern=r"^(pending|published|hidden|rejected)$", description="Staff only.")
]


def _reader(principal: Principal) -> Principal:
    if not (principal.is_staff or principal.role is Role.CUSTOMER):
        raise Forbidden("Ideas are read by customers and staff.")
    return principal


def _public(idea: Idea, principal: Principal, my_votes: dict[uuid.UUID, str] | None = None) -> IdeaPublic:
    public = IdeaPublic.model_validate(
        {**idea.model_dump(), "score": idea.top_score, "my_vote": (my_votes or {}).get(idea.id)}
    )
    if not principal.is_staff and idea.author_id != principal.customer_id:
        public.author_id = None
    return public


@router.post(
    "/v1/ideas",
    status_code=status.HTTP_201_CREATED,
    response_model=IdeaSubmitted,
    summary="Submit an idea (customer token); similar existing ideas come back with it",
    responses=problem_responses(409, 422, 429),
)
async def submit_idea(
    request: Request,
    body: IdeaCreate,
    session: SessionDep,
    customer: CurrentCustomer,
    idempotency: IdempotencyDep,
) -> Response:
    author_id = customer.customer_id
    assert author_id is not None

    async def submit() -> IdeaSubmitted:
        submitted = await service.submit_idea(
            session,
            request.app.state.settings,
            author_id=author_id,
            data=body,
        )
        return IdeaSubmitted(
            **_public(submitted.idea, customer).model_dump(),
            similar_ideas=[_similar(idea, similarity) for idea, similarity in submitted.similar],
        )

    return await idempotency.run(submit, status_code=status.HTTP_201_CREATED)


@router.get("/v1/ideas", summary="Ideas ranked by top (Wilson), trending (decayed activity) or newest")
async def list_ideas(
    session: SessionDep,
    principal: CurrentPrincipal,
    sort: IdeaSort = "top",
    status_filter: Annotated[
        list[Annotated[str, Query(pattern=r"^[a-z][a-z_]{0,29}$")]] | None, Query(alias="status")
    ] = None,
    category: Annotated[Slug | None, Query()] = None,
    tag: Annotated[Slug | None, Query()] = None,
    board: Annotated[Slug | None, Query()] = None,
    author_id: uuid.UUID | None = None,
    moderation_state: ModerationStateQuery = None,
    after: Annotated[str | None, Query(max_length=500, pattern=NO_CONTROL_CHARACTERS)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> IdeaPage:
    _reader(principal)
    if author_id is not None and not principal.is_staff and author_id != principal.customer_id:
        raise Forbidden("A customer token can only list its own ideas by author.")
    listing = await service.list_ideas(
        session,
        principal,
        sort=sort,
        limit=limit,
        after=after,
        statuses=status_filter,
        category=category,
        tag=tag,
        board=board,
        author_id=author_id,
        moderation_state=moderation_state,
    )
    my_votes = await service.my_votes(session, principal, [idea.id for idea in listing.ideas])
    return IdeaPage(
        items=[_public(idea, principal, my_votes) for idea in listing.ideas], next_cursor=listing.next_cursor
    )


@router.get("/v1/ideas:similar", summary="Published ideas with titles like the one being typed")
async def similar_ideas(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    title: Annotated[str, Query(min_length=3, max_length=200, pattern=NO_CONTROL_CHARACTERS)],
) -> list[SimilarIdea]:
    _reader(principal)
    found = await service.find_similar(session, request.app.state.settings, title)
    return [_similar(idea, similarity) for idea, similarity in found]


@router.get("/v1/ideas:batch", summary="Several ideas by id (for the gateway's loaders)")
async def get_ideas(
    session: SessionDep,
    principal: CurrentPrincipal,
    ids: Annotated[list[uuid.UUID], Query(min_length=1, max_length=200)],
) -> list[IdeaPublic]:
    _reader(principal)
    ideas = await service.get_many(session, ids, principal)
    my_votes = await service.my_votes(session, principal, [idea.id for idea in ideas])
    return [_public(idea, principal, my_votes) for idea in ideas]


@router.get(
    "/v1/customers:ideas",
    summary="The first page of ideas each customer authored, newest first (staff; one query for the batch)",
    description="For the gateway's loaders: each page is the one `/v1/ideas?author_id={id}&sort=newest` "
    "gives with the same `limit` and `moderation_state` (published by default; merged ideas left out), "
    "and its `next_cursor` continues there as `after`.",
    responses=problem_responses(422),
)
async def customers_ideas(
    session: SessionDep,
    principal: CurrentStaff,
    ids: BatchIds,
    moderation_state: ModerationStateQuery = None,
    limit: BatchLimit = 10,
) -> IdeaPageBatch:
    listings = await service.newest_by_authors(
        session, principal, ids, limit=limit, moderation_state=moderation_state
    )
    my_votes = await service.my_votes(
        session, principal, [idea.id for listing in listings.values() for idea in listing.ideas]
    )
    return IdeaPageBatch(
        items={
            str(author_id): IdeaPage(
                items=[_public(idea, principal, my_votes) for idea in listing.ideas],
                next_cursor=listing.next_cursor,
            )
            for author_id, listing in listings.items()
        }
    )


@router.get("/v1/ideas/{idea_id}", responses=problem_responses(404))
async def get_idea(idea_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> IdeaPublic:
    _reader(principal)
    idea = await service.get_visible_idea(session, idea_id, principal)
    return _public(idea, principal, await service.my_votes(session, principal, [idea.id]))


@router.patch(
    "/v1/ideas/{idea_id}",
    summary="Edit an idea: its author within the edit window, or staff",
    responses=problem_responses(404, 422, 429),
)
async def edit_idea(
    request: Request, idea_id: uuid.UUID, body: IdeaUpdate, session: SessionDep, principal: CurrentPrincipal
) -> IdeaPublic:
    _reader(principal)
    if principal.is_staff and principal.role not in (Role.ADMIN, Role.AGENT):
        raise Forbidden("Only admins and agents may edit ideas.")
    await service.get_visible_idea(session, idea_id, principal)
    idea = await service.edit_idea(session, request.app.state.settings, idea_id, principal, body)
    return _public(idea, principal)


@router.post(
    "/v1/ideas/{idea_id}/status",
    status_code=status.HTTP_201_CREATED,
    response_model=StatusChangePublic,
    summary="Move the idea through the workflow with an official response (voters and followers are told)",
    responses=problem_responses(404, 409, 422),
)
async def change_status(
    request: Request,
    idea_id: uuid.UUID,
    body: StatusChangeCreate,
    session: SessionDep,
    principal: Steward,
    idempotency: IdempotencyDep,
) -> Response:
    async def change() -> StatusChangePublic:
        recorded = await service.change_status(
            session,
            request.app.state.settings,
            idea_id,
            to_status=body.status,
            response=body.response,
            actor=f"{principal.role.value}:{principal.subject}",
        )
        return StatusChangePublic.model_validate(recorded)

    return await idempotency.run(change, status_code=status.HTTP_201_CREATED)


@router.get("/v1/ideas/{idea_id}/status-history", responses=problem_responses(404))
async def status_history(
    idea_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> list[StatusChangePublic]:
    _reader(principal)
    return [
        StatusChangePublic.model_validate(c)
        for c in await service.status_history(session, idea_id, principal)
    ]


@router.put(
    "/v1/ideas/{idea_id}/follow", summary="Follow an idea (idempotent)", responses=problem_responses(404)
)
async def follow_idea(idea_id: uuid.UUID, session: SessionDep, customer: CurrentCustomer) -> FollowPublic:
    await service.follow(session, idea_id, customer, following=True)
    return FollowPublic(idea_id=idea_id, following=True)


@router.delete(
    "/v1/ideas/{idea_id}/follow", summary="Stop following (idempotent)", responses=problem_responses(404)
)
async def unfollow_idea(idea_id: uuid.UUID, session: SessionDep, customer: CurrentCustomer) -> FollowPublic:
    await service.follow(session, idea_id, customer, following=False)
    return FollowPublic(idea_id=idea_id, following=False)


def _similar(idea: Idea, similarity: float) -> SimilarIdea:
    return SimilarIdea(
        id=idea.id,
        title=idea.title,
        status=idea.status,
        up_count=idea.up_count,
        similarity=round(similarity, 3),
    )
