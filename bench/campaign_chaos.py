"""Chaos for the delivery ledger: workers SIGKILLed at random moments and restarted, a pause and a
resume in the middle; at the end the loopback provider's counts are checked against the ledger.

    .venv/bin/python bench/campaign_chaos.py [--recipients 200000] [--workers 2] [--kill-every 3]

Required: 0 missing (every ledger row arrived), 0 duplicates (no message arrived that is not one
ledger row's id: a ledger key is one row, so a second message for a key would need a second id), and
0 messages arriving while the campaign is paused (after the batches in hand finished). Raw
re-deliveries (the same webhook-id twice) are allowed — they are the rows in flight when a worker
was killed, re-sent after their lease with the same id, which a provider dedupes on.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid

import _harness
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

from campaign.delivery import service
from crm_common.db import session_factory
from tests.support import drop_database, migrated_database


async def run(recipients: int, workers: int, kill_every: float, lease: float, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    with _harness.engines() as (server_url, nats_url):
        url = await migrated_database(server_url, "campaign")
        engine = create_async_engine(make_url(url).set(drivername="postgresql+asyncpg"), pool_size=4)
        sink = SinkProcess().start()
        pool: WorkerPool | None = None
        try:
            sessions = session_factory(engine)
            customers = await seed_members(url, recipients)
            campaign_id = uuid.uuid4()
            async with sessions() as session, session.begin():
                content_id = await marketing_content(
                    session, campaign_id, "webhook", "Chaos", "Hello {{ customer.first_name }}"
                )
            await enqueue_broadcast(sessions, campaign_id, content_id, customers)

            env = worker_env(url, nats_url, sink.url, delivery_lease_seconds=str(lease))
            pool = WorkerPool(workers, env)
            started = time.perf_counter()
            pool.start()

            async def arrived() -> int:
                return int((await asyncio.to_thread(sink.stats))["distinct"])

            async def unfinished() -> int:
                async with engine.connect() as conn:
                    query = text("SELECT count(*) FROM delivery WHERE status <> 'sent'")
                    return int((await conn.execute(query)).scalar_one())

            paused = False
            pause_report: dict[str, object] = {}
            next_kill = time.perf_counter() + rng.uniform(0.5, 2 * kill_every)
            while await unfinished() > 0:
                await asyncio.sleep(0.1)
                now = time.perf_counter()
                if now >= next_kill:
                    victim = rng.randrange(workers)
                    pool.kill(victim)
                    await asyncio.sleep(rng.uniform(0.0, 0.5))
                    pool.start(victim)
                    next_kill = now + rng.uniform(0.5, 2 * kill_every)
                if not paused and await arrived() >= recipients // 2:
                    paused = True
                    async with sessions() as session, session.begin():
                        await service.pause_campaign(session, campaign_id)
                    at_pause = await arrived()
                    await asyncio.sleep(max(2.0, lease + 0.5))  # batches in hand finish (killed ones: lease)
                    settled = await arrived()
                    await asyncio.sleep(3.0)
                    during = await arrived() - settled
                    async with sessions() as session, session.begin():
                        await service.resume_campaign(session, campaign_id)
                    pause_report = {
                        "pause_at_arrived": at_pause,
                        "finished_after_pause": settled - at_pause,
                        "arrived_while_paused": during,
                    }
            await wait_for(lambda: _at_least(arrived, recipients), timeout=60)
            elapsed = time.perf_counter() - started
            exit_codes = pool.stop()
            kills = pool.kills
            pool = None
            requests, ids = sink.stop()
            async with engine.connect() as conn:
                ledger_ids = {str(row[0]) for row in await conn.execute(text("SELECT id FROM delivery"))}
                attempts = dict(
                    (await conn.execute(text("SELECT attempts, count(*) FROM delivery GROUP BY 1"))).all()
                )
            arrived_ids = set(ids)
            return {
                "recipients": recipients,
                "workers": workers,
                "lease_seconds": lease,
                "kills": kills,
                "seconds": round(elapsed, 1),
                "messages_per_s_with_chaos": round(recipients / elapsed),
                "missing": len(ledger_ids - arrived_ids),
                "duplicates_by_message_id": len(arrived_ids - ledger_ids),
                "raw_redeliveries_same_webhook_id": requests - len(arrived_ids),
                "messages_delivered_more_than_once": sum(1 for count in ids.values() if count > 1),
                **pause_report,
                "attempts_histogram": attempts,
                "worker_exit_codes_at_end": exit_codes,
                "engines": _harness.engines_in_use(),
            }
        finally:
            if pool is not None:
                pool.stop()
            if sink.process is not None and sink.process.poll() is None:
                sink.stop()
            await engine.dispose()
            await drop_database(server_url, url)


async def _at_least(count, target: int) -> bool:  # type: ignore[no-untyped-def]
    return bool(await count() >= target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kill-every", type=float, default=8.0, help="mean seconds between SIGKILLs")
    parser.add_argument("--lease", type=float, default=3.0, help="delivery lease seconds")
    parser.add_argument("--seed", type=int, default=7)
    arguments = parser.parse_args()
    figures = asyncio.run(
        run(arguments.recipients, arguments.workers, arguments.kill_every, arguments.lease, arguments.seed)
    )
    _harness.report("campaign_chaos", figures)
    failed = figures["missing"] or figures["duplicates_by_message_id"] or figures.get("arrived_while_paused")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
