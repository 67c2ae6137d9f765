import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

import feedback.moderation.service as service
from crm_common.db import session_factory


async def _blocks(engine: AsyncEngine) -> dict[str, str]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT customer_id, reason FROM author_block"))
        return {str(row[0]): str(row[1]) for row in rows}


async def _block(engine: AsyncEngine, customer_id: uuid.UUID, reason: str) -> None:
    async with session_factory(engine).begin() as session:
        await service.block_author(session, customer_id=customer_id, reason=reason, actor="admin:test")


async def _move(engine: AsyncEngine, merge_id: uuid.UUID, from_id: uuid.UUID, to_id: uuid.UUID) -> None:
    async with session_factory(engine).begin() as session:
        await service.move_customer(session, merge_id=merge_id, from_id=from_id, to_id=to_id)


async def _restore(engine: AsyncEngine, merge_id: uuid.UUID, restored_id: uuid.UUID) -> None:
    async with session_factory(engine).begin() as session:
        await service.restore_customer(session, merge_id=merge_id, restored_id=restored_id)


async def test_a_merge_carries_the_block_to_the_survivor(feedback_engine: AsyncEngine) -> None:
    merged, survivor, merge_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await _block(feedback_engine, merged, "Spam")

    await _move(feedback_engine, merge_id, merged, survivor)

    assert await _blocks(feedback_engine) == {str(survivor): "Spam"}


async def test_restore_returns_the_block_and_repeating_changes_nothing(feedback_engine: AsyncEngine) -> None:
    merged, survivor, merge_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await _block(feedback_engine, merged, "Spam")
    await _move(feedback_engine, merge_id, merged, survivor)
    await _move(feedback_engine, merge_id, merged, survivor)

    await _restore(feedback_engine, merge_id, merged)
    await _restore(feedback_engine, merge_id, merged)

    assert await _blocks(feedback_engine) == {str(merged): "Spam"}


async def test_when_both_were_blocked_the_survivors_block_stands_and_restore_brings_back_the_other(
    feedback_engine: AsyncEngine,
) -> None:
    merged, survivor, merge_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await _block(feedback_engine, merged, "Spam")
    await _block(feedback_engine, survivor, "Abuse")

    await _move(feedback_engine, merge_id, merged, survivor)
    assert await _blocks(feedback_engine) == {str(survivor): "Abuse"}
    await _restore(feedback_engine, merge_id, merged)

    assert await _blocks(feedback_engine) == {str(survivor): "Abuse", str(merged): "Spam"}


async def test_restore_leaves_a_block_placed_on_the_survivor_after_the_merge(
    feedback_engine: AsyncEngine,
) -> None:
    merged, survivor, merge_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await _block(feedback_engine, merged, "Spam")
    await _move(feedback_engine, merge_id, merged, survivor)
    async with session_factory(feedback_engine).begin() as session:  # staff lift it, then block anew
        await service.unblock_author(session, customer_id=survivor, actor="admin:test")
    await _block(feedback_engine, survivor, "Abuse")

    await _restore(feedback_engine, merge_id, merged)

    assert await _blocks(feedback_engine) == {str(survivor): "Abuse"}


async def test_erasure_deletes_the_block_and_its_history(feedback_engine: AsyncEngine) -> None:
    erased, other = uuid.uuid4(), uuid.uuid4()
    await _block(feedback_engine, erased, "Harassed another customer")
    await _block(feedback_engine, other, "Spam")

    for _ in range(2):
        async with session_factory(feedback_engine).begin() as session:
            await service.erase_customer(session, customer_ids=[erased])

    assert await _blocks(feedback_engine) == {str(other): "Spam"}
    async with feedback_engine.connect() as conn:
        targets = (await conn.execute(text("SELECT target_id FROM moderation_action"))).scalars().all()
    assert targets == [other]
