"""Through the real broker: an event published on JetStream enters a journey via the worker's
campaigns consumer, and the worker's journey runner puts the first send in the delivery ledger."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import nats
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign.campaigns import jobs
from campaign.campaigns.consumers import CONSUMERS
from campaign.database import metadata
from campaign.settings import CampaignSettings
from crm_common.events import EventEnvelope
from crm_common.events.bus import ensure_stream
from crm_common.worker import serve_worker
from tests.campaign.campaigns.conftest import ledger
from tests.campaign.campaigns.test_journeys import launch, send
from tests.support import wait_until


async def test_published_event_enrolls_and_the_worker_runner_enqueues(
    sessions: async_sessionmaker[AsyncSession], settings: CampaignSettings
) -> None:
    # An activity type of this test's own, so events other tests left on the shared stream enter nothing.
    activity_type = f"probe_{uuid.uuid4().hex[:12]}"
    campaign_id = await launch(
        sessions, settings, [send("hello", None)], entry={"type": "event", "event": activity_type}
    )
    customer = uuid.uuid4()
    envelope = EventEnvelope(
        type="touchpoint.recorded",
        producer="identity",
        subject_id=str(uuid.uuid4()),
        payload={
            "touchpoint_id": str(uuid.uuid4()),
            "customer_id": str(customer),
            "channel": "web",
            "type": activity_type,
            "occurred_at": datetime.now(UTC).isoformat(),
        },
    )
    fast = settings.model_copy(update={"campaign_runner_poll_seconds": 0.05})
    stop = asyncio.Event()
    worker = asyncio.create_task(serve_worker(fast, metadata, CONSUMERS, stop, jobs.jobs(fast)))
    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        await ensure_stream(js)
        await js.publish(
            envelope.subject, envelope.model_dump_json().encode(), headers={"Nats-Msg-Id": str(envelope.id)}
        )
        rows = await wait_until(lambda: ledger(sessions, campaign_id))
        assert [(r.step_id, r.customer_id) for r in rows] == [("hello", customer)]
    finally:
        await nc.close()
        stop.set()
        await asyncio.wait_for(worker, timeout=10)
