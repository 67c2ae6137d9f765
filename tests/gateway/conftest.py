"""The gateway in front of the real services, each in-process on its own migrated database.

The services run with their lifespans (engine, NATS) and the gateway reaches them through
``httpx.ASGITransport``; a service that is "down" is a closed port on loopback.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import MetaData
from starlette.types import ASGIApp

from campaign.audience.consumers import audience_consumer
from campaign.database import metadata as campaign_metadata
from campaign.main import create_app as create_campaign_app
from campaign.settings import CampaignSettings
from crm_common.db import create_engine, session_factory
from crm_common.events.consumer import ConsumerRunner
from crm_platform.engines import free_port
from feedback.database import metadata as feedback_metadata
from feedback.main import create_app as create_feedback_app
from feedback.settings import FeedbackSettings
from gateway.main import create_app as create_gateway_app
from gateway.settings import GatewaySettings
from identity.database import metadata as identity_metadata
from identity.main import create_app as create_identity_app
from identity.settings import IdentitySettings
from tests.gateway.support import Gateway, RecordingTransport, identity_events
from tests.support import running_app, truncate_all, wait_until


@contextlib.asynccontextmanager
async def serving(app: FastAPI, database_url: str, metadata: MetaData) -> AsyncIterator[FastAPI]:
    """A service with its lifespan started and ready (database and NATS); its tables emptied afterwards."""
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://service"
        ) as client:

            async def ready() -> bool:
                return (await client.get("/readyz")).status_code == 200

            await wait_until(ready)
        yield app
    await truncate_all(database_url, metadata)


@pytest.fixture
async def identity_app(identity_settings: IdentitySettings, identity_db: str) -> AsyncIterator[FastAPI]:
    async with serving(create_identity_app(identity_settings), identity_db, identity_metadata) as app:
        yield app


@pytest.fixture
async def campaign_app(campaign_settings: CampaignSettings, campaign_db: str) -> AsyncIterator[FastAPI]:
    async with serving(create_campaign_app(campaign_settings), campaign_db, campaign_metadata) as app:
        yield app


@pytest.fixture
async def feedback_app(feedback_settings: FeedbackSettings, feedback_db: str) -> AsyncIterator[FastAPI]:
    async with serving(create_feedback_app(feedback_settings), feedback_db, feedback_metadata) as app:
        yield app


@pytest.fixture
async def identity_api(identity_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Identity's REST API, for arranging customers the way a client would."""
    transport = httpx.ASGITransport(app=identity_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
        yield client


def closed_port_url() -> str:
    """A loopback address nothing listens on: connecting is refused, as with a stopped service."""
    return f"http://127.0.0.1:{free_port()}"


@contextlib.asynccontextmanager
async def running_gateway(
    apps: Mapping[str, ASGIApp], settings: GatewaySettings | None = None
) -> AsyncIterator[Gateway]:
    """The gateway routed to the given in-process services; every other service is at a closed port."""
    settings = settings or GatewaySettings(
        environment="dev",
        log_json=False,
        identity_url=closed_port_url(),
        campaign_url=closed_port_url(),
        feedback_url=closed_port_url(),
        # In-process services share the test's event loop and a busy CI machine: the production
        # default (2 s) made slow answers flaky timeouts. Tests of timeouts set their own.
        service_timeout_seconds=15,
    )
    sent = {name: RecordingTransport(httpx.ASGITransport(app=app)) for name, app in apps.items()}
    async with running_app(create_gateway_app(settings, transports=sent)) as client:
        yield Gateway(client=client, sent=sent)


@pytest.fixture
async def gateway_alone() -> AsyncIterator[Gateway]:
    """The gateway with every service at a closed port: for what it must decide before calling any."""
    async with running_gateway({}) as running:
        yield running


@pytest.fixture
async def gateway(
    identity_app: FastAPI, campaign_app: FastAPI, feedback_app: FastAPI
) -> AsyncIterator[Gateway]:
    apps = {"identity": identity_app, "campaign": campaign_app, "feedback": feedback_app}
    async with running_gateway(apps) as running:
        yield running


@pytest.fixture
async def gateway_without_campaign(identity_app: FastAPI, feedback_app: FastAPI) -> AsyncIterator[Gateway]:
    async with running_gateway({"identity": identity_app, "feedback": feedback_app}) as running:
        yield running


@pytest.fixture
async def project_into_campaign(
    campaign_app: FastAPI, campaign_settings: CampaignSettings, identity_db: str
) -> AsyncIterator[Callable[[str], Awaitable[None]]]:
    """Hands identity's recorded events about a customer to campaign's real audience consumer.

    The relay and NATS in between are left out (the end-to-end tests cover them): what the gateway
    needs is campaign's projection, made by campaign's own code from identity's own events.
    """
    engine = create_engine(campaign_settings.async_database_url(), pool_size=2, max_overflow=0)
    runner = ConsumerRunner(
        audience_consumer, session_factory(engine), campaign_metadata, campaign_settings.nats_url
    )

    async def project(customer_id: str) -> None:
        events = await identity_events(identity_db, customer_id)
        assert events, f"identity recorded no event about {customer_id}"
        for subject, envelope in events:
            assert await runner.handle(subject, json.dumps(envelope).encode(), 1)

    yield project
    await engine.dispose()
