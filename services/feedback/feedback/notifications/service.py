"""Telling voters and followers when an idea's status changes: one event per recipient.

A status change only records a fan-out; the worker's job turns it into ``idea.status_notification``
events in chunks (the campaign service delivers them). Each chunk's events and the cursor move are one
transaction, so a killed worker resumes after the last committed chunk and no one is told twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_common.worker import BackgroundJob
from feedback.notifications import repository
from feedback.notifications.models import NotificationFanout
from feedback.settings import FeedbackSettings

log = structlog.get_logger(__name__)


async def schedule_status_notifications(
    session: AsyncSession, *, idea_id: uuid.UUID, status_change_id: uuid.UUID
) -> None:
    """Record that the change's recipients are to be told (in the status change's transaction)."""
    await repository.add(session, NotificationFanout(idea_id=idea_id, status_change_id=status_change_id))


async def fan_out_next_chunk(session: AsyncSession, chunk_size: int) -> int | None:
    """Process one chunk of the oldest pending fan-out; None when nothing is pending."""
    fanout = await repository.claim_pending(session)
    if fanout is None:
        return None
    written, last = await repository.fan_out_chunk(session, fanout, chunk_size)
    await repository.advance(
        session, fanout.id, last_customer_id=last, written=written, done=written < chunk_size
    )
    return written


def fan_out_job(settings: FeedbackSettings) -> BackgroundJob:
    """The worker job: drain pending fan-outs chunk by chunk, then poll."""

    async def run(sessions: async_sessionmaker[AsyncSession], stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with sessions() as session, session.begin():
                    written = await fan_out_next_chunk(session, settings.notification_chunk_size)
            except Exception as exc:  # the database may be briefly away; try again after a pause
                log.warning("notification_fanout_failed", error=str(exc))
                written = None
            if written is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=settings.notification_poll_seconds)

    return run
