"""Advocate scores: who promotes us (latest NPS), whose ideas others upvote, and who speaks well of us.

The formula is in :mod:`feedback.advocates.scoring` (and EXPERIENCE.md): 5 x latest NPS, plus up to 30
for upvotes received on published ideas (30 x (1 - e^(-upvotes/10))), plus up to 20 for positive
feedback (20 x (1 - e^(-positives/3))); detractors capped at 39.9. Scores are refreshed from the
current facts by the advocates consumer on every ``vote.cast`` and ``feedback.received``, so a refresh is
idempotent: run twice, it changes nothing and announces nothing the second time.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events.outbox import record_event
from feedback.advocates import repository
from feedback.advocates.errors import AdvocateScoreNotFound
from feedback.advocates.models import AdvocateScore
from feedback.advocates.scoring import Inputs, advocate_score, tier_of, worth_announcing
from feedback.database import metadata
from feedback.experience import service as experience
from feedback.ideas import service as ideas

PRODUCER = "feedback"


async def refresh_scores(session: AsyncSession, customer_ids: list[uuid.UUID]) -> list[AdvocateScore]:
    """Recompute the customers' scores from their feedback and ideas now; store what changed and
    publish ``advocate.score_changed`` for each meaningful change. A customer with no NPS, upvote or
    positive feedback and no score yet gets none. Returns the scores as they now are."""
    ids = sorted(set(customer_ids))
    if not ids:
        return []
    existing = await repository.lock_scores(session, ids)
    signals = await experience.customer_signals(session, ids)
    upvotes = await ideas.upvotes_received(session, ids)
    now = datetime.now(UTC)
    for customer_id in ids:
        signal = signals.get(customer_id)
        inputs = Inputs(
            latest_nps=signal.latest_nps if signal else None,
            upvotes_received=upvotes.get(customer_id, 0),
            positive_feedback=signal.positive_feedback if signal else 0,
        )
        current = existing.get(customer_id)
        if current is None and inputs == Inputs(None, 0, 0):
            continue
        score = advocate_score(inputs)
        tier = tier_of(score)
        unchanged = current is not None and (
            current.score,
            current.tier,
            current.latest_nps,
            current.upvotes_received,
            current.positive_feedback,
        ) == (score, tier, inputs.latest_nps, inputs.upvotes_received, inputs.positive_feedback)
        if unchanged:
            continue
        announced_score = current.announced_score if current else None
        announced_tier = current.announced_tier if current else None
        announce = worth_announcing(score, tier, announced_score, announced_tier)
        await repository.upsert(
            session,
            {
                "customer_id": customer_id,
                "score": score,
                "tier": tier,
                "latest_nps": inputs.latest_nps,
                "upvotes_received": inputs.upvotes_received,
                "positive_feedback": inputs.positive_feedback,
                "computed_at": now,
                "announced_score": score if announce else announced_score,
                "announced_tier": tier if announce else announced_tier,
            },
        )
        if announce:
            await record_event(
                session,
                metadata,
                producer=PRODUCER,
                event_type="advocate.score_changed",
                subject_id=str(customer_id),
                payload={
                    "customer_id": str(customer_id),
                    "score": score,
                    "previous_score": announced_score,
                    "tier": tier,
                    "previous_tier": announced_tier,
                    "latest_nps": inputs.latest_nps,
                    "upvotes_received": inputs.upvotes_received,
                    "positive_feedback": inputs.positive_feedback,
                },
            )
    refreshed = await repository.lock_scores(session, ids)
    return [refreshed[customer_id] for customer_id in ids if customer_id in refreshed]


async def get_score(session: AsyncSession, customer_id: uuid.UUID) -> AdvocateScore:
    score = await repository.get(session, customer_id)
    if score is None:
        raise AdvocateScoreNotFound(
            f"Customer {customer_id} has no advocate score yet: no NPS, upvoted idea or positive feedback."
        )
    return score


async def get_scores(
    session: AsyncSession, customer_ids: list[uuid.UUID]
) -> dict[uuid.UUID, AdvocateScore | None]:
    """Each customer's score as :func:`get_score` reads it, ``None`` for one without a score yet, for
    a batch of customers in one query (the gateway's loaders); every requested customer is a key."""
    requested = list(dict.fromkeys(customer_ids))
    found = await repository.get_many(session, requested)
    return {customer_id: found.get(customer_id) for customer_id in requested}


async def ranking(
    session: AsyncSession,
    *,
    min_score: float | None,
    tier: str | None,
    after: tuple[float, uuid.UUID] | None,
    limit: int,
) -> list[AdvocateScore]:
    """Customers by advocate score, highest first, for targeting."""
    return await repository.ranking(session, min_score=min_score, tier=tier, after=after, limit=limit)


async def move_customer(
    session: AsyncSession, *, merge_id: uuid.UUID, from_id: uuid.UUID, to_id: uuid.UUID
) -> None:
    """identity merged ``from_id`` into ``to_id``: the merged customer's score is dropped (kept under
    the merge to come back) and the survivor's is recomputed from what it holds now. Safe to repeat.

    The survivor's score counts the feedback and ideas other domains have moved to it by then: call
    this after them (a later vote or feedback refreshes it in any case)."""
    if await repository.merge_recorded(session, merge_id):
        return
    await repository.drop_for_merge(session, merge_id=merge_id, from_id=from_id, to_id=to_id)
    await refresh_scores(session, [to_id])


async def restore_customer(session: AsyncSession, *, merge_id: uuid.UUID, restored_id: uuid.UUID) -> None:
    """identity undid the merge: the restored customer's score comes back and both customers' scores
    are recomputed from what they hold again (call after the other domains). Safe to repeat."""
    for row_key, restore in await repository.dropped_by_merge(session, merge_id):
        if restore is not None:
            await repository.put_back(session, restored_id, restore)
        survivor_id = uuid.UUID(row_key["survivor_id"])
        await refresh_scores(session, [restored_id, survivor_id])


async def erase_customer(session: AsyncSession, *, customer_ids: list[uuid.UUID]) -> None:
    """identity erased the customers: their scores go, with the copies merges kept. Safe to repeat."""
    await repository.erase(session, customer_ids)
