from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_common.db import create_engine, session_factory
from crm_common.events.consumer import ConsumerRunner
from feedback.database import metadata
from feedback.events.consumers import customers_consumer
from feedback.main import create_app
from feedback.settings import FeedbackSettings
from tests.support import running_app, truncate_all


@pytest.fixture
async def feedback_client(
    feedback_settings: FeedbackSettings, feedback_db: str
) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(create_app(feedback_settings)) as client:
        yield client
    await truncate_all(feedback_db, metadata)


@pytest.fixture
async def feedback_engine(
    feedback_settings: FeedbackSettings, feedback_db: str
) -> AsyncIterator[AsyncEngine]:
    """The test database, for feeding the consumer and looking at what it wrote."""
    engine = create_engine(feedback_settings.async_database_url(), pool_size=2, max_overflow=2)
    yield engine
    await engine.dispose()
    await truncate_all(feedback_db, metadata)


@pytest.fixture
def customers_runner(feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings) -> ConsumerRunner:
    """The worker's customers consumer, fed by hand through ``handle`` (no broker in between)."""
    return ConsumerRunner(
        customers_consumer, session_factory(feedback_engine), metadata, feedback_settings.nats_url
    )
