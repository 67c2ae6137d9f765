"""The membership job: incremental passes over changed customers, a periodic full refresh."""

import asyncio
import contextlib
import time

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign.segments import service
from campaign.settings import CampaignSettings
from crm_common.worker import BackgroundJob

log = structlog.get_logger(__name__)


def membership_job(settings: CampaignSettings) -> BackgroundJob:
    """Claims changed customers every ``segments_poll_seconds`` (at once again while there are more),
    so an event's effect on membership reaches the outbox well within a second of its consumption;
    every ``segments_full_refresh_seconds`` re-evaluates every segment over the whole base."""

    async def run(sessions: async_sessionmaker[AsyncSession], stop: asyncio.Event) -> None:
        next_full_refresh = time.monotonic() + settings.segments_full_refresh_seconds
        while not stop.is_set():
            claimed = 0
            try:
                if time.monotonic() >= next_full_refresh:
                    async with sessions() as session, session.begin():
                        changes = await service.refresh_all(session)
                    log.info("segments_refreshed", entered=changes.entered, exited=changes.exited)
                    next_full_refresh = time.monotonic() + settings.segments_full_refresh_seconds
                async with sessions() as session, session.begin():
                    claimed = await service.process_changed(session, settings.segments_claim_batch)
            except Exception as exc:  # the database restarting: the dirty rows stay for the next pass
                log.warning("segments_pass_failed", error=str(exc) or type(exc).__name__)
            if claimed < settings.segments_claim_batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=settings.segments_poll_seconds)

    return run


def jobs(settings: CampaignSettings) -> list[BackgroundJob]:
    """The background jobs this domain runs in the campaign worker."""
    return [membership_job(settings)]
