import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_common.db import session_factory
from feedback.advocates import service as advocates
from feedback.experience import service as experience
from feedback.experience.models import FeedbackKind
from feedback.settings import FeedbackSettings
from tests.feedback.experience.support import count_rows, events_of_type, store_feedback


async def _scored(engine: AsyncEngine, settings: FeedbackSettings, customer_id: uuid.UUID, nps: int) -> None:
    await store_feedback(engine, settings, customer_id=customer_id, nps=nps)
    async with session_factory(engine).begin() as session:
        await advocates.refresh_scores(session, [customer_id])


async def _score(engine: AsyncEngine, customer_id: uuid.UUID) -> Any:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                text("SELECT * FROM advocate_score WHERE customer_id = :id"), {"id": customer_id}
            )
        ).one_or_none()


async def _merge(engine: AsyncEngine, merge_id: uuid.UUID, merged: uuid.UUID, survivor: uuid.UUID) -> None:
    """As the identity consumer will: the feedback moves first, then the scores."""
    async with session_factory(engine).begin() as session:
        await experience.move_customer(session, merge_id=merge_id, from_id=merged, to_id=survivor)
        await advocates.move_customer(session, merge_id=merge_id, from_id=merged, to_id=survivor)


async def _undo(engine: AsyncEngine, merge_id: uuid.UUID, restored: uuid.UUID) -> None:
    async with session_factory(engine).begin() as session:
        await experience.restore_customer(session, merge_id=merge_id, restored_id=restored)
        await advocates.restore_customer(session, merge_id=merge_id, restored_id=restored)


async def test_merge_drops_the_merged_score_and_rescores_the_survivor(
    feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    merged, survivor = uuid.uuid4(), uuid.uuid4()
    await _scored(feedback_engine, feedback_settings, survivor, 6)
    await _scored(feedback_engine, feedback_settings, merged, 10)
    await store_feedback(
        feedback_engine, feedback_settings, customer_id=merged, kind=FeedbackKind.CSAT, csat=5
    )

    await _merge(feedback_engine, uuid.uuid4(), merged, survivor)

    assert await _score(feedback_engine, merged) is None
    rescored = await _score(feedback_engine, survivor)
    assert (rescored.latest_nps, rescored.positive_feedback) == (
        10,
        1,
    )  # the merged customer's was the latest


async def test_undo_brings_back_the_merged_score_and_rescores_both(
    feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    merged, survivor, merge_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await _scored(feedback_engine, feedback_settings, survivor, 6)
    await _scored(feedback_engine, feedback_settings, merged, 10)
    await _merge(feedback_engine, merge_id, merged, survivor)

    await _undo(feedback_engine, merge_id, merged)

    restored, survivors = await _score(feedback_engine, merged), await _score(feedback_engine, survivor)
    assert (restored.score, restored.latest_nps, restored.announced_score) == (50.0, 10, 50.0)
    assert (survivors.latest_nps, survivors.score) == (6, 30.0)


async def test_repeating_merge_and_undo_changes_nothing_more(
    feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    merged, survivor, merge_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await _scored(feedback_engine, feedback_settings, survivor, 6)
    await _scored(feedback_engine, feedback_settings, merged, 10)
    await _merge(feedback_engine, merge_id, merged, survivor)
    await _merge(feedback_engine, merge_id, merged, survivor)
    await _undo(feedback_engine, merge_id, merged)
    events = len(await events_of_type(feedback_engine, "advocate.score_changed"))
    scores = (await _score(feedback_engine, merged), await _score(feedback_engine, survivor))

    await _undo(feedback_engine, merge_id, merged)

    assert len(await events_of_type(feedback_engine, "advocate.score_changed")) == events
    assert (await _score(feedback_engine, merged), await _score(feedback_engine, survivor)) == scores
    assert await count_rows(feedback_engine, "customer_merge_move") == 2  # the response + the dropped score


async def test_erasure_deletes_the_score_and_the_copy_a_merge_kept(
    feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    merged, survivor = uuid.uuid4(), uuid.uuid4()
    await _scored(feedback_engine, feedback_settings, merged, 10)
    await _merge(feedback_engine, uuid.uuid4(), merged, survivor)

    for _ in range(2):  # safe to repeat
        async with session_factory(feedback_engine).begin() as session:
            await advocates.erase_customer(session, customer_ids=[survivor, merged])

    assert await count_rows(feedback_engine, "advocate_score") == 0
    async with feedback_engine.connect() as conn:
        kept = await conn.execute(
            text("SELECT count(*) FROM customer_merge_move WHERE kind = 'advocate_score'")
        )
        assert kept.scalar_one() == 0
