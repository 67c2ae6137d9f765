"""Real PostgreSQL and NATS for the whole suite: embedded by default, or CRM_DATABASE_URL / CRM_NATS_URL."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from campaign.settings import CampaignSettings
from crm_common.events.bus import delete_durable_consumers
from crm_common.settings import ServiceSettings
from crm_platform.engines import EmbeddedNats, EmbeddedPostgres
from feedback.settings import FeedbackSettings
from identity.settings import IdentitySettings
from tests.support import drop_database, migrated_database

S = TypeVar("S", bound=ServiceSettings)


@dataclass(frozen=True)
class Servers:
    database_url: str
    nats_url: str


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    database_url = os.environ.get("CRM_DATABASE_URL")
    nats_url = os.environ.get("CRM_NATS_URL")
    started: list[EmbeddedPostgres | EmbeddedNats] = []
    with tempfile.TemporaryDirectory(prefix="crm-test-") as tmp:
        if not database_url:
            pg = EmbeddedPostgres(Path(tmp) / "postgres").start()
            started.append(pg)
            database_url = pg.url
        if not nats_url:
            nats = EmbeddedNats(Path(tmp) / "nats").start()
            started.append(nats)
            nats_url = nats.url
        try:
            yield Servers(database_url=database_url, nats_url=nats_url)
        finally:
            for engine in reversed(started):
                engine.stop()


@pytest.fixture(scope="session")
def consumer_suffix(servers: Servers) -> Iterator[str]:
    """Durable consumer names of this test run's own; deleted from the (maybe shared) NATS at the end."""
    suffix = f"-test-{uuid.uuid4().hex[:8]}"
    yield suffix
    asyncio.run(delete_durable_consumers(servers.nats_url, suffix))


def _service_database(service: str) -> Callable[[Servers], AsyncIterator[str]]:
    async def database(servers: Servers) -> AsyncIterator[str]:
        url = await migrated_database(servers.database_url, service)
        yield url
        await drop_database(servers.database_url, url)

    database.__name__ = f"{service}_db"
    database.__doc__ = f"A fresh {service} database, migrated with its real Alembic revisions."
    return database


identity_db = pytest.fixture(scope="session", name="identity_db")(_service_database("identity"))
campaign_db = pytest.fixture(scope="session", name="campaign_db")(_service_database("campaign"))
feedback_db = pytest.fixture(scope="session", name="feedback_db")(_service_database("feedback"))


def _settings(settings_cls: type[S], database_url: str, servers: Servers, suffix: str) -> S:
    return settings_cls(
        database_url=database_url,
        nats_url=servers.nats_url,
        nats_consumer_suffix=suffix,
        environment="dev",
        log_json=False,
    )


@pytest.fixture(scope="session")
def identity_settings(identity_db: str, servers: Servers, consumer_suffix: str) -> IdentitySettings:
    return _settings(IdentitySettings, identity_db, servers, consumer_suffix)


@pytest.fixture(scope="session")
def campaign_settings(campaign_db: str, servers: Servers, consumer_suffix: str) -> CampaignSettings:
    return _settings(CampaignSettings, campaign_db, servers, consumer_suffix)


@pytest.fixture(scope="session")
def feedback_settings(feedback_db: str, servers: Servers, consumer_suffix: str) -> FeedbackSettings:
    return _settings(FeedbackSettings, feedback_db, servers, consumer_suffix)
