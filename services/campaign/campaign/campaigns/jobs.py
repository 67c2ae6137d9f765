"""The campaigns domain's background jobs: the journey runner and the allocation recomputation."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign.campaigns import allocation, journeys
from campaign.settings import CampaignSettings
from crm_common.worker import BackgroundJob

log = structlog.get_logger(__name__)


async def runner_tick(
    sessions: async_sessionmaker[AsyncSession],
    settings: CampaignSettings,
    now: datetime,
    *,
    max_batches: int = 50,
) -> int:
    """One pass: due segment enrollments, then due enrollments batch by batch (one transaction each),
    then completion of finished broadcasts. Returns how many enrollments were advanced."""
    await journeys.enroll_due_segments(sessions, settings, now=now)
    advanced = 0
    for _ in range(max_batches):
        async with sessions() as session, session.begin():
            report = await journeys.run_due(session, settings, now=now)
        advanced += report.claimed
        if report.claimed < settings.campaign_runner_batch_size:
            break
    async with sessions() as session, session.begin():
        await journeys.complete_finished(session, now=now)
    return advanced


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


def jobs(settings: CampaignSettings) -> list[BackgroundJob]:
    """The background jobs this domain runs in the campaign worker."""

    async def journey_runner(sessions: async_sessionmaker[AsyncSession], stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await runner_tick(sessions, settings, datetime.now(UTC))
            except Exception as exc:  # a failed pass is retried at the next tick; nothing half-done commits
                log.warning("journey_runner_failed", error=str(exc) or type(exc).__name__)
            await _sleep_or_stop(stop, settings.campaign_runner_poll_seconds)

    async def allocation_job(sessions: async_sessionmaker[AsyncSession], stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with sessions() as session, session.begin():
                    await allocation.recompute_all(session, settings, now=datetime.now(UTC))
            except Exception as exc:
                log.warning("allocation_recompute_failed", error=str(exc) or type(exc).__name__)
            await _sleep_or_stop(stop, settings.campaign_allocation_interval_seconds)

    return [journey_runner, allocation_job]
