from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign.audience.consumers import audience_consumer
from campaign.database import metadata
from campaign.main import create_app
from campaign.settings import CampaignSettings
from crm_common.db import create_engine, session_factory
from crm_common.events.consumer import ConsumerRunner
from tests.support import running_app, truncate_all


@pytest.fixture
async def campaign_client(
    campaign_settings: CampaignSettings, campaign_db: str
) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(create_app(campaign_settings)) as client:
        yield client
    await truncate_all(campaign_db, metadata)


@pytest.fixture
async def campaign_engine(
    campaign_settings: CampaignSettings, campaign_db: str
) -> AsyncIterator[AsyncEngine]:
    """The test database, for feeding the consumer and looking at what it wrote."""
    engine = create_engine(campaign_settings.async_database_url(), pool_size=2, max_overflow=2)
    yield engine
    await engine.dispose()
    await truncate_all(campaign_db, metadata)


@pytest.fixture
def audience_runner(campaign_engine: AsyncEngine, campaign_settings: CampaignSettings) -> ConsumerRunner:
    """The worker's audience consumer, fed by hand through ``handle`` (no broker in between)."""
    return ConsumerRunner(
        audience_consumer, session_factory(campaign_engine), metadata, campaign_settings.nats_url
    )
