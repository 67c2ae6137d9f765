"""Comments on ideas: posting (checked for blocks, rate and spam), threads, edits, moderation.

An idea's ``comment_count`` and trending key count its published comments; every change of a
comment into or out of ``published`` moves them in the same transaction, with the idea row locked
first (the idea, then the comment: one lock order for posting, editing and moderating).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.auth import Principal
from crm_common.errors import FieldError, ValidationFailed
from crm_common.events.outbox import record_event
from crm_common.pagination import decode_cursor, encode_cursor
from crm_common.ratelimit import Rate, enforce_rate
from feedback.comments import repository
from feedback.comments.errors import (
    CommentNotEditable,
    CommentNotFound,
    EditWindowClosed,
    InvalidParent,
    NotTheAuthor,
)
from feedback.comments.models import Comment
from feedback.comments.schemas import CommentCreate, CommentUpdate
from feedback.database import metadata
from feedback.ideas import service as ideas
from feedback.moderation import service as moderation
from feedback.moderation.models import ModerationAction
from feedback.settings import FeedbackSettings

PRODUCER = "feedback"
RATE_ACTION = "comment"
# Replies shown under each top-level comment in a thread page; reply_count tells the rest.
REPLIES_PER_THREAD = 20
PUBLISHED, PENDING = "published", "pending"


@dataclass(frozen=True)
class Thread:
    comment: Comment
    replies: list[Comment]
    reply_count: int


@dataclass(frozen=True)
class ThreadListing:
    threads: list[Thread]
    next_cursor: str | None


@dataclass(frozen=True)
class CommentListing:
    comments: list[Comment]
    next_cursor: str | None


def _invalid_parent(message: str, code: str) -> InvalidParent:
    return InvalidParent(message, errors=[FieldError(field="body.parent_id", message=message, code=code)])


def may_see(comment: Comment, principal: Principal) -> bool:
    """Staff see every comment; a customer the published ones and their own pending ones."""
    if principal.is_staff or comment.moderation_state == PUBLISHED:
        return True
    return comment.moderation_state == PENDING and comment.author_id == principal.customer_id


async def post_comment(
    session: AsyncSession,
    settings: FeedbackSettings,
    principal: Principal,
    idea_id: uuid.UUID,
    data: CommentCreate,
) -> Comment:
    """A customer's or staff member's comment on an idea the caller can see.

    A customer's comment is checked against blocks, the comment rate and the spam heuristics, and may
    wait for a moderator; a staff comment is official and published at once. A published comment
    counts in the idea's comment count and trending key. Emits ``comment.posted``.
    """
    idea = await ideas.get_visible_idea(session, idea_id, principal)
    customer_id = principal.customer_id
    if customer_id is not None:
        await moderation.ensure_may_post(session, customer_id)
    if data.parent_id is not None:
        parent = await repository.get(session, data.parent_id)
        if parent is None or parent.idea_id != idea_id or not may_see(parent, principal):
            raise _invalid_parent(f"There is no comment {data.parent_id} on this idea.", "parent_not_found")
        if parent.parent_id is not None:
            raise _invalid_parent(
                "Replies cannot be replied to; reply to the top-level comment instead.", "reply_to_reply"
            )

    state, spam_score = PUBLISHED, 0.0
    assessment: moderation.Assessment | None = None
    if customer_id is not None:
        await enforce_rate(
            session, metadata, caller=str(customer_id), action=RATE_ACTION, rate=Rate(*settings.comment_rate)
        )
        assessment = await moderation.assess(
            session,
            settings,
            kind="comment",
            author_id=customer_id,
            title=None,
            body=data.body,
            board_moderation_mode=await moderation.board_moderation_mode(session, idea.board_id),
        )
        state, spam_score = assessment.moderation_state, assessment.spam_score

    if state == PUBLISHED:
        await ideas.get_idea_for_update(session, idea_id)
    comment = await repository.add(
        session,
        Comment(
            idea_id=idea_id,
            parent_id=data.parent_id,
            author_kind="customer" if customer_id is not None else "staff",
            author_id=customer_id,
            staff_subject=None if customer_id is not None else principal.subject,
            body=data.body,
            moderation_state=state,
            spam_score=spam_score,
            created_at=datetime.now(UTC),
        ),
    )
    if state == PUBLISHED:
        await ideas.record_comment(session, idea_id, delta=1, at=comment.created_at, settings=settings)
    elif assessment is not None:
        await moderation.record_hold(
            session, target_kind="comment", target_id=comment.id, assessment=assessment
        )
    await _publish(session, "comment.posted", comment, {})
    return comment


async def list_thread(
    session: AsyncSession, principal: Principal, idea_id: uuid.UUID, *, after: str | None, limit: int
) -> ThreadListing:
    """The idea's top-level comments oldest first, each with its first replies and reply count."""
    await ideas.get_visible_idea(session, idea_id, principal)
    reader = None if principal.is_staff else principal.customer_id
    rows = await repository.top_level(
        session, idea_id, reader=reader, after=_position(after), limit=limit + 1
    )
    page = rows[:limit]
    replies, counts = await repository.first_replies(
        session, [c.id for c in page], reader=reader, per_parent=REPLIES_PER_THREAD
    )
    by_parent: dict[uuid.UUID, list[Comment]] = {}
    for reply in replies:
        assert reply.parent_id is not None
        by_parent.setdefault(reply.parent_id, []).append(reply)
    threads = [
        Thread(comment=c, replies=by_parent.get(c.id, []), reply_count=counts.get(c.id, 0)) for c in page
    ]
    return ThreadListing(threads=threads, next_cursor=_cursor(page[-1]) if len(rows) > limit else None)


async def comments_by_author(
    session: AsyncSession, author_id: uuid.UUID, *, after: str | None, limit: int
) -> CommentListing:
    """Everything the customer wrote, in every state, newest first (the customer-360 view)."""
    rows = await repository.by_author(session, author_id, after=_position(after), limit=limit + 1)
    return _listing(rows, limit)


async def comments_by_authors(
    session: AsyncSession, author_ids: Sequence[uuid.UUID], *, limit: int
) -> dict[uuid.UUID, CommentListing]:
    """The first page of each customer's comments as :func:`comments_by_author` gives it (its cursor
    continues there), for a batch of customers in one query; every requested customer is a key."""
    pages = await repository.first_pages_by_authors(
        session, list(dict.fromkeys(author_ids)), per_author=limit + 1
    )
    return {author_id: _listing(rows, limit) for author_id, rows in pages.items()}


def _listing(rows: list[Comment], limit: int) -> CommentListing:
    page = rows[:limit]
    return CommentListing(comments=page, next_cursor=_cursor(page[-1]) if len(rows) > limit else None)


async def edit_comment(
    session: AsyncSession,
    settings: FeedbackSettings,
    principal: Principal,
    comment_id: uuid.UUID,
    data: CommentUpdate,
) -> Comment:
    """The author rewrites their comment within ``idea_edit_window_seconds``.

    A customer's new text goes through the heuristics again (posting a harmless comment and then
    editing links into it is an old trick): if it scores a hold, a published comment goes back to
    the queue and out of the idea's count.
    """
    found = await repository.get(session, comment_id)
    if found is None or not (may_see(found, principal) or _is_author(found, principal)):
        raise CommentNotFound(f"There is no comment {comment_id}.")
    if not _is_author(found, principal):
        raise NotTheAuthor("Only the author may edit this comment.")
    if datetime.now(UTC) - found.created_at > timedelta(seconds=settings.idea_edit_window_seconds):
        raise EditWindowClosed(f"Comments can be edited for {settings.idea_edit_window_seconds} seconds.")

    idea = await ideas.get_idea_for_update(session, found.idea_id)
    comment = await repository.get_for_update(session, comment_id)
    assert comment is not None  # comments are never deleted
    if comment.moderation_state not in (PUBLISHED, PENDING):
        raise CommentNotEditable(
            f"A {comment.moderation_state} comment cannot be edited.",
            moderation_state=comment.moderation_state,
        )
    comment.body = data.body
    comment.edited_at = datetime.now(UTC)
    if comment.author_id is not None:
        assessment = await moderation.assess(
            session,
            settings,
            kind="comment",
            author_id=comment.author_id,
            title=None,
            body=data.body,
            board_moderation_mode=await moderation.board_moderation_mode(session, idea.board_id),
            exclude_comment_id=comment.id,
        )
        comment.spam_score = assessment.spam_score
        if assessment.held and comment.moderation_state == PUBLISHED:
            await _change_state(session, settings, comment, PENDING)
            await moderation.record_hold(
                session, target_kind="comment", target_id=comment.id, assessment=assessment
            )
            await _publish(
                session, "comment.moderated", comment, {"from_state": PUBLISHED, "action": moderation.HOLD}
            )
    await session.flush()
    return comment


async def moderate_comment(
    session: AsyncSession,
    settings: FeedbackSettings,
    comment_id: uuid.UUID,
    *,
    action: str,
    actor: str,
    reason: str | None,
) -> tuple[str, Comment, ModerationAction]:
    """Apply a moderator's ``action`` (approve, reject, hide, restore) and log it.

    Returns the previous state, the comment and the logged action; 404 for an unknown comment, 409
    when the action does not apply to the comment's state. Emits ``comment.moderated``.
    """
    found = await repository.get(session, comment_id)
    if found is None:
        raise CommentNotFound(f"There is no comment {comment_id}.")
    await ideas.get_idea_for_update(session, found.idea_id)
    comment = await repository.get_for_update(session, comment_id)
    assert comment is not None  # comments are never deleted
    previous = comment.moderation_state
    await _change_state(session, settings, comment, moderation.next_state(previous, action))
    logged = await moderation.record_action(
        session, target_kind="comment", target_id=comment.id, action=action, actor=actor, reason=reason
    )
    await _publish(session, "comment.moderated", comment, {"from_state": previous, "action": action})
    return previous, comment, logged


async def _change_state(
    session: AsyncSession, settings: FeedbackSettings, comment: Comment, state: str
) -> None:
    """Set the state; the (locked) idea's count and trending follow publication in and out."""
    was_published = comment.moderation_state == PUBLISHED
    comment.moderation_state = state
    await session.flush()
    if was_published != (state == PUBLISHED):
        await ideas.record_comment(
            session,
            comment.idea_id,
            delta=-1 if was_published else 1,
            at=comment.created_at,
            settings=settings,
        )


def _is_author(comment: Comment, principal: Principal) -> bool:
    if principal.is_staff:
        return comment.author_kind == "staff" and comment.staff_subject == principal.subject
    return comment.author_id is not None and comment.author_id == principal.customer_id


async def _publish(session: AsyncSession, event_type: str, comment: Comment, extra: dict[str, Any]) -> None:
    # Ids and facts, never the text: consumers that need it ask the API, which applies visibility.
    await record_event(
        session,
        metadata,
        producer=PRODUCER,
        event_type=event_type,
        subject_id=str(comment.id),
        payload={
            "comment_id": str(comment.id),
            "idea_id": str(comment.idea_id),
            "author_id": str(comment.author_id) if comment.author_id else None,
            "author_kind": comment.author_kind,
            "parent_id": str(comment.parent_id) if comment.parent_id else None,
            "moderation_state": comment.moderation_state,
            **extra,
        },
    )


def _cursor(comment: Comment) -> str:
    return encode_cursor({"at": comment.created_at.isoformat(), "id": str(comment.id)})


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


# --- customer lifecycle (wired to identity's events by the consumers) -----------------------------


async def move_customer(
    session: AsyncSession, *, merge_id: uuid.UUID, from_id: uuid.UUID, to_id: uuid.UUID
) -> None:
    """identity merged ``from_id`` into ``to_id``: their comments follow, each recorded under
    ``merge_id`` so :func:`restore_customer` moves exactly those back. Safe to repeat."""
    await repository.move_author(session, merge_id=merge_id, from_id=from_id, to_id=to_id)


async def restore_customer(session: AsyncSession, *, merge_id: uuid.UUID, restored_id: uuid.UUID) -> None:
    """identity undid the merge: the comments it moved return to ``restored_id``. Safe to repeat."""
    await repository.restore_author(session, merge_id=merge_id, restored_id=restored_id)


async def erase_customer(session: AsyncSession, *, customer_ids: list[uuid.UUID]) -> None:
    """identity erased the customers: their comments stay, anonymised (no author). Safe to repeat."""
    await repository.anonymise(session, customer_ids)
