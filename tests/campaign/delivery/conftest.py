"""Delivery tests: the real ledger on PostgreSQL, the real channel senders, a loopback webhook provider."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bench._sinks import WebhookSink
from campaign.channels.senders import ChannelSenders
from campaign.settings import CampaignSettings
from crm_common.db import session_factory


@pytest.fixture
def sessions(campaign_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(campaign_engine)


@pytest.fixture
async def sink() -> AsyncIterator[WebhookSink]:
    """A webhook provider on loopback counting each ``webhook-id`` it accepted."""
    receiver = await WebhookSink().start()
    yield receiver
    await receiver.close()


@pytest.fixture
def delivery_settings(campaign_settings: CampaignSettings, sink: WebhookSink) -> CampaignSettings:
    """Webhook-borne channels go to the sink; fast retries; quiet hours off unless a test sets them
    (they depend on the wall clock); caps as in production."""
    return campaign_settings.model_copy(
        update={
            "channel_webhook_urls": {"sms": sink.url, "push": sink.url, "webhook": sink.url},
            "delivery_backoff_base_seconds": 0.01,
            "delivery_backoff_max_seconds": 0.05,
            "delivery_poll_seconds": 0.02,
            "delivery_quiet_hours_start": "00:00",
            "delivery_quiet_hours_end": "00:00",
            "delivery_rate_limits": {},
        }
    )


@pytest.fixture
async def senders(
    delivery_settings: CampaignSettings, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[ChannelSenders]:
    channel_senders = ChannelSenders(delivery_settings, sessions)
    await channel_senders.start()
    yield channel_senders
    await channel_senders.close()
