from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from identity.database import metadata
from identity.main import create_app
from identity.settings import IdentitySettings
from tests.conftest import Servers
from tests.support import drop_database, migrated_database, running_app, truncate_all


@pytest.fixture(scope="session")
async def identity_db(servers: Servers) -> AsyncIterator[str]:
    url = await migrated_database(servers.database_url, "identity")
    yield url
    await drop_database(servers.database_url, url)


@pytest.fixture(scope="session")
def identity_settings(identity_db: str, servers: Servers) -> IdentitySettings:
    return IdentitySettings(
        database_url=identity_db, nats_url=servers.nats_url, environment="dev", log_json=False
    )


@pytest.fixture
async def identity_client(
    identity_settings: IdentitySettings, identity_db: str
) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(create_app(identity_settings)) as client:
        yield client
    await truncate_all(identity_db, metadata)
