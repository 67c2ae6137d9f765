"""Broadcast throughput of the delivery ledger: N delivery worker processes → a loopback webhook provider.

    .venv/bin/python bench/campaign_delivery.py [--recipients 30000] [--workers 2] [--batch 500]

The ledger rows are enqueued first (timed on their own), then ``--workers`` processes of
``python -m campaign.delivery.worker`` claim (SKIP LOCKED, leases), check policy (consent, suppression,
caps under per-customer advisory locks), render, send signed webhooks (Standard Webhooks, aiohttp,
HTTP/1.1 keep-alive) and record outcomes. The sink runs in its own process and counts distinct
``webhook-id`` values. Messages/s is measured from the first message arriving to the last.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

import _harness
import _services
from _sinks import (
    SinkProcess,
    WorkerPool,
    enqueue_broadcast,
    marketing_content,
    seed_members,
    wait_for,
    worker_env,
)
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from crm_common.db import session_factory
from tests.support import drop_database, migrated_database


async def run(
    recipients: int, workers: int, batch: int, concurrency: int, connections: int
) -> dict[str, object]:
    with _harness.engines() as (server_url, nats_url):
        url = await migrated_database(server_url, "campaign")
        engine = create_async_engine(make_url(url).set(drivername="postgresql+asyncpg"), pool_size=4)
        sink = SinkProcess().start()
        pool = None
        try:
            sessions = session_factory(engine)
            customers = await seed_members(url, recipients)
            campaign_id = uuid.uuid4()
            async with sessions() as session, session.begin():
                content_id = await marketing_content(
                    session,
                    campaign_id,
                    "webhook",
                    "Winter sale",
                    "Hello {{ customer.first_name }}, 20% off until Sunday.",
                )
            enqueue_seconds = await enqueue_broadcast(sessions, campaign_id, content_id, customers)

            env = worker_env(
                url,
                nats_url,
                sink.url,
                delivery_claim_batch=str(batch),
                delivery_concurrency=str(concurrency),
                channel_http_max_connections=str(connections),
            )
            pool = WorkerPool(workers, env)
            load_before = _services.load_average()
            started = time.perf_counter()
            pool.start()
            parts = {f"worker{i}": pid for i, pid in enumerate(pool.pids())}
            cpu = _services.CpuShare({**parts, "sink": sink.process.pid}, names={"postgres": "postgres"})
            first_at: float | None = None

            async def all_arrived() -> bool:
                nonlocal first_at
                stats = await asyncio.to_thread(sink.stats)
                if first_at is None and stats["distinct"] > 0:
                    first_at = time.perf_counter()
                    cpu.start()  # CPU shares over the sending window, not the processes' start-up
                return stats["distinct"] >= recipients

            await wait_for(all_arrived, timeout=max(120.0, recipients / 200), interval=0.05)
            finished = time.perf_counter()
            shares = cpu.stop()
            exit_codes = pool.stop()
            pool = None
            requests, ids = sink.stop()
            async with engine.connect() as conn:
                by_status = dict(
                    (await conn.execute(text("SELECT status, count(*) FROM delivery GROUP BY status"))).all()
                )
            window = finished - (first_at or started)
            return {
                "recipients": recipients,
                "workers": workers,
                "claim_batch": batch,
                "loops_per_worker": concurrency,
                "http_connections_per_worker": connections,
                "enqueue_seconds": round(enqueue_seconds, 2),
                "enqueue_rows_per_s": round(recipients / enqueue_seconds),
                "startup_to_first_message_s": round((first_at or started) - started, 2),
                "delivery_seconds": round(window, 2),
                "messages_per_s": round(recipients / window),
                "sink_requests": requests,
                "sink_distinct_webhook_ids": len(ids),
                "redeliveries": requests - len(ids),
                "ledger_status": by_status,
                "worker_exit_codes": exit_codes,
                "load_average_before": load_before,
                **{f"cpu_{key}": value for key, value in shares.items()},
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
    parser.add_argument("--recipients", type=int, default=30_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=500, help="ledger rows per claim")
    parser.add_argument("--concurrency", type=int, default=2, help="claim-and-send loops per worker process")
    parser.add_argument("--connections", type=int, default=16, help="pooled HTTP connections per worker")
    arguments = parser.parse_args()
    figures = asyncio.run(
        run(
            arguments.recipients,
            arguments.workers,
            arguments.batch,
            arguments.concurrency,
            arguments.connections,
        )
    )
    _harness.report("campaign_delivery", figures)


if __name__ == "__main__":
    main()
