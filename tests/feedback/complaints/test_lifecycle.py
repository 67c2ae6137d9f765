import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_common.db import session_factory
from feedback.complaints import service as complaints
from feedback.complaints.models import ComplaintStatus
from feedback.complaints.schemas import ComplaintCreate
from feedback.experience import service as experience
from feedback.experience.models import Channel
from feedback.settings import FeedbackSettings
from tests.feedback.experience.support import count_rows, feedback_row


async def _open(engine: AsyncEngine, settings: FeedbackSettings, customer_id: uuid.UUID) -> uuid.UUID:
    async with session_factory(engine).begin() as session:
        view = await complaints.open_complaint(
            session,
            settings,
            customer_id=customer_id,
            data=ComplaintCreate(
                channel=Channel.STORE,
                touchpoint="store_checkout",
                text="I am Park Jisoo; the cashier shouted.",
            ),
        )
        await complaints.change_status(
            session,
            view.complaint.id,
            status=ComplaintStatus.RESOLVED,
            note="Spoke to Park Jisoo, apologised.",
            actor="agent:lee",
        )
        return view.complaint.id


async def _complaint(engine: AsyncEngine, complaint_id: uuid.UUID) -> Any:
    async with engine.connect() as conn:
        return (
            await conn.execute(text("SELECT * FROM complaint WHERE id = :id"), {"id": complaint_id})
        ).one()


async def _lifecycle(engine: AsyncEngine, step: str, **arguments: Any) -> None:
    async with session_factory(engine).begin() as session:
        for domain in (complaints, experience):
            await getattr(domain, step)(session, **arguments)


async def test_merge_moves_complaints_and_their_text_to_the_survivor(
    feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    merged, survivor = uuid.uuid4(), uuid.uuid4()
    complaint_id = await _open(feedback_engine, feedback_settings, merged)

    await _lifecycle(feedback_engine, "move_customer", merge_id=uuid.uuid4(), from_id=merged, to_id=survivor)

    row = await _complaint(feedback_engine, complaint_id)
    assert row.customer_id == survivor
    assert (await feedback_row(feedback_engine, row.feedback_id)).customer_id == survivor


async def test_undo_gives_the_complaint_back_and_repeating_it_changes_nothing(
    feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    merged, survivor, merge_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    complaint_id = await _open(feedback_engine, feedback_settings, merged)
    survivors_own = await _open(feedback_engine, feedback_settings, survivor)
    await _lifecycle(feedback_engine, "move_customer", merge_id=merge_id, from_id=merged, to_id=survivor)

    for _ in range(2):
        await _lifecycle(feedback_engine, "restore_customer", merge_id=merge_id, restored_id=merged)

    assert (await _complaint(feedback_engine, complaint_id)).customer_id == merged
    assert (await _complaint(feedback_engine, survivors_own)).customer_id == survivor


async def test_repeating_a_merge_records_each_row_once(
    feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    merged, survivor, merge_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await _open(feedback_engine, feedback_settings, merged)

    for _ in range(2):
        await _lifecycle(feedback_engine, "move_customer", merge_id=merge_id, from_id=merged, to_id=survivor)

    assert await count_rows(feedback_engine, "customer_merge_move") == 2  # the complaint and its text


async def test_erasure_removes_the_person_from_the_case_and_keeps_its_handling(
    feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    customer_id = uuid.uuid4()
    complaint_id = await _open(feedback_engine, feedback_settings, customer_id)

    for _ in range(2):  # safe to repeat
        await _lifecycle(feedback_engine, "erase_customer", customer_ids=[customer_id])

    row = await _complaint(feedback_engine, complaint_id)
    assert (row.customer_id, row.resolution) == (None, None)
    assert (row.status, row.touchpoint) == ("resolved", "store_checkout")
    assert (await feedback_row(feedback_engine, row.feedback_id)).comment is None
    async with feedback_engine.connect() as conn:
        notes = (
            await conn.execute(
                text("SELECT note FROM complaint_status_change WHERE complaint_id = :id"),
                {"id": complaint_id},
            )
        ).scalars()
        assert set(notes) == {None}
