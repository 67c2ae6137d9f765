"""A delivery worker process SIGKILLed mid-batch: nothing is skipped, a repeat carries the same id."""

import asyncio
import json
import os
import signal
import sys

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bench._sinks import WebhookSink
from campaign.settings import CampaignSettings
from tests.campaign.delivery.support import add_members, campaign_with_content, statuses
from tests.support import wait_until


def _worker_env(campaign_db: str, settings: CampaignSettings, sink: WebhookSink) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "CRM_ENV": "dev",
            "CRM_LOG_LEVEL": "WARNING",
            "CRM_NATS_URL": settings.nats_url,
            "CRM_CAMPAIGN_DATABASE_URL": campaign_db,
            "CRM_CAMPAIGN_CHANNEL_WEBHOOK_URLS": json.dumps({"webhook": sink.url}),
            "CRM_CAMPAIGN_DELIVERY_LEASE_SECONDS": "1.5",
            "CRM_CAMPAIGN_DELIVERY_CLAIM_BATCH": "100",
            "CRM_CAMPAIGN_DELIVERY_RATE_LIMITS": "{}",
            "CRM_CAMPAIGN_DELIVERY_QUIET_HOURS_START": "00:00",
            "CRM_CAMPAIGN_DELIVERY_QUIET_HOURS_END": "00:00",
        }
    )
    return env


async def _start(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "campaign.delivery.worker", env=env, stdout=asyncio.subprocess.DEVNULL
    )


async def test_a_worker_killed_mid_batch_leaves_nothing_behind_and_repeats_only_same_ids(
    sessions: async_sessionmaker[AsyncSession],
    campaign_engine: AsyncEngine,
    campaign_db: str,
    delivery_settings: CampaignSettings,
    sink: WebhookSink,
) -> None:
    total = 600
    sink.delay_seconds = 0.005  # sending dominates each batch, so the kill lands while rows are in flight
    customers = await add_members(campaign_engine, total)
    campaign_id = await campaign_with_content(sessions, customers)
    env = _worker_env(campaign_db, delivery_settings, sink)

    first = await _start(env)
    try:
        await wait_until(lambda: _at_least(sink, 100), timeout=60)
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    async with campaign_engine.connect() as conn:
        in_flight = (
            await conn.execute(text("SELECT count(*) FROM delivery WHERE status = 'sending'"))
        ).scalar_one()
    assert in_flight > 0  # the kill left claimed rows behind, with their lease

    second = await _start(env)
    try:
        await wait_until(lambda: _all_sent(campaign_engine, campaign_id, total), timeout=90)
    finally:
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), 20) == 0  # graceful stop

    async with campaign_engine.connect() as conn:
        ids = {str(row[0]) for row in await conn.execute(text("SELECT id FROM delivery"))}
    assert set(sink.ids) == ids  # every message arrived, and nothing else did
    repeats = sum(sink.ids.values()) - len(ids)
    assert repeats <= in_flight  # only rows in flight at the kill were sent twice, with the same id


async def _at_least(sink: WebhookSink, count: int) -> bool:
    return sink.requests >= count


async def _all_sent(engine: AsyncEngine, campaign_id: object, total: int) -> bool:
    return (await statuses(engine, campaign_id)).get("sent") == total  # type: ignore[arg-type]
