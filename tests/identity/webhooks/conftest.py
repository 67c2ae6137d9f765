from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_common.db import create_engine, session_factory
from identity.settings import IdentitySettings


@pytest.fixture
async def sessions(
    identity_settings: IdentitySettings, identity_client: httpx.AsyncClient
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A worker's own sessions on the test database (emptied after each test by ``identity_client``)."""
    engine = create_engine(identity_settings.async_database_url(), pool_size=4, max_overflow=4)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
def worker_settings(identity_settings: IdentitySettings) -> IdentitySettings:
    """The dev settings with short, test-sized backoff (attempt times are passed in, nobody waits)."""
    return identity_settings.model_copy(
        update={
            "webhook_max_attempts": 3,
            "webhook_backoff_base_seconds": 10.0,
            "webhook_backoff_cap_seconds": 15.0,
        }
    )
