"""Merging duplicate ideas: the duplicate's voters and followers move to the surviving idea, each
exactly once, and the merge can be undone exactly. No SQL and no HTTP here.

Rules:
- Any idea not merged already may be merged into any other idea that is published and not a
  duplicate itself. A closed target (launched, declined) is allowed: the duplicate's votes still move
  to it, as the history of who wanted it (votes on closed ideas count against no budget). The target
  may be on another board; budgets are not applied to votes a merge moves.
- A customer who voted on both ideas keeps one vote: their target vote stands, the duplicate's is
  recorded as dropped. Followers likewise (``already``).
- Undo puts every recorded vote and follower back on the duplicate as it was (a customer identity
  merged since gets it under the customer that holds their votes now) and takes the moved ones off the
  target — unless the customer changed that vote on the target since: it is theirs now and stays.
  Merges are undone last-first: while the target is itself merged into another idea, its undo must
  come first, so every vote is found where this merge put it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.auth import Principal
from crm_common.errors import FieldError, ValidationFailed
from crm_common.events.outbox import record_event
from crm_common.pagination import decode_cursor, encode_cursor
from feedback.database import metadata
from feedback.idea_merges import repository
from feedback.idea_merges.errors import (
    IdeaAlreadyMerged,
    IdeaMergeAlreadyUndone,
    IdeaMergeNotFound,
    IdeaMergeUndoBlocked,
    MergeIntoItself,
    MergeTargetMerged,
    MergeTargetNotPublished,
)
from feedback.idea_merges.models import IdeaMerge
from feedback.ideas import service as ideas
from feedback.ideas.models import Idea
from feedback.ideas.workflow import DUPLICATE
from feedback.settings import FeedbackSettings

PRODUCER = "feedback"


@dataclass(frozen=True)
class MergeSummary:
    merge: IdeaMerge
    moved_votes: int
    dropped_votes: int
    moved_followers: int
    already_following: int


@dataclass(frozen=True)
class UndoSummary:
    merged: MergeSummary
    restored_votes: int
    removed_target_votes: int
    kept_target_votes: int
    restored_followers: int
    removed_target_followers: int


async def merge_ideas(
    session: AsyncSession,
    settings: FeedbackSettings,
    source_id: uuid.UUID,
    *,
    into_id: uuid.UUID,
    response: str | None,
    actor: str,
) -> MergeSummary:
    """Fold the duplicate ``source_id`` into ``into_id`` (rules in the module docstring).

    Both idea rows are locked in id order, so merges and votes touching either idea wait for each
    other and two merges of the same duplicate cannot both succeed. Tallies of both are recounted.
    """
    if source_id == into_id:
        raise MergeIntoItself(
            "An idea cannot be merged into itself.",
            errors=[
                FieldError(field="body.into_idea_id", message="same as the idea merged", code="same_idea")
            ],
        )
    source, target = await _lock_pair(session, source_id, into_id)
    if source.merged_into_id is not None or source.status == DUPLICATE:
        raise IdeaAlreadyMerged(f"Idea {source_id} was already merged into {source.merged_into_id}.")
    if target.merged_into_id is not None or target.status == DUPLICATE:
        raise MergeTargetMerged(
            f"Idea {into_id} was itself merged into {target.merged_into_id}; merge into that one instead."
        )
    if target.moderation_state != "published":
        raise MergeTargetNotPublished(
            f"Idea {into_id} is {target.moderation_state}; voters can only be moved to a published idea."
        )
    merge = await repository.add(
        session,
        IdeaMerge(
            source_idea_id=source_id,
            target_idea_id=into_id,
            source_prior_status=source.status,
            merged_by=actor,
        ),
    )
    moved_votes, dropped_votes = await repository.move_votes(
        session, merge.id, source_id=source_id, target_id=into_id
    )
    moved_followers, already_following = await repository.move_followers(
        session, merge.id, source_id=source_id, target_id=into_id
    )
    await ideas.recount(session, [source_id, into_id], settings=settings)
    await session.refresh(source)  # the recount rewrote its tallies in SQL
    source.merged_into_id = into_id
    await ideas.record_status_change(
        session, source, to_status=DUPLICATE, response=response, actor=actor, settings=settings
    )
    summary = MergeSummary(merge, moved_votes, dropped_votes, moved_followers, already_following)
    await _publish(
        session,
        "idea.merged",
        merge,
        {
            "moved_votes": moved_votes,
            "dropped_votes": dropped_votes,
            "moved_followers": moved_followers,
            "already_following": already_following,
            "response": response,
            "merged_by": actor,
        },
    )
    return summary


async def undo_merge(
    session: AsyncSession, settings: FeedbackSettings, merge_id: uuid.UUID, *, actor: str
) -> UndoSummary:
    """Restore exactly the duplicate's voters and followers and its status (rules in the module
    docstring); both tallies are recounted. A merge is undone once."""
    # customers builds on idea merges (its erasure calls erase_customer here); import here to keep
    # the import order one way.
    from feedback.customers import service as customers

    merge = await repository.get(session, merge_id, for_update=True)
    if merge is None:
        raise IdeaMergeNotFound(f"There is no idea merge {merge_id}.")
    if merge.undone_at is not None:
        raise IdeaMergeAlreadyUndone(f"Merge {merge_id} was undone at {merge.undone_at.isoformat()}.")
    source, target = await _lock_pair(session, merge.source_idea_id, merge.target_idea_id)
    if target.merged_into_id is not None:
        later = await repository.active_merge_of(session, target.id)
        raise IdeaMergeUndoBlocked(
            f"Idea {target.id} was merged into {target.merged_into_id} since;"
            f" undo merge {later.id if later else 'of it'} first."
        )
    if source.merged_into_id != target.id:
        raise IdeaMergeUndoBlocked(f"Idea {source.id} is no longer merged into {target.id}.")

    votes = await repository.recorded_votes(session, merge.id)
    follows = await repository.recorded_followers(session, merge.id)
    current = await customers.current_customer_ids(
        session, {row.customer_id for row in votes} | {row.customer_id for row in follows}
    )
    # One vote per customer holding them now: their own recorded vote wins, then the latest.
    chosen: dict[uuid.UUID, tuple[int, datetime]] = {}
    for row in sorted(votes, key=lambda r: (current[r.customer_id] == r.customer_id, r.cast_at)):
        chosen[current[row.customer_id]] = (row.direction, row.cast_at)
    restored_votes = await repository.put_votes(
        session, source.id, [(customer, direction, at) for customer, (direction, at) in chosen.items()]
    )
    moved = [(current[r.customer_id], r.direction, r.cast_at) for r in votes if r.outcome == "moved"]
    removed = await repository.remove_unchanged_votes(session, target.id, moved)
    kept = await repository.voters_among(session, target.id, {customer for customer, _, _ in moved} - removed)

    followed: dict[uuid.UUID, datetime] = {}
    for follow in sorted(follows, key=lambda r: (current[r.customer_id] == r.customer_id, r.followed_at)):
        followed[current[follow.customer_id]] = follow.followed_at
    restored_followers = await repository.put_follows(session, source.id, list(followed.items()))
    removed_followers = await repository.remove_unchanged_follows(
        session, target.id, [(current[r.customer_id], r.followed_at) for r in follows if r.outcome == "moved"]
    )

    await ideas.recount(session, [source.id, target.id], settings=settings)
    await session.refresh(source)
    source.merged_into_id = None
    await ideas.record_status_change(
        session, source, to_status=merge.source_prior_status, response=None, actor=actor, settings=settings
    )
    merge.undone_at = datetime.now(UTC)
    merge.undone_by = actor
    await session.flush()
    summary = UndoSummary(
        merged=await _summary(session, merge),
        restored_votes=restored_votes,
        removed_target_votes=len(removed),
        kept_target_votes=len(kept),
        restored_followers=restored_followers,
        removed_target_followers=removed_followers,
    )
    await _publish(
        session,
        "idea.unmerged",
        merge,
        {
            "restored_status": merge.source_prior_status,
            "restored_votes": summary.restored_votes,
            "removed_target_votes": summary.removed_target_votes,
            "kept_target_votes": summary.kept_target_votes,
            "undone_by": actor,
        },
    )
    return summary


async def get_merge(session: AsyncSession, merge_id: uuid.UUID) -> MergeSummary:
    merge = await repository.get(session, merge_id)
    if merge is None:
        raise IdeaMergeNotFound(f"There is no idea merge {merge_id}.")
    return await _summary(session, merge)


async def merges_of_idea(
    session: AsyncSession, idea_id: uuid.UUID, principal: Principal, *, after: str | None, limit: int
) -> tuple[list[MergeSummary], str | None]:
    """The merges the idea took part in, as duplicate or survivor, newest first."""
    await ideas.get_visible_idea(session, idea_id, principal)
    merges = await repository.merges_of_idea(session, idea_id, after=_position(after), limit=limit + 1)
    next_cursor = None
    if len(merges) > limit:
        merges = merges[:limit]
        next_cursor = encode_cursor({"at": merges[-1].merged_at.isoformat(), "id": str(merges[-1].id)})
    counts = await repository.outcome_counts(session, [merge.id for merge in merges])
    return [_with_counts(merge, counts[merge.id]) for merge in merges], next_cursor


async def erase_customer(session: AsyncSession, *, customer_ids: list[uuid.UUID]) -> None:
    """identity erased the customers: they leave every merge's record, so no undo brings their votes
    or follows back. Safe to repeat."""
    if customer_ids:
        await repository.forget_customers(session, customer_ids)


async def _lock_pair(session: AsyncSession, first_id: uuid.UUID, second_id: uuid.UUID) -> tuple[Idea, Idea]:
    """Both ideas, locked in id order (one order everywhere: no deadlock between two merges)."""
    locked = {
        idea_id: await ideas.get_idea_for_update(session, idea_id)
        for idea_id in sorted((first_id, second_id))
    }
    return locked[first_id], locked[second_id]


async def _summary(session: AsyncSession, merge: IdeaMerge) -> MergeSummary:
    return _with_counts(merge, (await repository.outcome_counts(session, [merge.id]))[merge.id])


def _with_counts(merge: IdeaMerge, counts: dict[str, int]) -> MergeSummary:
    return MergeSummary(
        merge,
        moved_votes=counts["vote:moved"],
        dropped_votes=counts["vote:dropped"],
        moved_followers=counts["follower:moved"],
        already_following=counts["follower:already"],
    )


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


async def _publish(session: AsyncSession, event_type: str, merge: IdeaMerge, extra: dict[str, Any]) -> None:
    await record_event(
        session,
        metadata,
        producer=PRODUCER,
        event_type=event_type,
        subject_id=str(merge.source_idea_id),
        payload={
            "merge_id": str(merge.id),
            "source_idea_id": str(merge.source_idea_id),
            "target_idea_id": str(merge.target_idea_id),
            **extra,
        },
    )
