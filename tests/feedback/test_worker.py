import asyncio
import uuid

import nats
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_common.events.bus import ensure_stream
from crm_common.worker import serve_worker
from feedback.database import metadata
from feedback.settings import FeedbackSettings
from feedback.worker import CONSUMERS
from tests.feedback.support import customer_created, stored_customer
from tests.support import wait_until


async def test_worker_records_a_customer_created_published_on_jetstream(
    feedback_settings: FeedbackSettings, feedback_engine: AsyncEngine
) -> None:
    envelope = customer_created()
    stop = asyncio.Event()
    worker = asyncio.create_task(serve_worker(feedback_settings, metadata, CONSUMERS, stop))
    nc = await nats.connect(feedback_settings.nats_url)
    try:
        js = nc.jetstream()
        await ensure_stream(js)
        await js.publish(
            envelope.subject, envelope.model_dump_json().encode(), headers={"Nats-Msg-Id": str(envelope.id)}
        )
        customer_id = uuid.UUID(envelope.payload["customer_id"])
        customer = await wait_until(lambda: stored_customer(feedback_engine, customer_id))
        assert customer.display_name == envelope.payload["display_name"]
    finally:
        await nc.close()
        stop.set()
        await asyncio.wait_for(worker, timeout=10)
