"""Ideas: submission, editing, the status workflow, following and ranking. No SQL, no HTTP here."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.auth import Principal
from crm_common.errors import FieldError
from crm_common.events.outbox import record_event
from crm_common.pagination import decode_cursor, encode_cursor
from crm_common.ratelimit import Rate, enforce_rate
from feedback.boards.models import Board
from feedback.database import metadata
from feedback.ideas import repository
from feedback.ideas.errors import (
    BoardNotFound,
    EditWindowClosed,
    IdeaNotFound,
    NotTheAuthor,
    StatusChangeNotAllowed,
)
from feedback.ideas.models import Idea, IdeaStatusChange
from feedback.ideas.ranking import activity_key
from feedback.ideas.schemas import IdeaCreate, IdeaUpdate
from feedback.ideas.workflow import DUPLICATE, Workflow
from feedback.ideas.workflow import workflow as configured_workflow
from feedback.moderation import service as moderation
from feedback.notifications import service as notifications
from feedback.settings import FeedbackSettings

PRODUCER = "feedback"


def workflow(settings: FeedbackSettings) -> Workflow:
    """The configured status workflow."""
    return configured_workflow(settings)


@dataclass(frozen=True)
class SubmittedIdea:
    idea: Idea
    similar: list[tuple[Idea, float]]


async def submit_idea(
    session: AsyncSession, settings: FeedbackSettings, *, author_id: uuid.UUID, data: IdeaCreate
) -> SubmittedIdea:
    """A customer's new idea: checked for blocks, rate and spam, ranked, and followed by its author.

    Similar existing ideas are looked up first, so the app can offer to vote on one instead.
    """
    await moderation.ensure_may_post(session, author_id)
    await enforce_rate(
        session, metadata, caller=str(author_id), action="idea.submit", rate=Rate(*settings.idea_submit_rate)
    )
    board: Board | None
    if data.board is None or data.board == settings.default_board_slug:
        board = await repository.ensure_board(session, settings.default_board_slug)
    else:
        board = await repository.get_board_by_slug(session, data.board)
    if board is None:
        raise BoardNotFound(
            f"There is no board {data.board!r}.",
            errors=[FieldError(field="body.board", message="unknown board", code="board_not_found")],
        )
    assessment = await moderation.assess(
        session,
        settings,
        kind="idea",
        author_id=author_id,
        title=data.title,
        body=data.body,
        board_moderation_mode=board.moderation_mode,
    )
    similar = await repository.similar(
        session, data.title, limit=settings.similar_ideas_limit, threshold=settings.similar_ideas_threshold
    )
    now = datetime.now(UTC)
    idea = await repository.add(
        session,
        Idea(
            board_id=board.id,
            author_id=author_id,
            title=data.title,
            body=data.body,
            category=data.category,
            tags=list(dict.fromkeys(data.tags)),
            status=workflow(settings).initial,
            moderation_state=assessment.moderation_state,
            spam_score=assessment.spam_score,
            spam_reasons=assessment.reasons,
            text_hash=assessment.text_hash,
            trending_score=activity_key(now, settings.trending_half_life_hours),
            created_at=now,
            status_changed_at=now,
        ),
    )
    await repository.follow(session, idea.id, author_id)
    if assessment.moderation_state == "pending":
        await moderation.record_action(
            session,
            target_kind="idea",
            target_id=idea.id,
            action="hold",
            actor="heuristics",
            reason=", ".join(assessment.reasons) or f"board {board.slug} is pre-moderated",
        )
    await _publish(session, "idea.submitted", idea, {"moderation_state": idea.moderation_state})
    return SubmittedIdea(idea=idea, similar=similar)


async def find_similar(
    session: AsyncSession, settings: FeedbackSettings, title: str, *, exclude_id: uuid.UUID | None = None
) -> list[tuple[Idea, float]]:
    """Published ideas with titles like ``title`` (as the app types, before submitting)."""
    return await repository.similar(
        session,
        title,
        limit=settings.similar_ideas_limit,
        threshold=settings.similar_ideas_threshold,
        exclude_id=exclude_id,
    )


async def edit_idea(
    session: AsyncSession,
    settings: FeedbackSettings,
    idea_id: uuid.UUID,
    principal: Principal,
    data: IdeaUpdate,
) -> Idea:
    """The author edits within the edit window; staff may always correct an idea."""
    idea = await get_idea_for_update(session, idea_id)
    if not principal.is_staff:
        if principal.customer_id != idea.author_id:
            raise NotTheAuthor("Only the author may edit this idea.")
        window = timedelta(seconds=settings.idea_edit_window_seconds)
        if datetime.now(UTC) - idea.created_at > window:
            raise EditWindowClosed(f"Ideas can be edited for {settings.idea_edit_window_seconds} seconds.")
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if not changes:
        return idea
    for field, value in changes.items():
        setattr(idea, field, list(dict.fromkeys(value)) if field == "tags" else value)
    if not principal.is_staff and ("title" in changes or "body" in changes):
        assessment = await moderation.assess(
            session,
            settings,
            kind="idea",
            author_id=idea.author_id or uuid.uuid4(),
            title=idea.title,
            body=idea.body,
        )
        idea.text_hash = assessment.text_hash
        idea.spam_score = assessment.spam_score
        idea.spam_reasons = assessment.reasons
        if assessment.moderation_state == "pending" and idea.moderation_state == "published":
            idea.moderation_state = "pending"
            await moderation.record_action(
                session,
                target_kind="idea",
                target_id=idea.id,
                action="hold",
                actor="heuristics",
                reason=", ".join(assessment.reasons),
            )
    idea.edited_at = datetime.now(UTC)
    await session.flush()
    await _publish(session, "idea.edited", idea, {"fields": sorted(changes)})
    return idea


async def change_status(
    session: AsyncSession,
    settings: FeedbackSettings,
    idea_id: uuid.UUID,
    *,
    to_status: str,
    response: str | None,
    actor: str,
) -> IdeaStatusChange:
    """Move an idea through the workflow with an official response; voters and followers are told.

    The notification itself is fanned out by the worker (one event per recipient), so a change on an
    idea with 100,000 voters commits at once.
    """
    flow = workflow(settings)
    idea = await get_idea_for_update(session, idea_id)
    if to_status == DUPLICATE or not flow.can_move(idea.status, to_status):
        allowed = sorted(flow.transitions.get(idea.status, frozenset()))
        raise StatusChangeNotAllowed(
            f"An idea in status {idea.status!r} can move to {allowed}; {to_status!r} is not one of them"
            + (" (duplicates are made by merging ideas)." if to_status == DUPLICATE else "."),
            errors=[
                FieldError(field="body.status", message="not allowed from " + idea.status, code="workflow")
            ],
        )
    change = await record_status_change(
        session, idea, to_status=to_status, response=response, actor=actor, settings=settings
    )
    return change


async def record_status_change(
    session: AsyncSession,
    idea: Idea,
    *,
    to_status: str,
    response: str | None,
    actor: str,
    settings: FeedbackSettings,
) -> IdeaStatusChange:
    """Set the (locked) idea's status, keep the history, publish and schedule the notifications.

    Also used by idea merges (to and from ``duplicate``), which bypass the workflow's moves.
    """
    from_status = idea.status
    now = datetime.now(UTC)
    change = await repository.add_status_change(
        session,
        IdeaStatusChange(
            idea_id=idea.id,
            from_status=from_status,
            to_status=to_status,
            response=response,
            changed_by=actor,
            changed_at=now,
        ),
    )
    idea.status = to_status
    idea.status_changed_at = now
    await session.flush()
    await _publish(
        session,
        "idea.status_changed",
        idea,
        {
            "status_change_id": str(change.id),
            "from_status": from_status,
            "to_status": to_status,
            "response": response,
            "changed_by": actor,
            "closed": workflow(settings).is_closed(to_status),
        },
    )
    await notifications.schedule_status_notifications(session, idea_id=idea.id, status_change_id=change.id)
    return change


async def status_history(
    session: AsyncSession, idea_id: uuid.UUID, principal: Principal
) -> list[IdeaStatusChange]:
    await get_visible_idea(session, idea_id, principal)
    return await repository.status_history(session, idea_id)


async def get_idea_for_update(session: AsyncSession, idea_id: uuid.UUID) -> Idea:
    """The idea with its row locked until the transaction ends; 404 when unknown."""
    idea = await repository.get_for_update(session, idea_id)
    if idea is None:
        raise IdeaNotFound(f"There is no idea {idea_id}.")
    return idea


def is_visible_to(idea: Idea, principal: Principal) -> bool:
    """Staff see every idea; customers see published ones and their own."""
    return (
        principal.is_staff or idea.moderation_state == "published" or idea.author_id == principal.customer_id
    )


async def get_visible_idea(session: AsyncSession, idea_id: uuid.UUID, principal: Principal) -> Idea:
    """The idea if the caller may see it; otherwise 404 (a hidden idea does not reveal it exists)."""
    idea = await repository.get(session, idea_id)
    if idea is None or not is_visible_to(idea, principal):
        raise IdeaNotFound(f"There is no idea {idea_id}.")
    return idea


async def get_many(session: AsyncSession, idea_ids: list[uuid.UUID], principal: Principal) -> list[Idea]:
    """The visible ones among ``idea_ids`` (for batch readers such as the gateway)."""
    return [idea for idea in await repository.get_many(session, idea_ids) if is_visible_to(idea, principal)]


async def set_moderation_state(session: AsyncSession, idea_id: uuid.UUID, state: str) -> Idea:
    """Publish, hold, hide or reject an idea (moderation decides when)."""
    idea = await get_idea_for_update(session, idea_id)
    idea.moderation_state = state
    await session.flush()
    return idea


async def recount(
    session: AsyncSession, idea_ids: list[uuid.UUID], *, settings: FeedbackSettings | None = None
) -> None:
    """Recompute counts and ranking keys of the ideas from their vote and comment rows."""
    half_life = (settings or FeedbackSettings.model_construct()).trending_half_life_hours
    await repository.recount(session, sorted(set(idea_ids)), half_life_hours=half_life)


async def record_comment(
    session: AsyncSession,
    idea_id: uuid.UUID,
    *,
    delta: int,
    at: datetime,
    settings: FeedbackSettings | None = None,
) -> None:
    """A published comment appeared (delta 1) or went away (-1): count and trending move with it.

    Call with the idea row already locked (``get_idea_for_update``).
    """
    half_life = (settings or FeedbackSettings.model_construct()).trending_half_life_hours
    await repository.record_comment(session, idea_id, delta=delta, at=at, half_life_hours=half_life)


async def follow(session: AsyncSession, idea_id: uuid.UUID, principal: Principal, *, following: bool) -> None:
    """Start or stop following an idea (idempotent)."""
    await get_visible_idea(session, idea_id, principal)
    assert principal.customer_id is not None
    if following:
        await repository.follow(session, idea_id, principal.customer_id)
    else:
        await repository.unfollow(session, idea_id, principal.customer_id)


async def is_following(session: AsyncSession, idea_id: uuid.UUID, customer_id: uuid.UUID) -> bool:
    return await repository.is_following(session, idea_id, customer_id)


async def upvotes_received(session: AsyncSession, author_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Up votes on each author's published ideas (an input of the advocate score)."""
    return await repository.upvotes_received(session, author_ids)


@dataclass(frozen=True)
class IdeaListing:
    ideas: list[Idea]
    next_cursor: str | None


async def list_ideas(
    session: AsyncSession,
    principal: Principal,
    *,
    sort: str,
    limit: int,
    after: str | None,
    statuses: list[str] | None,
    category: str | None,
    tag: str | None,
    board: str | None,
    author_id: uuid.UUID | None,
    moderation_state: str | None,
) -> IdeaListing:
    """A page of ideas in ``top``/``trending``/``newest`` order. Customers see only published ideas."""
    if not principal.is_staff:
        moderation_state = "published"
    key = decode_cursor(after)
    after_key: tuple[Any, uuid.UUID] | None = None
    if key is not None:
        after_key = _cursor_key(sort, key)
    board_id = None
    if board is not None:
        found = await repository.get_board_by_slug(session, board)
        if found is None:
            return IdeaListing(ideas=[], next_cursor=None)
        board_id = found.id
    ideas = await repository.list_ideas(
        session,
        sort=sort,
        limit=limit + 1,
        after=after_key,
        statuses=statuses,
        category=category,
        tag=tag,
        board_id=board_id,
        author_id=author_id,
        moderation_state=moderation_state or "published",
    )
    return _listing(ideas, limit, sort)


async def newest_by_authors(
    session: AsyncSession,
    principal: Principal,
    author_ids: Sequence[uuid.UUID],
    *,
    limit: int,
    moderation_state: str | None = None,
) -> dict[uuid.UUID, IdeaListing]:
    """The first page of each author's ideas as :func:`list_ideas` gives it with ``author_id`` and
    ``sort="newest"`` (the same visibility; its cursor continues there), for a batch of authors in one
    query (the gateway's loaders); every requested author is a key."""
    if not principal.is_staff:
        moderation_state = "published"
    pages = await repository.newest_by_authors(
        session,
        list(dict.fromkeys(author_ids)),
        per_author=limit + 1,
        moderation_state=moderation_state or "published",
    )
    return {author_id: _listing(ideas, limit, "newest") for author_id, ideas in pages.items()}


def _listing(ideas: list[Idea], limit: int, sort: str) -> IdeaListing:
    """The first ``limit`` of ``ideas`` (fetched one over) and the cursor after them, if more follow."""
    if len(ideas) <= limit:
        return IdeaListing(ideas=ideas, next_cursor=None)
    ideas = ideas[:limit]
    last = ideas[-1]
    value: Any = {"top": last.top_score, "trending": last.trending_score, "newest": last.created_at}[sort]
    return IdeaListing(ideas=ideas, next_cursor=encode_cursor({"s": sort, "k": value, "id": str(last.id)}))


def _cursor_key(sort: str, key: dict[str, Any]) -> tuple[Any, uuid.UUID]:
    from crm_common.errors import ValidationFailed

    try:
        if key.get("s") != sort:
            raise ValueError("cursor from another sort order")
        idea_id = uuid.UUID(str(key["id"]))
        value: Any = datetime.fromisoformat(key["k"]) if sort == "newest" else float(key["k"])
    except (KeyError, ValueError, TypeError) as exc:
        raise ValidationFailed(
            "The cursor is not one this listing issued.",
            errors=[FieldError(field="query.after", message="invalid cursor", code="cursor_invalid")],
        ) from exc
    return value, idea_id


async def _publish(session: AsyncSession, event_type: str, idea: Idea, extra: dict[str, Any]) -> None:
    await record_event(
        session,
        metadata,
        producer=PRODUCER,
        event_type=event_type,
        subject_id=str(idea.id),
        payload={
            "idea_id": str(idea.id),
            "board_id": str(idea.board_id),
            "author_id": str(idea.author_id) if idea.author_id else None,
            "title": idea.title,
            "category": idea.category,
            "tags": idea.tags,
            "status": idea.status,
            "up_count": idea.up_count,
            "down_count": idea.down_count,
            **extra,
        },
    )


async def my_votes(
    session: AsyncSession, principal: Principal, idea_ids: list[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The calling customer's vote on each idea (empty for staff)."""
    from feedback.votes import service as votes  # votes builds on ideas; import here to keep the order

    if principal.customer_id is None or not idea_ids:
        return {}
    return dict(await votes.directions(session, principal.customer_id, idea_ids))
