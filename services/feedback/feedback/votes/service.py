"""Votes: one per customer per idea, up or down, exact tallies under any concurrency.

Every vote write locks the idea row first (the same order as status changes and merges: idea, then
its votes), then reads the old vote and writes the new one with the tallies in one statement. The
lock makes the counts exact; its scope is one idea, so votes on different ideas never wait on each
other.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events.outbox import record_event
from crm_common.pagination import decode_cursor, encode_cursor
from crm_common.ratelimit import Rate, enforce_rate
from feedback.database import metadata
from feedback.ideas.errors import IdeaNotFound
from feedback.ideas.ranking import decay_rate
from feedback.ideas.workflow import workflow
from feedback.settings import FeedbackSettings
from feedback.votes import repository
from feedback.votes.errors import VoteBudgetExhausted, VotingClosed
from feedback.votes.models import Vote

PRODUCER = "feedback"
DIRECTIONS: dict[str, int] = {"up": 1, "down": -1}
NAMES: dict[int, Literal["up", "down"]] = {1: "up", -1: "down"}


@dataclass(frozen=True)
class VoteOutcome:
    idea_id: uuid.UUID
    direction: Literal["up", "down"] | None
    up_count: int
    down_count: int
    score: float
    votes_left: int | None


async def set_vote(
    session: AsyncSession,
    settings: FeedbackSettings,
    idea_id: uuid.UUID,
    customer_id: uuid.UUID,
    direction: Literal["up", "down"] | None,
) -> VoteOutcome:
    """Set (``up``/``down``) or clear (None) the customer's vote; repeating a call changes nothing.

    Voting needs a published idea that is not closed; a new vote on a board with a budget needs a
    vote left (votes on closed ideas do not count, so they come back when an idea closes).
    """
    await enforce_rate(
        session, metadata, caller=str(customer_id), action="vote", rate=Rate(*settings.vote_rate)
    )
    idea = await repository.lock_idea(session, idea_id)
    if idea is None or idea.moderation_state != "published":
        raise IdeaNotFound(f"There is no idea {idea_id}.")
    flow = workflow(settings)
    if flow.is_closed(idea.status):
        raise VotingClosed(f"The idea is {idea.status}; voting has closed.")
    lam = decay_rate(settings.trending_half_life_hours)
    votes_left: int | None = None
    if direction is None:
        row = await repository.clear_vote(session, idea_id, customer_id, lam)
    else:
        if idea.vote_budget is not None:
            await repository.lock_budget(session, idea.board_id, customer_id)
            used = await repository.open_votes_on_board(
                session, idea.board_id, customer_id, sorted(flow.closed)
            )
            current = await repository.directions(session, customer_id, [idea_id])
            if idea_id not in current and used >= idea.vote_budget:
                raise VoteBudgetExhausted(
                    f"All {idea.vote_budget} votes on this board are in use;"
                    " clear one, or wait for an idea to close."
                )
            votes_left = idea.vote_budget - used - (0 if idea_id in current else 1)
        row = await repository.set_vote(session, idea_id, customer_id, DIRECTIONS[direction], lam)
    previous = NAMES.get(row.previous) if row.previous is not None else None
    changed = row.up_count is not None
    up, down, score = (
        (row.up_count, row.down_count, row.top_score)
        if changed
        else (
            idea.up_count,
            idea.down_count,
            idea.top_score,
        )
    )
    if changed:
        await record_event(
            session,
            metadata,
            producer=PRODUCER,
            event_type="vote.cast",
            subject_id=str(idea_id),
            payload={
                "idea_id": str(idea_id),
                "customer_id": str(customer_id),
                "direction": direction,
                "previous_direction": previous,
                "idea_author_id": str(idea.author_id) if idea.author_id else None,
                "board_id": str(idea.board_id),
                "up_count": up,
                "down_count": down,
            },
        )
    if votes_left is None and idea.vote_budget is not None:
        used = await repository.open_votes_on_board(session, idea.board_id, customer_id, sorted(flow.closed))
        votes_left = idea.vote_budget - used
    return VoteOutcome(idea_id, direction, int(up), int(down), float(score), votes_left)


async def directions(
    session: AsyncSession, customer_id: uuid.UUID, idea_ids: list[uuid.UUID]
) -> dict[uuid.UUID, Literal["up", "down"]]:
    """The customer's vote on each of the ideas that has one."""
    found = await repository.directions(session, customer_id, idea_ids)
    return {idea_id: NAMES[value] for idea_id, value in found.items()}


async def votes_of_customer(
    session: AsyncSession, customer_id: uuid.UUID, *, limit: int, after: str | None
) -> tuple[list[Vote], str | None]:
    """The customer's votes, newest first, keyset-paginated (for the customer-360 view)."""
    key = decode_cursor(after)
    after_key: tuple[datetime, uuid.UUID] | None = None
    if key is not None:
        after_key = _vote_cursor(key)
    votes = await repository.votes_of_customer(session, customer_id, limit=limit + 1, after=after_key)
    return _page(votes, limit)


async def votes_of_customers(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID], *, limit: int
) -> dict[uuid.UUID, tuple[list[Vote], str | None]]:
    """The first page of each customer's votes as :func:`votes_of_customer` gives it (its cursor
    continues there), for a batch of customers in one query; every requested customer is a key."""
    pages = await repository.first_votes_of_customers(
        session, list(dict.fromkeys(customer_ids)), per_customer=limit + 1
    )
    return {customer_id: _page(votes, limit) for customer_id, votes in pages.items()}


def _page(votes: list[Vote], limit: int) -> tuple[list[Vote], str | None]:
    """The first ``limit`` of ``votes`` (fetched one over) and the cursor after them, if more follow."""
    if len(votes) <= limit:
        return votes, None
    votes = votes[:limit]
    return votes, encode_cursor({"at": votes[-1].cast_at.isoformat(), "idea": str(votes[-1].idea_id)})


def _vote_cursor(key: dict[str, Any]) -> tuple[datetime, uuid.UUID]:
    from crm_common.errors import FieldError, ValidationFailed

    try:
        return datetime.fromisoformat(key["at"]), uuid.UUID(key["idea"])
    except (KeyError, ValueError, TypeError) as exc:
        raise ValidationFailed(
            "The cursor is not one this listing issued.",
            errors=[FieldError(field="query.after", message="invalid cursor", code="cursor_invalid")],
        ) from exc
