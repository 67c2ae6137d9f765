import uuid

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_common.db import session_factory
from feedback.comments import service
from tests.feedback.comments.support import comment_as, comment_row, make_idea


async def _authors(engine: AsyncEngine) -> dict[str, str | None]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT id, author_id FROM comment"))
        return {str(row[0]): str(row[1]) if row[1] else None for row in rows}


async def _moves(engine: AsyncEngine, merge_id: uuid.UUID) -> list[tuple[str, str, dict[str, str]]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT kind, action, row_key FROM customer_merge_move"
                " WHERE merge_id = :m ORDER BY row_key::text"
            ),
            {"m": merge_id},
        )
        return [(row[0], row[1], dict(row[2])) for row in rows]


async def _move(engine: AsyncEngine, merge_id: uuid.UUID, from_id: uuid.UUID, to_id: uuid.UUID) -> None:
    async with session_factory(engine).begin() as session:
        await service.move_customer(session, merge_id=merge_id, from_id=from_id, to_id=to_id)


async def _restore(engine: AsyncEngine, merge_id: uuid.UUID, restored_id: uuid.UUID) -> None:
    async with session_factory(engine).begin() as session:
        await service.restore_customer(session, merge_id=merge_id, restored_id=restored_id)


async def test_merge_moves_the_customers_comments_and_records_each(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    merged, survivor, merge_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    idea_id = await make_idea(feedback_engine)
    moved = sorted(
        [(await comment_as(feedback_client, idea_id, merged, f"Remark {n}."))["id"] for n in range(2)]
    )

    await _move(feedback_engine, merge_id, merged, survivor)

    assert await _authors(feedback_engine) == dict.fromkeys(moved, str(survivor))
    assert await _moves(feedback_engine, merge_id) == [("comment", "moved", {"id": cid}) for cid in moved]


async def test_restore_moves_back_exactly_the_comments_the_merge_moved(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    merged, survivor, merge_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    idea_id = await make_idea(feedback_engine)
    theirs = await comment_as(feedback_client, idea_id, merged, "Before the merge.")
    own = await comment_as(feedback_client, idea_id, survivor, "The survivor's own.")
    await _move(feedback_engine, merge_id, merged, survivor)
    after_merge = await comment_as(feedback_client, idea_id, survivor, "Written after the merge.")

    await _restore(feedback_engine, merge_id, merged)

    assert await _authors(feedback_engine) == {
        theirs["id"]: str(merged),
        own["id"]: str(survivor),
        after_merge["id"]: str(survivor),
    }


async def test_repeating_move_and_restore_changes_nothing_more(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    merged, survivor, merge_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    comment = await comment_as(feedback_client, await make_idea(feedback_engine), merged)

    await _move(feedback_engine, merge_id, merged, survivor)
    await _move(feedback_engine, merge_id, merged, survivor)
    assert len(await _moves(feedback_engine, merge_id)) == 1
    await _restore(feedback_engine, merge_id, merged)
    await _restore(feedback_engine, merge_id, merged)

    assert (await comment_row(feedback_engine, comment["id"])).author_id == merged


async def test_erasure_anonymises_comments_but_keeps_their_text(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    erased, other = uuid.uuid4(), uuid.uuid4()
    idea_id = await make_idea(feedback_engine)
    gone = await comment_as(feedback_client, idea_id, erased, "Still worth reading.")
    kept = await comment_as(feedback_client, idea_id, other)

    for _ in range(2):  # a redelivered erasure changes nothing more
        async with session_factory(feedback_engine).begin() as session:
            await service.erase_customer(session, customer_ids=[erased])

    row = await comment_row(feedback_engine, gone["id"])
    assert (row.author_id, row.author_kind, row.body) == (None, "customer", "Still worth reading.")
    assert (await comment_row(feedback_engine, kept["id"])).author_id == other
