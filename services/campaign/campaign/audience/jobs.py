"""The read model's periodic job: RFM quintiles over the whole base, every member re-derived."""

import asyncio
import contextlib

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign.audience import service
from campaign.settings import CampaignSettings
from crm_common.worker import BackgroundJob

log = structlog.get_logger(__name__)


def derivation_job(settings: CampaignSettings) -> BackgroundJob:
    """Every ``audience_derive_interval_seconds``: time alone moves lifecycle stages and recency."""

    async def run(sessions: async_sessionmaker[AsyncSession], stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with sessions() as session, session.begin():
                    changed = await service.refresh_derivations(session, settings)
                log.info("audience_derived", changed=changed)
            except Exception as exc:  # the database restarting: try again next round
                log.warning("audience_derivation_failed", error=str(exc) or type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=settings.audience_derive_interval_seconds)

    return run


def jobs(settings: CampaignSettings) -> list[BackgroundJob]:
    """The background jobs this domain runs in the campaign worker."""
    return [derivation_job(settings)]
