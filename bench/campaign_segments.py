"""Segments over a big read model: full evaluation of a 10-condition rule, and event → entry latency.

    .venv/bin/python bench/campaign_segments.py [--customers 1000000] [--latency-events 50]

Builds a migrated campaign database with N members (and ~2.5 activity rows each) with
``INSERT ... SELECT generate_series``, then measures

- the full evaluation (count) of a 10-condition segment mixing field conditions, an event condition and a
  segment reference (target ≤ 3 s), and the time to compute and store its membership;
- the latency from an event's consumption (the audience consumer's transaction committed) to the
  ``segment.entered`` row in the outbox, written by the real membership job (target ≤ 1 s; p50/p99).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import _harness
from sqlalchemy import text
from sqlalchemy.engine import make_url

from campaign.audience import service as audience
from campaign.audience.consumers import audience_consumer
from campaign.database import metadata
from campaign.segments import repository as segment_repository
from campaign.segments import service as segments
from campaign.segments.jobs import membership_job
from campaign.settings import CampaignSettings
from crm_common.db import create_engine, session_factory
from crm_common.events import EventEnvelope
from crm_common.events.consumer import ConsumerRunner
from tests.support import drop_database, migrated_database

MEMBERS_SQL = """
INSERT INTO audience_member (customer_id, display_name, email, traits, time_zone, consents, order_count,
    order_total, avg_order_value, first_order_at, last_order_at, top_categories, last_activity_at,
    latest_nps, nps_count, open_complaints, complaint_count, advocate_score, advocate_tier,
    customer_created_at)
SELECT gen_random_uuid(), 'Customer ' || g, 'c' || g || '@example.com',
    jsonb_build_object('city', (ARRAY['서울', '부산', '인천', '대구', '대전', '광주'])[1 + g % 6],
                       'country', 'KR'),
    'Asia/Seoul',
    CASE WHEN g % 3 = 0 THEN '{"email:marketing": true}'::jsonb ELSE '{}'::jsonb END,
    oc, oc * 35000, CASE WHEN oc > 0 THEN 35000 END,
    CASE WHEN oc > 0 THEN now() - make_interval(days => (r * 400)::int + oc * 20) END,
    CASE WHEN oc > 0 THEN now() - make_interval(days => (r * 400)::int) END,
    CASE WHEN oc > 0 THEN ARRAY[(ARRAY['shoes', 'bags', 'hats', 'tops', 'beauty'])[1 + g % 5]] ELSE '{}' END,
    now() - make_interval(days => (r * 200)::int),
    CASE WHEN g % 4 = 0 THEN g % 11 END, CASE WHEN g % 4 = 0 THEN 1 ELSE 0 END,
    CASE WHEN g % 50 = 0 THEN 1 ELSE 0 END, CASE WHEN g % 25 = 0 THEN 1 ELSE 0 END,
    (g % 100)::float8, (ARRAY['neutral', 'supporter', 'advocate'])[1 + g % 3],
    now() - make_interval(days => (r * 900)::int)
FROM (SELECT g, (random() * 6)::int AS oc, random() AS r FROM generate_series(1, :n) AS g) AS s
"""

ACTIVITY_SQL = """
INSERT INTO customer_activity (event_id, customer_id, origin_customer_id, activity_type, channel,
    occurred_at, properties)
SELECT gen_random_uuid(), m.customer_id, m.customer_id,
    (ARRAY['order_placed', 'order_placed', 'page_view', 'page_view', 'message.opened'])[1 + (k + h) % 5],
    'web',
    now() - make_interval(days => ((h + k * 37) % 365)),
    jsonb_build_object('category', (ARRAY['shoes', 'bags', 'hats', 'tops', 'beauty'])[1 + (h + k) % 5],
                       'total', ((h % 20) * 5000)::text)
FROM (SELECT customer_id, abs(hashtext(customer_id::text)) AS h FROM audience_member) AS m
CROSS JOIN LATERAL generate_series(1, 1 + m.h % 4) AS k
"""

BASE_RULE = {"field": "value_tier", "op": "in", "value": ["vip", "high", "medium"]}


def ten_conditions(base_segment: uuid.UUID) -> dict[str, Any]:
    return {
        "and": [
            {"field": "lifecycle_stage", "op": "in", "value": ["active", "at_risk", "lapsed", "new"]},
            {"field": "traits.city", "op": "in", "value": ["서울", "부산", "인천"]},
            {"field": "order_total", "op": "gte", "value": 70000},
            {"field": "order_count", "op": "between", "value": [2, 10]},
            {"field": "last_order_at", "op": "within_days", "value": 365},
            {"field": "open_complaints", "op": "eq", "value": 0},
            {"not": {"field": "advocate_tier", "op": "eq", "value": "neutral"}},
            {
                "or": [
                    {"field": "consents.email:marketing", "op": "eq", "value": True},
                    {"field": "latest_nps", "op": "gte", "value": 7},
                ]
            },
            {"event": "order_placed", "op": "gte", "count": 1, "within_days": 180},
            {"segment": str(base_segment)},
        ]
    }


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def run(customers: int, latency_events: int) -> dict[str, Any]:
    figures: dict[str, Any] = {"customers": customers, "engines": _harness.engines_in_use()}
    with _harness.engines() as (server_url, nats_url):
        url = await migrated_database(server_url, "campaign")
        async_url = make_url(url).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
        settings = CampaignSettings(
            database_url=async_url, nats_url=nats_url, environment="dev", log_json=False
        )
        engine = create_engine(async_url, pool_size=6, max_overflow=2)
        sessions = session_factory(engine)
        try:
            started = time.perf_counter()
            async with engine.begin() as conn:
                await conn.execute(text(MEMBERS_SQL), {"n": customers})
                await conn.execute(text(ACTIVITY_SQL))
            figures["generate_seconds"] = round(time.perf_counter() - started, 1)
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("VACUUM ANALYZE audience_member"))
                await conn.execute(text("VACUUM ANALYZE customer_activity"))
                figures["activity_rows"] = (
                    await conn.execute(text("SELECT count(*) FROM customer_activity"))
                ).scalar()

            started = time.perf_counter()
            async with sessions() as session, session.begin():
                changed = await audience.refresh_derivations(session, settings)
            figures["derive_all_seconds"] = round(time.perf_counter() - started, 1)
            figures["derive_all_changed"] = changed
            async with engine.begin() as conn:
                # The bench's synthetic base was never "dirty": start the latency part with an empty set.
                await conn.execute(text("TRUNCATE audience_change"))
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("VACUUM ANALYZE audience_member"))

            started = time.perf_counter()
            async with sessions() as session, session.begin():
                base = await segments.create_segment(
                    session, name="Valuable", description=None, rule=BASE_RULE, created_by="bench"
                )
            figures["base_segment_members"] = base.member_count
            figures["base_segment_create_seconds"] = round(time.perf_counter() - started, 2)
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("VACUUM ANALYZE segment_membership"))

            rule = ten_conditions(base.id)
            timings = []
            count = 0
            for _ in range(5):
                async with sessions() as session:
                    started = time.perf_counter()
                    count = await segment_repository.count_matching(session, rule)
                    timings.append(time.perf_counter() - started)
            figures["ten_condition_matches"] = count
            figures["ten_condition_full_eval_seconds_first"] = round(timings[0], 3)
            figures["ten_condition_full_eval_seconds_median"] = round(statistics.median(timings), 3)
            figures["ten_condition_full_eval_target_seconds"] = 3.0

            started = time.perf_counter()
            async with sessions() as session, session.begin():
                target = await segments.create_segment(
                    session, name="Ten conditions", description=None, rule=rule, created_by="bench"
                )
            figures["ten_condition_create_with_membership_seconds"] = round(time.perf_counter() - started, 2)
            figures["ten_condition_members"] = target.member_count

            figures.update(await _latency(engine, sessions, settings, latency_events))
        finally:
            await engine.dispose()
            await drop_database(server_url, url)
    return figures


async def _latency(engine: Any, sessions: Any, settings: CampaignSettings, events: int) -> dict[str, Any]:
    """Event consumed → ``segment.entered`` in the outbox, through the real consumer handler and job."""
    async with sessions() as session, session.begin():
        pinged = await segments.create_segment(
            session,
            name="Pinged",
            description=None,
            rule={
                "and": [
                    {"event": "bench_ping", "op": "gte", "count": 1},
                    {"field": "order_count", "op": "gte", "value": 0},
                ]
            },
            created_by="bench",
        )
    async with engine.connect() as conn:
        picked = [
            row[0]
            for row in await conn.execute(
                text("SELECT customer_id FROM audience_member ORDER BY random() LIMIT :n"), {"n": events}
            )
        ]
    runner = ConsumerRunner(audience_consumer, sessions, metadata, settings.nats_url)
    stop = asyncio.Event()
    job = asyncio.create_task(membership_job(settings)(sessions, stop))
    consume, latency = [], []
    try:
        await asyncio.sleep(0.5)
        for customer_id in picked:
            envelope = EventEnvelope(
                type="touchpoint.recorded",
                producer="identity",
                subject_id=str(customer_id),
                payload={
                    "customer_id": str(customer_id),
                    "channel": "web",
                    "type": "bench_ping",
                    "occurred_at": datetime.now(UTC).isoformat(),
                    "properties": {},
                },
            )
            started = time.perf_counter()
            assert await runner.handle(envelope.subject, envelope.model_dump_json().encode(), 1)
            consumed = time.perf_counter()
            consume.append(consumed - started)
            while True:
                async with engine.connect() as conn:
                    found = (
                        await conn.execute(
                            text(
                                "SELECT 1 FROM outbox_event WHERE subject = 'crm.campaign.segment.entered' "
                                "AND envelope->'payload'->>'customer_id' = :id "
                                "AND envelope->'payload'->>'segment_id' = :segment"
                            ),
                            {"id": str(customer_id), "segment": str(pinged.id)},
                        )
                    ).first()
                if found:
                    latency.append(time.perf_counter() - consumed)
                    break
                if time.perf_counter() - consumed > 30:
                    raise AssertionError("no segment.entered within 30 s")
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.05)  # events arrive spread out, not all in one claim
    finally:
        stop.set()
        await asyncio.wait_for(job, timeout=60)
    return {
        "latency_events": len(latency),
        "consume_ms_p50": round(percentile(consume, 0.5) * 1000, 1),
        "entry_latency_ms_p50": round(percentile(latency, 0.5) * 1000, 1),
        "entry_latency_ms_p99": round(percentile(latency, 0.99) * 1000, 1),
        "entry_latency_ms_max": round(max(latency) * 1000, 1),
        "entry_latency_target_ms": 1000,
        "segments_poll_seconds": settings.segments_poll_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--latency-events", type=int, default=50)
    args = parser.parse_args()
    figures = asyncio.run(run(args.customers, args.latency_events))
    _harness.report("campaign_segments", figures)


if __name__ == "__main__":
    main()
