from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from identity.database import metadata
from identity.main import create_app
from identity.settings import IdentitySettings
from tests.support import running_app, truncate_all


@pytest.fixture
async def identity_client(
    identity_settings: IdentitySettings, identity_db: str
) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(create_app(identity_settings)) as client:
        yield client
    await truncate_all(identity_db, metadata)
