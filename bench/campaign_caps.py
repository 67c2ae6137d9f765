"""Frequency caps under concurrency: many campaigns aimed at the same customers, several delivery
worker processes deciding at once; every rolling cap window is then checked over what was sent.

    .venv/bin/python bench/campaign_caps.py [--campaigns 100] [--customers 10000] [--workers 2]

Caps (rolling, marketing only): 3 per 24 h on all channels, 2 per 24 h on sms, 10 per 168 h. Campaigns
alternate sms / push / webhook (all to the loopback provider) and their ledger rows are enqueued
interleaved, so workers claim batches holding the same customers for different campaigns at the same
moment. A violation is any window (ending at any sent message) holding more messages than its cap;
0 are required. The provider's distinct webhook-ids must equal the ledger's sent rows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from datetime import timedelta

import _harness
from _sinks import SinkProcess, WorkerPool, marketing_content, seed_members, wait_for, worker_env
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from campaign.channels.types import Channel
from campaign.delivery import service
from campaign.delivery.service import SendRequest
from crm_common.db import session_factory
from tests.support import drop_database, migrated_database

CAPS = [
    {"channel": None, "max": 3, "window_hours": 24},
    {"channel": "sms", "max": 2, "window_hours": 24},
    {"channel": None, "max": 10, "window_hours": 168},
]
CHANNELS = [Channel.SMS, Channel.PUSH, Channel.WEBHOOK]

# For every sent marketing message: how many sent messages (of the cap's channel, or all) fall in the
# window ending at it. More than the cap's max is a violation.
VIOLATIONS = """
SELECT count(*) FROM (
  SELECT count(*) OVER (PARTITION BY customer_id ORDER BY cap_counted_at
                        RANGE BETWEEN CAST(:window AS interval) PRECEDING AND CURRENT ROW) AS in_window
  FROM delivery WHERE status = 'sent' AND purpose = 'marketing'
    AND (CAST(:channel AS text) IS NULL OR channel = :channel)
) AS w WHERE in_window > :max
"""


async def run(campaigns: int, customers_count: int, workers: int) -> dict[str, object]:
    with _harness.engines() as (server_url, nats_url):
        url = await migrated_database(server_url, "campaign")
        engine = create_async_engine(make_url(url).set(drivername="postgresql+asyncpg"), pool_size=4)
        sink = SinkProcess().start()
        pool: WorkerPool | None = None
        try:
            sessions = session_factory(engine)
            customers = await seed_members(url, customers_count)
            plan: list[tuple[uuid.UUID, Channel, uuid.UUID]] = []
            async with sessions() as session, session.begin():
                for number in range(campaigns):
                    campaign_id, channel = uuid.uuid4(), CHANNELS[number % len(CHANNELS)]
                    content_id = await marketing_content(
                        session, campaign_id, channel, f"Campaign {number}", "Hi {{ customer.first_name }}"
                    )
                    plan.append((campaign_id, channel, content_id))
            started = time.perf_counter()
            chunk = max(1, 20_000 // campaigns)
            for offset in range(0, customers_count, chunk):  # interleaved: every campaign per customer chunk
                async with sessions() as session, session.begin():
                    await service.enqueue(
                        session,
                        [
                            SendRequest(campaign_id, "s1", "a", customer_id, channel, "marketing", content_id)
                            for customer_id in customers[offset : offset + chunk]
                            for campaign_id, channel, content_id in plan
                        ],
                    )
            enqueue_seconds = time.perf_counter() - started

            env = worker_env(url, nats_url, sink.url, delivery_frequency_caps=json.dumps(CAPS))
            env["CRM_CAMPAIGN_CHANNEL_WEBHOOK_URLS"] = json.dumps({c.value: sink.url for c in CHANNELS})
            pool = WorkerPool(workers, env)
            started = time.perf_counter()
            pool.start()

            async def settled() -> bool:
                async with engine.connect() as conn:
                    query = text(
                        "SELECT count(*) FROM delivery WHERE status IN ('pending', 'held', 'sending')"
                    )
                    return int((await conn.execute(query)).scalar_one()) == 0

            total = campaigns * customers_count
            await wait_for(settled, timeout=max(600.0, total / 500), interval=0.5)
            decide_seconds = time.perf_counter() - started
            pool.stop()
            pool = None
            requests, ids = sink.stop()
            async with engine.connect() as conn:
                violations = {}
                for cap in CAPS:
                    name = f"violations_{cap['channel'] or 'all'}_{cap['max']}_per_{cap['window_hours']}h"
                    violations[name] = int(
                        (
                            await conn.execute(
                                text(VIOLATIONS),
                                {
                                    "window": timedelta(hours=float(cap["window_hours"])),
                                    "channel": cap["channel"],
                                    "max": cap["max"],
                                },
                            )
                        ).scalar_one()
                    )
                by_status = {
                    f"{status}:{reason}": count
                    for status, reason, count in (
                        await conn.execute(
                            text("SELECT status, coalesce(reason, ''), count(*) FROM delivery GROUP BY 1, 2")
                        )
                    ).all()
                }
                sent_ids = {
                    str(row[0])
                    for row in await conn.execute(text("SELECT id FROM delivery WHERE status = 'sent'"))
                }
                per_customer = dict(
                    (
                        await conn.execute(
                            text(
                                "SELECT n, count(*) FROM (SELECT customer_id, count(*) AS n FROM delivery "
                                "WHERE status = 'sent' GROUP BY 1) s GROUP BY 1"
                            )
                        )
                    ).all()
                )
            return {
                "campaigns": campaigns,
                "customers": customers_count,
                "ledger_rows": total,
                "workers": workers,
                "enqueue_seconds": round(enqueue_seconds, 1),
                "decide_and_send_seconds": round(decide_seconds, 1),
                "rows_decided_per_s": round(total / decide_seconds),
                **violations,
                "ledger_status": by_status,
                "customers_by_messages_sent": per_customer,
                "sink_distinct_equals_sent": set(ids) == sent_ids,
                "sink_requests": requests,
                "engines": _harness.engines_in_use(),
            }
        finally:
            if pool is not None:
                pool.stop()
            if sink.process is not None and sink.process.poll() is None:
                sink.stop()
            await engine.dispose()
            await drop_database(server_url, url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=100)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    arguments = parser.parse_args()
    figures = asyncio.run(run(arguments.campaigns, arguments.customers, arguments.workers))
    _harness.report("campaign_caps", figures)
    failed = (
        any(value for key, value in figures.items() if key.startswith("violations_"))
        or not figures["sink_distinct_equals_sent"]
    )
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
