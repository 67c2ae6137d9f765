"""All SQL of the notification fan-out."""

from __future__ import annotations

import uuid

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from crm_common.events.envelope import subject_for
from crm_common.events.outbox import OUTBOX_NOTIFY_CHANNEL
from feedback.notifications.models import NotificationFanout

NOTIFICATION_TYPE = "idea.status_notification"


async def add(session: AsyncSession, fanout: NotificationFanout) -> None:
    session.add(fanout)
    await session.flush()


async def claim_pending(session: AsyncSession) -> NotificationFanout | None:
    """The oldest unfinished fan-out no other worker holds (``SKIP LOCKED``: workers scale out)."""
    statement = (
        select(NotificationFanout)
        .where(col(NotificationFanout.done_at).is_(None))
        .order_by(col(NotificationFanout.created_at))
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(statement)).scalar_one_or_none()


# One statement writes a chunk of per-recipient events straight into the outbox, in the envelope
# shape crm_common.events.EventEnvelope defines (schema version 1). Recipients are the idea's voters
# and followers, each once, in customer id order after the cursor.
_FAN_OUT = text(
    """
    WITH change AS (
      SELECT c.id, c.idea_id, c.from_status, c.to_status, c.response, i.title
      FROM idea_status_change c JOIN idea i ON i.id = c.idea_id
      WHERE c.id = :status_change_id
    ), recipient AS (
      SELECT customer_id, bool_or(voter) AS voter, bool_or(follower) AS follower FROM (
        SELECT customer_id, true AS voter, false AS follower FROM vote
        WHERE idea_id = :idea_id AND (CAST(:after AS uuid) IS NULL OR customer_id > :after)
        UNION ALL
        SELECT customer_id, false, true FROM idea_follower
        WHERE idea_id = :idea_id AND (CAST(:after AS uuid) IS NULL OR customer_id > :after)
        UNION ALL
        -- A duplicate's voters and followers have moved to the surviving idea by the time the
        -- worker fans out: the merge's own records say who they were.
        SELECT mv.customer_id, true, false FROM idea_merge_vote mv JOIN idea_merge m ON m.id = mv.merge_id
        WHERE m.source_idea_id = :idea_id AND m.undone_at IS NULL
          AND EXISTS (SELECT 1 FROM change WHERE change.to_status = 'duplicate')
          AND (CAST(:after AS uuid) IS NULL OR mv.customer_id > :after)
        UNION ALL
        SELECT mf.customer_id, false, true FROM idea_merge_follower mf JOIN idea_merge m ON m.id = mf.merge_id
        WHERE m.source_idea_id = :idea_id AND m.undone_at IS NULL
          AND EXISTS (SELECT 1 FROM change WHERE change.to_status = 'duplicate')
          AND (CAST(:after AS uuid) IS NULL OR mf.customer_id > :after)
      ) r GROUP BY customer_id ORDER BY customer_id LIMIT :chunk
    ), event AS (
      SELECT gen_random_uuid() AS id, r.customer_id, r.voter, r.follower FROM recipient r
    ), written AS (
      INSERT INTO outbox_event (event_id, subject, envelope)
      SELECT e.id, :subject, jsonb_build_object(
        'id', e.id, 'type', CAST(:event_type AS text), 'schema_version', 1,
        'occurred_at', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'producer', 'feedback', 'subject_id', e.customer_id::text, 'correlation_id', NULL,
        'payload', jsonb_build_object(
          'customer_id', e.customer_id::text, 'idea_id', change.idea_id::text,
          'status_change_id', change.id::text, 'title', change.title,
          'from_status', change.from_status, 'to_status', change.to_status, 'response', change.response,
          'reasons', to_jsonb(array_remove(ARRAY[
            CASE WHEN e.voter THEN 'voter' END, CASE WHEN e.follower THEN 'follower' END], NULL))))
      FROM event e CROSS JOIN change
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM written) AS written, (SELECT max(customer_id::text) FROM recipient) AS last
    """
)


async def fan_out_chunk(
    session: AsyncSession, fanout: NotificationFanout, chunk: int
) -> tuple[int, uuid.UUID | None]:
    """Write the next chunk's events; returns (events written, last recipient id)."""
    row = (
        await session.execute(
            _FAN_OUT,
            {
                "status_change_id": fanout.status_change_id,
                "idea_id": fanout.idea_id,
                "after": fanout.last_customer_id,
                "chunk": chunk,
                "subject": subject_for("feedback", NOTIFICATION_TYPE),
                "event_type": NOTIFICATION_TYPE,
            },
        )
    ).one()
    if row.written:
        await session.execute(text(f"NOTIFY {OUTBOX_NOTIFY_CHANNEL}"))
    return int(row.written), uuid.UUID(row.last) if row.last else None


async def advance(
    session: AsyncSession,
    fanout_id: uuid.UUID,
    *,
    last_customer_id: uuid.UUID | None,
    written: int,
    done: bool,
) -> None:
    values: dict[str, object] = {"notified_count": col(NotificationFanout.notified_count) + written}
    if last_customer_id is not None:
        values["last_customer_id"] = last_customer_id
    if done:
        values["done_at"] = text("now()")
    await session.execute(
        update(NotificationFanout).where(col(NotificationFanout.id) == fanout_id).values(**values)
    )


async def get(session: AsyncSession, fanout_id: uuid.UUID) -> NotificationFanout | None:
    return await session.get(NotificationFanout, fanout_id)
