"""Outbox throughput: events committed → published to JetStream → applied by an idempotent consumer.

    .venv/bin/python bench/outbox_relay.py [--events 20000]

The relay and consumer are the ones every service's worker runs.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import _harness
from sqlalchemy import Column, Integer, String, Table, func, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from crm_common.db import new_metadata, session_factory
from crm_common.events import EventEnvelope, add_event_tables, record_event
from crm_common.events.consumer import ConsumerRunner, EventConsumer
from crm_common.events.relay import OutboxRelay, outbox_lag
from tests.support import create_database, drop_database

METADATA = new_metadata()
add_event_tables(METADATA)
APPLIED = Table(
    "applied",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("event_id", String(36), nullable=False),
)


async def run(events: int, batch: int) -> dict[str, float | int]:
    with _harness.engines() as (server_url, nats_url):
        url = await create_database(server_url, "crm_bench_outbox")
        engine = create_async_engine(make_url(url).set(drivername="postgresql+asyncpg"), pool_size=8)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(METADATA.create_all)
            sessions = session_factory(engine)
            event_type = f"bench{int(time.time())}.happened"

            started = time.perf_counter()
            for offset in range(0, events, batch):
                async with sessions() as session, session.begin():
                    for n in range(offset, min(offset + batch, events)):
                        await record_event(
                            session, METADATA, producer="bench", event_type=event_type, payload={"n": n}
                        )
            write_seconds = time.perf_counter() - started

            async def apply(session: AsyncSession, envelope: EventEnvelope) -> None:
                await session.execute(insert(APPLIED).values(event_id=str(envelope.id)))

            consumer = EventConsumer(
                name=f"bench-{event_type.split('.')[0]}",
                handlers={f"crm.bench.{event_type}": apply},
                batch_size=500,
            )
            stop = asyncio.Event()
            relay = OutboxRelay(engine, METADATA, nats_url, name="bench", poll_seconds=0.05)
            runner = ConsumerRunner(consumer, sessions, METADATA, nats_url)
            started = time.perf_counter()
            relay_task = asyncio.create_task(relay.run(stop))
            while (await outbox_lag(engine, METADATA))[0] > 0:
                await asyncio.sleep(0.05)
            publish_seconds = time.perf_counter() - started

            started = time.perf_counter()
            consumer_task = asyncio.create_task(runner.run(stop))
            while True:
                async with engine.connect() as conn:
                    applied = (await conn.execute(select(func.count()).select_from(APPLIED))).scalar_one()
                if applied >= events:
                    break
                await asyncio.sleep(0.1)
            consume_seconds = time.perf_counter() - started
            stop.set()
            await asyncio.gather(relay_task, consumer_task)
        finally:
            await engine.dispose()
            await drop_database(server_url, url)
    return {
        "events": events,
        "write_events_per_s": round(events / write_seconds),
        "relay_published_per_s": round(events / publish_seconds),
        "consumer_applied_per_s": round(events / consume_seconds),
        "duplicates_applied": int(applied - events),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=200, help="events per writing transaction")
    args = parser.parse_args()
    _harness.report("outbox_relay", asyncio.run(run(args.events, args.batch)))


if __name__ == "__main__":
    main()
