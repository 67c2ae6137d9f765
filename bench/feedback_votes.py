"""Vote writes through the feedback service: throughput and latency under concurrent load, and the
tallies of one hot idea after 1,000 concurrent calls.

    .venv/bin/python bench/feedback_votes.py [--workers 1,2] [--seconds 20] [--concurrency 4,16,64]
    .venv/bin/python bench/feedback_votes.py --quick

Targets (issue): ≥ 2,000 vote writes/s with p99 ≤ 30 ms on this 2-core machine; tallies exact under
any concurrency. The feedback service runs as a real uvicorn process (once per --workers value) on a
fresh migrated database (embedded PostgreSQL/NATS, or CRM_DATABASE_URL / CRM_NATS_URL), on the same
machine as this load generator. Each request is PUT /v1/ideas/{id}/vote (up or down) or DELETE, by a
customer token picked from --customers; with enough distinct customers the per-customer vote rate
(default 120/min) is never reached, which is the realistic case (--no-rate-limit lifts it instead).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import _harness
import asyncpg
import httpx
import uvloop
from _services import (
    CpuShare,
    ServiceProcess,
    load_average,
    percentile,
    service_process,
    single_connection_client,
)

from feedback.ideas.ranking import activity_key, decay_rate
from feedback.settings import FeedbackSettings
from tests.support import customer_token

HALF_LIFE_HOURS = FeedbackSettings.model_construct().trending_half_life_hours
UNLIMITED_VOTES = {"CRM_FEEDBACK_VOTE_RATE": "[100000, 1]"}


@dataclass
class Tally:
    """What a stretch of load produced, as the client saw it."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)

    def record(self, started: float, status: str) -> None:
        self.latencies_ms.append((time.perf_counter() - started) * 1000)
        self.statuses[status] += 1

    @property
    def ok(self) -> int:
        return self.statuses["200"]

    def summary(self, seconds: float) -> dict[str, Any]:
        errors = {status: n for status, n in sorted(self.statuses.items()) if status != "200"}
        return {
            "requests": len(self.latencies_ms),
            "seconds": round(seconds, 2),
            "votes_per_s": round(self.ok / seconds),
            "errors": sum(errors.values()),
            "errors_by_status": errors,
            "p50_ms": round(percentile(self.latencies_ms, 0.50), 2),
            "p95_ms": round(percentile(self.latencies_ms, 0.95), 2),
            "p99_ms": round(percentile(self.latencies_ms, 0.99), 2),
            "max_ms": round(max(self.latencies_ms, default=float("nan")), 2),
        }


async def vote_once(
    client: httpx.AsyncClient, rng: random.Random, idea_id: uuid.UUID, headers: dict[str, str], tally: Tally
) -> None:
    """Up 45%, down 40%, clear 15% (a clear of no vote is a valid call that changes nothing)."""
    roll = rng.random()
    started = time.perf_counter()
    try:
        if roll < 0.85:
            direction = "up" if roll < 0.45 else "down"
            response = await client.put(
                f"/v1/ideas/{idea_id}/vote", json={"direction": direction}, headers=headers
            )
        else:
            response = await client.delete(f"/v1/ideas/{idea_id}/vote", headers=headers)
        status = str(response.status_code)
    except httpx.HTTPError as exc:
        status = type(exc).__name__
    tally.record(started, status)


async def seed_ideas(database_url: str, count: int) -> list[uuid.UUID]:
    """Published ideas in status new on the default board, straight in SQL (submitting through the API
    would meet the submission rate limit and the spam heuristics, which are not what is measured)."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            """
            INSERT INTO idea (id, board_id, author_id, title, body, tags, status, moderation_state,
                              text_hash, trending_score, created_at, status_changed_at)
            SELECT gen_random_uuid(), (SELECT id FROM board WHERE slug = 'ideas'), gen_random_uuid(),
                   'Bench idea ' || n, 'Seeded for the vote benchmark.', '{}', 'new', 'published',
                   md5('bench-idea-' || n), $2, now(), now()
            FROM generate_series(1, $1) AS n
            RETURNING id
            """,
            count,
            activity_key(datetime.now(UTC), HALF_LIFE_HOURS),
        )
    finally:
        await conn.close()
    return [row["id"] for row in rows]


async def closed_loop(
    url: str,
    ideas: list[uuid.UUID],
    tokens: list[dict[str, str]],
    *,
    concurrency: int,
    seconds: float,
    seed: int,
) -> tuple[Tally, float]:
    """``concurrency`` clients, each sending its next vote as soon as the last one is answered."""
    tally = Tally()
    deadline = time.perf_counter() + seconds

    async def one_client(n: int) -> None:
        rng = random.Random(seed * 1000 + n)
        async with single_connection_client(url) as client:
            while time.perf_counter() < deadline:
                await vote_once(client, rng, rng.choice(ideas), rng.choice(tokens), tally)

    started = time.perf_counter()
    await asyncio.gather(*(one_client(n) for n in range(concurrency)))
    return tally, time.perf_counter() - started


async def healthz_ceiling(url: str, concurrency: int, seconds: float) -> dict[str, Any]:
    """GET /healthz (no database, no auth) the same way: what this machine, this load generator and
    the framework allow before a vote does any work; the ceiling any vote throughput sits under."""
    tally = Tally()
    deadline = time.perf_counter() + seconds

    async def one_client() -> None:
        async with single_connection_client(url) as client:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    status = str((await client.get("/healthz")).status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                tally.record(started, status)

    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    summary = tally.summary(time.perf_counter() - started)
    return {
        "concurrency": concurrency,
        "requests_per_s": summary["votes_per_s"],
        "p50_ms": summary["p50_ms"],
        "p99_ms": summary["p99_ms"],
    }


async def tallies_exact(database_url: str, idea_ids: list[uuid.UUID]) -> dict[str, Any]:
    """Stored up/down counts against count(*) over the vote rows, and the stored trending key against
    the one recomputed from the rows (it is moved by log-add/log-sub on every vote, so it can drift)."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            """
            WITH counted AS (
              SELECT idea_id, count(*) FILTER (WHERE direction = 1) AS up,
                     count(*) FILTER (WHERE direction = -1) AS down
              FROM vote WHERE idea_id = ANY($1::uuid[]) GROUP BY idea_id
            ), activity AS (
              SELECT i.id AS idea_id,
                     extract(epoch FROM i.created_at - $2::timestamptz) / 3600 * $3::float8 AS k
              FROM idea i WHERE i.id = ANY($1::uuid[])
              UNION ALL
              SELECT v.idea_id, extract(epoch FROM v.cast_at - $2::timestamptz) / 3600 * $3::float8
              FROM vote v WHERE v.idea_id = ANY($1::uuid[]) AND v.direction = 1
            ), trending AS (
              SELECT idea_id, max(k) AS top FROM activity GROUP BY idea_id
            ), recomputed AS (
              SELECT a.idea_id, t.top + ln(sum(exp(a.k - t.top))) AS score
              FROM activity a JOIN trending t USING (idea_id) GROUP BY a.idea_id, t.top
            )
            SELECT i.id, i.up_count, i.down_count, coalesce(c.up, 0) AS up, coalesce(c.down, 0) AS down,
                   abs(i.trending_score - r.score) AS trending_drift
            FROM idea i LEFT JOIN counted c ON c.idea_id = i.id JOIN recomputed r ON r.idea_id = i.id
            WHERE i.id = ANY($1::uuid[])
            """,
            idea_ids,
            datetime(2026, 1, 1, tzinfo=UTC),
            decay_rate(HALF_LIFE_HOURS),
        )
    finally:
        await conn.close()
    wrong = [row for row in rows if (row["up_count"], row["down_count"]) != (row["up"], row["down"])]
    return {
        "ideas_checked": len(rows),
        "exact": not wrong and len(rows) == len(idea_ids),
        "ideas_with_wrong_tallies": len(wrong),
        "votes_counted": sum(row["up"] + row["down"] for row in rows),
        "max_trending_drift": float(f"{max(float(row['trending_drift']) for row in rows):.3g}"),
    }


async def hot_idea(url: str, database_url: str, calls: int, customers: int) -> dict[str, Any]:
    """``calls`` vote/unvote calls on one idea, all in flight at once, from ``customers`` customers."""
    (idea_id,) = await seed_ideas(database_url, 1)
    rng = random.Random(5)
    tokens = [{"Authorization": f"Bearer {customer_token(uuid.uuid4())}"} for _ in range(customers)]
    tally = Tally()
    clients = [single_connection_client(url, timeout=300) for _ in range(calls)]
    try:
        # Connect them all first, so the calls below start together rather than behind 1,000 handshakes.
        await asyncio.gather(*(client.get("/healthz") for client in clients))
        started = time.perf_counter()
        await asyncio.gather(
            *(vote_once(client, rng, idea_id, rng.choice(tokens), tally) for client in clients)
        )
        elapsed = time.perf_counter() - started
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))
    summary = tally.summary(elapsed)
    check = await tallies_exact(database_url, [idea_id])
    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetchrow("SELECT up_count, down_count FROM idea WHERE id = $1", idea_id)
        counted = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE direction = 1) AS up, count(*) FILTER (WHERE direction = -1)"
            " AS down FROM vote WHERE idea_id = $1",
            idea_id,
        )
    finally:
        await conn.close()
    return {
        "calls": calls,
        "customers": customers,
        "calls_per_s": summary["votes_per_s"],
        "seconds": summary["seconds"],
        "errors": summary["errors"],
        "errors_by_status": summary["errors_by_status"],
        "p50_ms": summary["p50_ms"],
        "p99_ms": summary["p99_ms"],
        "stored_up_down": [stored["up_count"], stored["down_count"]],
        "counted_up_down": [counted["up"], counted["down"]],
        "exact": check["exact"],
        "trending_drift": check["max_trending_drift"],
    }


async def measure(running: ServiceProcess, args: argparse.Namespace, workers: int) -> dict[str, Any]:
    ideas = await seed_ideas(running.database_url, args.ideas)
    tokens = [{"Authorization": f"Bearer {customer_token(uuid.uuid4())}"} for _ in range(args.customers)]
    figures: dict[str, Any] = {"uvicorn_workers": workers}
    await closed_loop(running.url, ideas, tokens, concurrency=16, seconds=args.warmup, seed=0)
    figures["healthz_ceiling"] = await healthz_ceiling(running.url, max(args.concurrency), args.warmup)
    for concurrency in args.concurrency:
        cpu = CpuShare({"service": running.pid}, {"postgres": "postgres"})
        load_before = load_average()
        cpu.start()
        tally, elapsed = await closed_loop(
            running.url, ideas, tokens, concurrency=concurrency, seconds=args.seconds, seed=concurrency
        )
        run = tally.summary(elapsed)
        run["load_average_before"] = load_before
        run["cpu"] = cpu.stop()
        requests = max(len(tally.latencies_ms), 1)
        run["cpu_ms_per_request"] = {
            name: round(1000 * seconds / requests, 2) for name, seconds in cpu.seconds.items()
        }
        figures[f"concurrency_{concurrency}"] = run
        print(f"  workers={workers} concurrency={concurrency}: {run}")
    figures["pool_tallies"] = await tallies_exact(running.database_url, ideas)
    figures["hot_idea"] = await hot_idea(
        running.url, running.database_url, args.hot_calls, args.hot_customers
    )
    print(f"  workers={workers} hot idea: {figures['hot_idea']}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )

    def integers(text: str) -> list[int]:
        return [int(part) for part in text.split(",")]

    parser.add_argument("--workers", type=integers, default=[1, 2], help="uvicorn worker counts, e.g. 1,2")
    parser.add_argument(
        "--concurrency", type=integers, default=[4, 16, 64], help="concurrent clients, e.g. 4,16,64"
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="duration of each measured run")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured load before the runs")
    parser.add_argument("--ideas", type=int, default=1000, help="ideas the votes are spread over")
    parser.add_argument("--customers", type=int, default=10_000, help="distinct customer tokens")
    parser.add_argument("--hot-calls", type=int, default=1000, help="concurrent calls on the hot idea")
    parser.add_argument("--hot-customers", type=int, default=300)
    parser.add_argument(
        "--no-rate-limit",
        action="store_true",
        help="lift the per-customer vote rate (CRM_FEEDBACK_VOTE_RATE)",
    )
    parser.add_argument("--quick", action="store_true", help="small and short: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.workers, args.concurrency, args.seconds, args.warmup = [1], [16], 3.0, 1.0
        args.ideas, args.customers, args.hot_calls, args.hot_customers = 100, 1000, 200, 60
    figures: dict[str, Any] = {
        "engines": _harness.engines_in_use(),
        "rate_limit": (
            "lifted (CRM_FEEDBACK_VOTE_RATE=[100000, 1])"
            if args.no_rate_limit
            else f"service default {tuple(FeedbackSettings.model_construct().vote_rate)} per customer,"
            f" {args.customers} customers"
        ),
        "ideas": args.ideas,
        "mix": "45% up, 40% down, 15% clear; ideas and customers uniform at random",
    }
    with _harness.engines() as (server_url, nats_url):
        for workers in args.workers:
            with service_process(
                "feedback",
                server_url,
                nats_url,
                workers=workers,
                extra_env=UNLIMITED_VOTES if args.no_rate_limit else None,
            ) as running:
                figures[f"workers_{workers}"] = uvloop.run(measure(running, args, workers))
    figures["targets"] = {"votes_per_s": ">= 2000", "p99_ms": "<= 30", "hot_idea_exact": "true"}
    _harness.report("feedback_votes" + ("_quick" if args.quick else ""), figures)


if __name__ == "__main__":
    main()
