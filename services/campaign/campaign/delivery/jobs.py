import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign.settings import CampaignSettings
from crm_common.worker import BackgroundJob


def jobs(settings: CampaignSettings) -> list[BackgroundJob]:
    """The background jobs this domain runs in the campaign worker: the delivery loop (the same one
    ``python -m campaign.delivery.worker`` runs alone)."""

    async def delivery(sessions: async_sessionmaker[AsyncSession], stop: asyncio.Event) -> None:
        from campaign.delivery.worker import run_delivery

        await run_delivery(settings, sessions, stop)

    return [delivery]
