"""Status-change notifications at scale: one idea with 100,000 voters changes status; how long until
every voter's ``idea.status_notification`` event is written (fan-out) and handed to NATS (publish).

    .venv/bin/python bench/feedback_fanout.py [--voters 100000]
    .venv/bin/python bench/feedback_fanout.py --quick

Target (issue): all 100,000 events handed to the bus ≤ 60 s after the status change. The feedback
service and its worker (``python -m feedback.worker``: the notification fan-out job and the outbox
relay) run as real processes on a fresh migrated database (embedded PostgreSQL/NATS, or
CRM_DATABASE_URL / CRM_NATS_URL) with the service's default settings. The votes are seeded in SQL; the
status change goes through the API as an admin. Time 0 is the status change's response. The fan-out
is done when the worker marks it done (notification_fanout.done_at); publishing is done when the last
event for the idea arrives on a NATS subscription to crm.feedback.idea.status_notification, and, in
the database, at the last outbox_event.published_at of those events.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import _harness
import asyncpg
import httpx
import nats
import uvloop
from _services import CpuShare, ServiceProcess, load_average, service_process
from nats.aio.msg import Msg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from crm_common.auth import Role
from crm_common.db import session_factory
from crm_common.events.envelope import subject_for
from feedback.ideas import service as idea_service
from feedback.settings import FeedbackSettings
from tests.support import staff_token

SETTINGS = FeedbackSettings.model_construct()
SUBJECT = subject_for("feedback", "idea.status_notification")
ADMIN = {"Authorization": f"Bearer {staff_token(Role.ADMIN)}"}


async def seed_voted_idea(database_url: str, voters: int, label: str) -> uuid.UUID:
    """A published idea in status ``planned`` with ``voters`` votes (4 in 5 up); its tallies and
    ranking keys come from the service's recount."""
    conn = await asyncpg.connect(database_url)
    try:
        idea_id: uuid.UUID = await conn.fetchval(
            """
            INSERT INTO idea (id, board_id, author_id, title, body, tags, status, moderation_state,
                              text_hash, trending_score, created_at, status_changed_at)
            VALUES (gen_random_uuid(), (SELECT id FROM board WHERE slug = 'ideas'), NULL,
                    'Fan-out ' || $1::text, 'An idea many customers voted for.', '{}', 'planned',
                    'published', md5($1::text), 0, now() - interval '30 days', now() - interval '30 days')
            RETURNING id
            """,
            label,
        )
        await conn.execute(
            """
            INSERT INTO vote (idea_id, customer_id, direction, cast_at)
            SELECT $1, md5($2::text || '-voter-' || n)::uuid, CASE WHEN n % 5 = 0 THEN -1 ELSE 1 END,
                   now() - random() * interval '30 days'
            FROM generate_series(1, $3) AS n
            """,
            idea_id,
            label,
            voters,
        )
    finally:
        await conn.close()
    engine = create_async_engine(make_url(database_url).set(drivername="postgresql+asyncpg"))
    try:
        async with session_factory(engine)() as session, session.begin():
            await idea_service.recount(session, [idea_id], settings=SETTINGS)
    finally:
        await engine.dispose()
    return idea_id


@dataclass
class Arrivals:
    """The status notifications of one idea as they arrive on a NATS subscription."""

    idea_id: str
    received: int = 0
    customers: set[str] = field(default_factory=set)
    first_at: float | None = None
    last_at: float | None = None
    complete: asyncio.Event = field(default_factory=asyncio.Event)
    expected: int = 0

    async def on_message(self, message: Msg) -> None:
        payload = json.loads(message.data)["payload"]
        if payload["idea_id"] != self.idea_id:
            return
        now = time.perf_counter()
        self.first_at = self.first_at or now
        self.last_at = now
        self.received += 1
        self.customers.add(payload["customer_id"])
        if len(self.customers) >= self.expected:
            self.complete.set()


async def change_status(client: httpx.AsyncClient, idea_id: uuid.UUID) -> dict[str, Any]:
    response = await client.post(
        f"/v1/ideas/{idea_id}/status",
        json={"status": "in_progress", "response": "We are building this now. Thank you for voting!"},
        headers=ADMIN,
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


async def fan_out(
    running: ServiceProcess, nats_url: str, idea_id: uuid.UUID, voters: int, timeout: float
) -> dict[str, Any]:
    """Change the idea's status and follow its notifications to NATS; times are from the response."""
    arrivals = Arrivals(idea_id=str(idea_id), expected=voters)
    nc = await nats.connect(nats_url, name="bench-fanout")
    # Room for every message at once: a subscriber that falls behind must not drop any.
    subscription = await nc.subscribe(
        SUBJECT, cb=arrivals.on_message, pending_msgs_limit=4 * voters, pending_bytes_limit=4 * 2**30
    )
    db = await asyncpg.connect(running.database_url)
    cpu = CpuShare(
        {"service": running.pid, "worker": running.worker_pid or running.pid},
        {"postgres": "postgres", "nats": "nats-server"},
    )
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=60) as client:
            cpu.start()
            sent = time.perf_counter()
            change = await change_status(client, idea_id)
            t0 = time.perf_counter()
        fanout_done: float | None = None
        deadline = t0 + timeout
        while time.perf_counter() < deadline:
            if fanout_done is None and await db.fetchval(
                "SELECT done_at IS NOT NULL FROM notification_fanout WHERE status_change_id = $1",
                uuid.UUID(change["id"]),
            ):
                fanout_done = time.perf_counter()
            if arrivals.complete.is_set() and fanout_done is not None:
                break
            await asyncio.sleep(0.05)
        shares = cpu.stop()
        await subscription.unsubscribe()
        stored = await db.fetchrow(
            """
            SELECT f.notified_count, extract(epoch FROM f.done_at - c.changed_at) AS fanout_s,
                   (SELECT count(*) FROM outbox_event o WHERE o.subject = $2
                      AND o.envelope -> 'payload' ->> 'status_change_id' = c.id::text) AS events,
                   (SELECT count(*) FROM outbox_event o WHERE o.subject = $2 AND o.published_at IS NOT NULL
                      AND o.envelope -> 'payload' ->> 'status_change_id' = c.id::text) AS published,
                   (SELECT extract(epoch FROM max(o.published_at) - c.changed_at) FROM outbox_event o
                     WHERE o.subject = $2
                       AND o.envelope -> 'payload' ->> 'status_change_id' = c.id::text) AS last_publish_s
            FROM idea_status_change c JOIN notification_fanout f ON f.status_change_id = c.id
            WHERE c.id = $1
            """,
            uuid.UUID(change["id"]),
            SUBJECT,
        )
    finally:
        await db.close()
        await nc.close()

    def since_response(at: float | None) -> float | None:
        return round(at - t0, 2) if at is not None else None

    all_published = since_response(arrivals.last_at) if arrivals.complete.is_set() else None
    return {
        "voters": voters,
        "status_change_request_ms": round((t0 - sent) * 1000, 1),
        "fanout_done_s": since_response(fanout_done),
        "first_event_on_nats_s": since_response(arrivals.first_at),
        "all_events_on_nats_s": all_published,
        "events_per_s": round(voters / all_published) if all_published else None,
        "events_received": arrivals.received,
        "distinct_voters_told": len(arrivals.customers),
        "duplicates_received": arrivals.received - len(arrivals.customers),
        "db_notified_count": stored["notified_count"],
        "db_events_written": stored["events"],
        "db_events_published": stored["published"],
        "db_fanout_done_after_change_s": _seconds(stored["fanout_s"]),
        "db_last_published_after_change_s": _seconds(stored["last_publish_s"]),
        "cpu": shares,
    }


def _seconds(value: Any) -> float | None:
    return round(float(value), 2) if value is not None else None


async def measure(running: ServiceProcess, nats_url: str, args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    warmup_idea = await seed_voted_idea(running.database_url, 20, f"warmup-{uuid.uuid4().hex[:6]}")
    idea_id = await seed_voted_idea(running.database_url, args.voters, f"bench-{uuid.uuid4().hex[:6]}")
    figures: dict[str, Any] = {"seeding_seconds": round(time.perf_counter() - started, 1)}
    # The same path end to end on a small idea first: the worker is up, relaying, and seen on NATS.
    warmup = await fan_out(running, nats_url, warmup_idea, 20, timeout=60)
    if warmup["all_events_on_nats_s"] is None:
        raise RuntimeError(f"the worker did not deliver the warm-up notifications: {warmup}")
    figures["load_average_before"] = load_average()
    figures["fanout"] = await fan_out(running, nats_url, idea_id, args.voters, timeout=args.timeout)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--voters", type=int, default=100_000)
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="give up waiting after this many seconds"
    )
    parser.add_argument("--quick", action="store_true", help="10,000 voters: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.voters = 10_000
    figures: dict[str, Any] = {
        "engines": _harness.engines_in_use(),
        "notification_chunk_size": SETTINGS.notification_chunk_size,
        "notification_poll_seconds": SETTINGS.notification_poll_seconds,
        "outbox_poll_seconds": SETTINGS.outbox_poll_seconds,
    }
    with (
        _harness.engines() as (server_url, nats_url),
        service_process("feedback", server_url, nats_url, with_worker=True) as running,
    ):
        figures.update(uvloop.run(measure(running, nats_url, args)))
    figures["targets"] = {"all_events_on_nats_s": "<= 60"}
    _harness.report("feedback_fanout" + ("_quick" if args.quick else ""), figures)


if __name__ == "__main__":
    main()
