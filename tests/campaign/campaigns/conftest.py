"""Fixtures for the campaigns tests: sessions over the test database, audience members fed through the
audience consumer (as identity's events would), and helpers to define, launch and drive campaigns."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from campaign.campaigns.models import CampaignEnrollment
from campaign.settings import CampaignSettings
from crm_common.db import session_factory
from crm_common.events import EventEnvelope
from crm_common.events.consumer import ConsumerRunner
from tests.campaign.support import customer_created, deliver

T0 = datetime(2026, 10, 31, 20, 0, tzinfo=UTC)


@pytest.fixture
def sessions(campaign_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(campaign_engine)


AddMember = Callable[..., Coroutine[Any, Any, uuid.UUID]]


@pytest.fixture
def add_member(audience_runner: ConsumerRunner) -> AddMember:
    """A customer in the read model, through identity's customer.created / customer.updated events."""

    async def add(
        customer_id: uuid.UUID | None = None,
        *,
        email: str | None = None,
        time_zone: str | None = None,
        consents: dict[str, bool] | None = None,
        traits: dict[str, Any] | None = None,
    ) -> uuid.UUID:
        customer_id = customer_id or uuid.uuid4()
        all_traits = {**(traits or {}), **({"time_zone": time_zone} if time_zone else {})}
        created = customer_created(
            customer_id,
            display_name="Kim Min-jun",
            email=email if email is not None else f"{customer_id.hex[:10]}@example.com",
            traits=all_traits,
        )
        assert await deliver(audience_runner, created)
        granted = {"email:marketing": True} if consents is None else consents
        if granted:
            updated = EventEnvelope(
                type="customer.updated",
                producer="identity",
                subject_id=str(customer_id),
                payload={
                    "customer_id": str(customer_id),
                    "consents_changed": [
                        {"channel": key.split(":")[0], "purpose": key.split(":")[1], "granted": value}
                        for key, value in granted.items()
                    ],
                },
            )
            assert await deliver(audience_runner, updated)
        return customer_id

    return add


@pytest.fixture
def settings(campaign_settings: CampaignSettings) -> CampaignSettings:
    return campaign_settings


async def enrollments(
    sessions: async_sessionmaker[AsyncSession], campaign_id: uuid.UUID
) -> list[CampaignEnrollment]:
    async with sessions() as session:
        query = select(CampaignEnrollment).where(CampaignEnrollment.campaign_id == campaign_id)  # type: ignore[arg-type]
        return list((await session.execute(query)).scalars())


async def ledger(sessions: async_sessionmaker[AsyncSession], campaign_id: uuid.UUID) -> list[Any]:
    """The delivery ledger rows of a campaign (what was enqueued): step, variant, customer, occurrence."""
    async with sessions() as session:
        rows = await session.execute(
            text(
                "SELECT step_id, variant_key, customer_id, occurrence FROM delivery WHERE campaign_id = :c "
                "ORDER BY step_id, customer_id"
            ),
            {"c": campaign_id},
        )
        return list(rows)


async def outbox_events(sessions: async_sessionmaker[AsyncSession], event_type: str) -> list[dict[str, Any]]:
    async with sessions() as session:
        rows = await session.execute(
            text("SELECT envelope FROM outbox_event WHERE envelope->>'type' = :t ORDER BY position"),
            {"t": event_type},
        )
        return [row.envelope for row in rows]
