import uuid

from sqlalchemy.ext.asyncio import AsyncEngine

from crm_common.db import session_factory
from feedback.experience import service as experience
from feedback.experience.models import FeedbackKind
from feedback.settings import FeedbackSettings
from tests.feedback.experience.support import count_rows, feedback_row, store_feedback


async def _move(engine: AsyncEngine, merge_id: uuid.UUID, from_id: uuid.UUID, to_id: uuid.UUID) -> None:
    async with session_factory(engine).begin() as session:
        await experience.move_customer(session, merge_id=merge_id, from_id=from_id, to_id=to_id)


async def _restore(engine: AsyncEngine, merge_id: uuid.UUID, restored_id: uuid.UUID) -> None:
    async with session_factory(engine).begin() as session:
        await experience.restore_customer(session, merge_id=merge_id, restored_id=restored_id)


async def _erase(engine: AsyncEngine, customer_ids: list[uuid.UUID]) -> None:
    async with session_factory(engine).begin() as session:
        await experience.erase_customer(session, customer_ids=customer_ids)


async def test_merge_moves_the_merged_customers_feedback_to_the_survivor(
    feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    merged, survivor = uuid.uuid4(), uuid.uuid4()
    given = await store_feedback(feedback_engine, feedback_settings, customer_id=merged)

    await _move(feedback_engine, uuid.uuid4(), merged, survivor)

    assert (await feedback_row(feedback_engine, given.id)).customer_id == survivor


async def test_undo_moves_back_exactly_what_the_merge_moved(
    feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    merged, survivor, merge_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    moved = await store_feedback(feedback_engine, feedback_settings, customer_id=merged)
    own = await store_feedback(feedback_engine, feedback_settings, customer_id=survivor)
    await _move(feedback_engine, merge_id, merged, survivor)
    after_merge = await store_feedback(feedback_engine, feedback_settings, customer_id=survivor)

    await _restore(feedback_engine, merge_id, merged)

    owners = {
        r.id: (await feedback_row(feedback_engine, r.id)).customer_id for r in (moved, own, after_merge)
    }
    assert owners == {moved.id: merged, own.id: survivor, after_merge.id: survivor}


async def test_repeating_a_merge_records_nothing_more(
    feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    merged, survivor, merge_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await store_feedback(feedback_engine, feedback_settings, customer_id=merged)
    await _move(feedback_engine, merge_id, merged, survivor)

    await _move(feedback_engine, merge_id, merged, survivor)

    assert await count_rows(feedback_engine, "customer_merge_move") == 1


async def test_repeating_an_undo_changes_nothing(
    feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    merged, survivor, merge_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    given = await store_feedback(feedback_engine, feedback_settings, customer_id=merged)
    await _move(feedback_engine, merge_id, merged, survivor)
    await _restore(feedback_engine, merge_id, merged)

    await _restore(feedback_engine, merge_id, merged)

    assert (await feedback_row(feedback_engine, given.id)).customer_id == merged


async def test_erasure_removes_the_person_but_keeps_the_scores_for_health(
    feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    customer_id = uuid.uuid4()
    given = await store_feedback(
        feedback_engine,
        feedback_settings,
        customer_id=customer_id,
        kind=FeedbackKind.CSAT,
        csat=1,
        comment="My name is Kim Minji and the agent was rude.",
    )

    await _erase(feedback_engine, [customer_id])

    row = await feedback_row(feedback_engine, given.id)
    assert (row.customer_id, row.comment, row.message_id) == (None, None, None)
    assert row.erased_at is not None
    assert (row.csat_score, row.sentiment_label, row.negative, row.touchpoint) == (
        1,
        given.sentiment_label,
        True,
        "store_checkout",
    )


async def test_erasure_leaves_other_customers_alone(
    feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    erased, kept = uuid.uuid4(), uuid.uuid4()
    await store_feedback(feedback_engine, feedback_settings, customer_id=erased)
    other = await store_feedback(
        feedback_engine,
        feedback_settings,
        customer_id=kept,
        kind=FeedbackKind.COMMENT,
        comment="Great store.",
    )

    await _erase(feedback_engine, [erased])

    row = await feedback_row(feedback_engine, other.id)
    assert (row.customer_id, row.comment, row.erased_at) == (kept, "Great store.", None)


async def test_repeating_an_erasure_changes_nothing(
    feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    customer_id = uuid.uuid4()
    given = await store_feedback(feedback_engine, feedback_settings, customer_id=customer_id)
    await _erase(feedback_engine, [customer_id])
    first = await feedback_row(feedback_engine, given.id)

    await _erase(feedback_engine, [customer_id])

    assert (await feedback_row(feedback_engine, given.id)).erased_at == first.erased_at
