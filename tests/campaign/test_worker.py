import asyncio
import uuid

import nats
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign.database import metadata
from campaign.settings import CampaignSettings
from campaign.worker import CONSUMERS
from crm_common.events.bus import ensure_stream
from crm_common.worker import serve_worker
from tests.campaign.support import customer_created, stored_member
from tests.support import wait_until


async def test_worker_projects_a_customer_created_published_on_jetstream(
    campaign_settings: CampaignSettings, campaign_engine: AsyncEngine
) -> None:
    envelope = customer_created()
    stop = asyncio.Event()
    worker = asyncio.create_task(serve_worker(campaign_settings, metadata, CONSUMERS, stop))
    nc = await nats.connect(campaign_settings.nats_url)
    try:
        js = nc.jetstream()
        await ensure_stream(js)
        await js.publish(
            envelope.subject, envelope.model_dump_json().encode(), headers={"Nats-Msg-Id": str(envelope.id)}
        )
        customer_id = uuid.UUID(envelope.payload["customer_id"])
        member = await wait_until(lambda: stored_member(campaign_engine, customer_id))
        assert member.display_name == envelope.payload["display_name"]
    finally:
        await nc.close()
        stop.set()
        await asyncio.wait_for(worker, timeout=10)
