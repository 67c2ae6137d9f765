"""Idea rankings at scale: the first page of top / trending / newest (and top within a status) over
100,000 ideas and 10,000,000 votes, through the service over HTTP and as the bare SQL.

    .venv/bin/python bench/feedback_ranking.py [--ideas 100000] [--votes 10000000] [--clients 4]
    .venv/bin/python bench/feedback_ranking.py --quick

Target (issue): first page (limit 20) p50 and p99 ≤ 20 ms. The feedback service runs as a real
uvicorn process on a fresh migrated database (embedded PostgreSQL/NATS, or CRM_DATABASE_URL /
CRM_NATS_URL). The data is seeded in SQL with generate_series: ideas created over 90 days with
statuses, moderation states, categories and tags; votes spread over the published ideas by a Zipf law
(rank^-skew), one per (idea, customer), each customer an md5-derived uuid out of --customers. The vote
table's keys are dropped for the load and rebuilt after it (the usual bulk load; the schema ends as
migrated), then the service's own recount (feedback.ideas.service.recount) computes every idea's
tallies, top_score and trending_score. Requests carry the token of a customer who voted, so each page
also looks up the caller's votes, as the app's does. Each page is timed from one client (its latency
alone) and from --clients clients at once (with queueing in the service), and its SQL alone: EXPLAIN
ANALYZE (the plan shows the index it walks) and the statement's round trip from a plain connection.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import shutil
import time
import uuid
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
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from crm_common.db import session_factory
from crm_common.pagination import decode_cursor
from feedback.ideas import repository as idea_repository
from feedback.ideas import service as idea_service
from feedback.ideas.ranking import TRENDING_EPOCH, decay_rate
from feedback.settings import FeedbackSettings
from tests.support import customer_token

SETTINGS = FeedbackSettings.model_construct()
CATEGORIES = ["app", "billing", "delivery", "store", "loyalty", "support", "web", "other"]
TAGS = [
    "mobile", "checkout", "payments", "search", "notifications", "accessibility", "performance",
    "dark-mode", "privacy", "returns", "shipping", "coupons", "reviews", "wishlist", "chat",
    "onboarding", "pricing", "security", "integrations", "reports",
]  # fmt: skip

# name -> (query string of GET /v1/ideas, keyword arguments of the repository's list_ideas)
QUERIES: dict[str, tuple[str, dict[str, Any]]] = {
    "top": ("sort=top&limit=20", {"sort": "top"}),
    "trending": ("sort=trending&limit=20", {"sort": "trending"}),
    "newest": ("sort=newest&limit=20", {"sort": "newest"}),
    "top_status_planned": ("sort=top&status=planned&limit=20", {"sort": "top", "statuses": ["planned"]}),
    "top_category": ("sort=top&category=delivery&limit=20", {"sort": "top", "category": "delivery"}),
    "top_tag": ("sort=top&tag=privacy&limit=20", {"sort": "top", "tag": "privacy"}),
}


def customer_id(number: int) -> uuid.UUID:
    """The seeded customer ``number`` (the same md5 the seeding SQL takes)."""
    digest = hashlib.md5(f"customer-{number}".encode(), usedforsecurity=False)
    return uuid.UUID(digest.hexdigest())


async def seed(database_url: str, ideas: int, votes: int, customers: int, skew: float) -> dict[str, Any]:
    timings: dict[str, Any] = {}
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("SET maintenance_work_mem = '1GB'; SET synchronous_commit = off")
        started = time.perf_counter()
        await conn.execute(
            """
            INSERT INTO idea (id, board_id, author_id, title, body, category, tags, status,
                              moderation_state, text_hash, trending_score, created_at, status_changed_at)
            SELECT gen_random_uuid(), (SELECT id FROM board WHERE slug = 'ideas'),
                   md5('author-' || (n % 20000))::uuid,
                   'Idea ' || n || ': ' || ($2::text[])[1 + n % 20] || ' for ' || ($3::text[])[1 + n % 8],
                   'Seeded idea ' || n || ' for the ranking benchmark.',
                   ($3::text[])[1 + n % 8],
                   CASE WHEN n % 3 = 0 THEN ARRAY[($2::text[])[1 + n % 20]]
                        ELSE ARRAY[($2::text[])[1 + n % 20],
                                   ($2::text[])[1 + (n % 20 + 1 + (n / 20) % 19) % 20]]
                   END,
                   CASE WHEN r < 0.45 THEN 'new' WHEN r < 0.60 THEN 'under_review'
                        WHEN r < 0.72 THEN 'planned' WHEN r < 0.80 THEN 'in_progress'
                        WHEN r < 0.88 THEN 'launched' ELSE 'declined' END,
                   CASE WHEN m < 0.97 THEN 'published' WHEN m < 0.99 THEN 'pending' ELSE 'hidden' END,
                   md5('idea-' || n),
                   extract(epoch FROM created - $4::timestamptz) / 3600 * $5::float8,
                   created, created
            FROM (
              SELECT n, random() AS r, random() AS m, now() - random() * interval '90 days' AS created
              FROM generate_series(1, $1) AS n
            ) AS g
            """,
            ideas,
            TAGS,
            CATEGORIES,
            TRENDING_EPOCH,
            decay_rate(SETTINGS.trending_half_life_hours),
        )
        timings["ideas_seconds"] = round(time.perf_counter() - started, 1)

        started = time.perf_counter()
        await conn.execute(
            """
            ALTER TABLE vote DROP CONSTRAINT fk_vote_idea_id_idea;
            ALTER TABLE vote DROP CONSTRAINT pk_vote;
            DROP INDEX ix_vote_customer_id;
            """
        )
        # Idea at rank r gets votes ∝ r^-skew; the counts telescope from a running sum so they add
        # up to exactly `votes`. Idea i's voters are customers offset_i, offset_i + 1, ... (mod
        # customers): distinct per idea, and shared across ideas as real voters are.
        await conn.execute(
            """
            WITH ranked AS (
              SELECT id, created_at, 0.35 + 0.6 * random() AS up_share,
                     power(row_number() OVER (ORDER BY md5(id::text)), -$2::float8) AS weight
              FROM idea WHERE moderation_state = 'published'
            ), running AS (
              SELECT *, sum(weight) OVER (ORDER BY weight DESC, id ROWS UNBOUNDED PRECEDING) AS cum
              FROM ranked
            ), bounds AS (
              SELECT *, lag(cum, 1, 0::float8) OVER (ORDER BY weight DESC, id) AS cum_before,
                     max(cum) OVER () AS total
              FROM running
            ), sized AS (
              SELECT id, created_at, up_share, floor(random() * $3::bigint)::bigint AS first_voter,
                     least(floor($1::bigint * cum / total) - floor($1::bigint * cum_before / total),
                           $3::bigint)::bigint AS n
              FROM bounds
            )
            INSERT INTO vote (idea_id, customer_id, direction, cast_at)
            SELECT s.id, md5('customer-' || ((s.first_voter + g) % $3::bigint))::uuid,
                   CASE WHEN random() < s.up_share THEN 1 ELSE -1 END,
                   s.created_at + random() * (now() - s.created_at)
            FROM sized s CROSS JOIN LATERAL generate_series(0, s.n - 1) AS g
            """,
            votes,
            skew,
            customers,
        )
        timings["votes_insert_seconds"] = round(time.perf_counter() - started, 1)

        started = time.perf_counter()
        await conn.execute(
            """
            ALTER TABLE vote ADD CONSTRAINT pk_vote PRIMARY KEY (idea_id, customer_id);
            CREATE INDEX ix_vote_customer_id ON vote (customer_id);
            ALTER TABLE vote ADD CONSTRAINT fk_vote_idea_id_idea FOREIGN KEY (idea_id) REFERENCES idea (id);
            """
        )
        await conn.execute("VACUUM ANALYZE vote")
        timings["votes_index_seconds"] = round(time.perf_counter() - started, 1)
        idea_ids = [row["id"] for row in await conn.fetch("SELECT id FROM idea ORDER BY id")]
    finally:
        await conn.close()

    started = time.perf_counter()
    engine = create_async_engine(make_url(database_url).set(drivername="postgresql+asyncpg"))
    try:
        sessions = session_factory(engine)
        for offset in range(0, len(idea_ids), 5000):
            async with sessions() as session, session.begin():
                await idea_service.recount(session, idea_ids[offset : offset + 5000], settings=SETTINGS)
        timings["recount_seconds"] = round(time.perf_counter() - started, 1)
        # Once more for the most-voted idea alone: what a merge or an erasure touching it pays.
        async with sessions() as session, session.begin():
            top_idea = (
                await session.execute(text("SELECT id FROM idea ORDER BY up_count + down_count DESC LIMIT 1"))
            ).scalar_one()
            started = time.perf_counter()
            await idea_service.recount(session, [top_idea], settings=SETTINGS)
            timings["recount_most_voted_idea_seconds"] = round(time.perf_counter() - started, 2)
    finally:
        await engine.dispose()

    conn = await asyncpg.connect(database_url)
    try:
        started = time.perf_counter()
        await conn.execute("VACUUM ANALYZE idea")
        timings["vacuum_ideas_seconds"] = round(time.perf_counter() - started, 1)
        # Write the seeded gigabyte out now, not while the pages are being timed.
        await conn.execute("CHECKPOINT")
        shape = await conn.fetchrow(
            """
            SELECT (SELECT count(*) FROM idea) AS ideas,
                   (SELECT count(*) FROM idea WHERE moderation_state = 'published') AS published,
                   (SELECT count(*) FROM vote) AS votes,
                   (SELECT sum(up_count + down_count) FROM idea) AS tallied,
                   (SELECT max(up_count + down_count) FROM idea) AS most_votes_on_one_idea,
                   (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY up_count + down_count)
                    FROM idea WHERE moderation_state = 'published') AS median_votes_per_idea,
                   pg_size_pretty(pg_database_size(current_database())) AS database_size
            """
        )
    finally:
        await conn.close()
    timings.update(
        {key: (float(value) if key == "median_votes_per_idea" else value) for key, value in shape.items()}
    )
    return timings


async def http_latency(
    url: str, path: str, headers: dict[str, str], clients: int, requests: int
) -> dict[str, Any]:
    """``clients`` concurrent clients, ``requests`` sequential GETs each."""
    latencies: list[float] = []
    errors = 0

    async def one_client() -> None:
        nonlocal errors
        async with single_connection_client(url) as client:
            for _ in range(requests):
                started = time.perf_counter()
                response = await client.get(path, headers=headers)
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200 or len(response.json()["items"]) == 0:
                    errors += 1

    async with single_connection_client(url) as client:
        for _ in range(20):  # warm: the service's pool, its statement caches, the pages in PostgreSQL
            (await client.get(path, headers=headers)).raise_for_status()
    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / elapsed),
        "errors": errors,
        "p50_ms": round(percentile(latencies, 0.50), 2),
        "p95_ms": round(percentile(latencies, 0.95), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
    }


async def page_statement(
    database_url: str, query: dict[str, Any], after: tuple[Any, uuid.UUID] | None
) -> tuple[str, tuple[Any, ...]]:
    """The exact SQL and parameters the service runs for a page (its repository, limit 20 + 1)."""
    engine = create_async_engine(make_url(database_url).set(drivername="postgresql+asyncpg"))
    captured: list[tuple[str, tuple[Any, ...]]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        captured.append((statement, tuple(parameters)))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        async with session_factory(engine)() as session:
            await idea_repository.list_ideas(
                session,
                sort=query["sort"],
                limit=21,
                after=after,
                statuses=query.get("statuses"),
                category=query.get("category"),
                tag=query.get("tag"),
                board_id=None,
                author_id=None,
                moderation_state="published",
            )
    finally:
        await engine.dispose()
    return captured[-1]


def plan_outline(plan: dict[str, Any]) -> str:
    """``Limit > Index Scan using ix_idea_top`` from an EXPLAIN (FORMAT JSON) plan."""
    parts = []
    node: dict[str, Any] | None = plan
    while node is not None:
        label = node["Node Type"]
        if "Index Name" in node:
            label += f" using {node['Index Name']}"
        parts.append(label)
        children = node.get("Plans") or []
        node = children[0] if children else None
    return " > ".join(parts)


async def sql_latency(
    database_url: str, statement: str, parameters: tuple[Any, ...], runs: int
) -> dict[str, Any]:
    """EXPLAIN ANALYZE of the statement, then the statement alone ``runs`` times from one client."""
    conn = await asyncpg.connect(database_url)
    try:
        explained = await conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {statement}", *parameters)
        (plan,) = json.loads(explained) if isinstance(explained, str) else explained
        prepared = await conn.prepare(statement)
        latencies = []
        for _ in range(runs):
            started = time.perf_counter()
            await prepared.fetch(*parameters)
            latencies.append((time.perf_counter() - started) * 1000)
    finally:
        await conn.close()
    return {
        "plan": plan_outline(plan["Plan"]),
        "explain_execution_ms": round(plan["Execution Time"], 3),
        "explain_planning_ms": round(plan["Planning Time"], 3),
        "shared_buffers_hit": plan["Plan"].get("Shared Hit Blocks"),
        "shared_buffers_read": plan["Plan"].get("Shared Read Blocks"),
        "sql_roundtrip_p50_ms": round(percentile(latencies, 0.50), 3),
        "sql_roundtrip_p99_ms": round(percentile(latencies, 0.99), 3),
    }


async def deep_page(
    running: ServiceProcess, headers: dict[str, str], pages: int, clients: int, requests: int
) -> dict[str, Any]:
    """Follow next_cursor of sort=top for ``pages`` pages, then measure the last page like the first."""
    walk_ms = []
    path = "/v1/ideas?sort=top&limit=20"
    cursor: str | None = None
    async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:
        for _ in range(pages - 1):
            started = time.perf_counter()
            response = await client.get(path, params={"after": cursor} if cursor else None, headers=headers)
            walk_ms.append(round((time.perf_counter() - started) * 1000, 2))
            response.raise_for_status()
            cursor = response.json()["next_cursor"]
    assert cursor is not None
    key = decode_cursor(cursor)
    assert key is not None
    after = (float(key["k"]), uuid.UUID(key["id"]))
    last_page = f"{path}&after={cursor}"
    figures = {
        "pages": pages,
        "walk_ms_per_page": walk_ms,
        f"page_{pages}_http_{clients}_clients": await http_latency(
            running.url, last_page, headers, clients, requests
        ),
        f"page_{pages}_http_1_client": await http_latency(running.url, last_page, headers, 1, requests),
        f"page_{pages}_sql": await sql_latency(
            running.database_url,
            *await page_statement(running.database_url, {"sort": "top"}, after),
            runs=requests,
        ),
    }
    return figures


async def measure(running: ServiceProcess, args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "seeding": await seed(running.database_url, args.ideas, args.votes, args.customers, args.skew)
    }
    print(f"  seeded: {figures['seeding']}")
    # A customer who voted on the first ideas, so "my_vote" has something to find on every page.
    headers = {"Authorization": f"Bearer {customer_token(customer_id(0))}"}
    figures["load_average_before"] = load_average()
    for name, (query_string, query) in QUERIES.items():
        path = f"/v1/ideas?{query_string}"
        alone = await http_latency(running.url, path, headers, 1, args.requests)
        cpu = CpuShare({"service": running.pid}, {"postgres": "postgres"})
        cpu.start()
        http = await http_latency(running.url, path, headers, args.clients, args.requests)
        http["cpu"] = cpu.stop()
        http["cpu_ms_per_request"] = {
            part: round(1000 * seconds / http["requests"], 2) for part, seconds in cpu.seconds.items()
        }
        sql = await sql_latency(
            running.database_url, *await page_statement(running.database_url, query, None), runs=args.requests
        )
        figures[name] = {f"http_{args.clients}_clients": http, "http_1_client": alone, "sql": sql}
        print(f"  {name}: http {http} alone {alone} sql {sql}")
    figures["deep_page"] = await deep_page(running, headers, args.deep_pages, args.clients, args.requests)
    print(f"  deep page: {figures['deep_page']}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ideas", type=int, default=100_000)
    parser.add_argument("--votes", type=int, default=10_000_000)
    parser.add_argument("--customers", type=int, default=1_000_000, help="distinct voters to draw from")
    parser.add_argument("--skew", type=float, default=1.0, help="Zipf exponent of votes over ideas")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients")
    parser.add_argument("--requests", type=int, default=250, help="requests per client and query")
    parser.add_argument("--deep-pages", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--quick", action="store_true", help="2,000 ideas and 100,000 votes: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.ideas, args.votes, args.customers, args.requests = 2000, 100_000, 50_000, 50
    free_gb = shutil.disk_usage(_harness.ROOT).free / 1e9
    print(f"free disk: {free_gb:.0f} GB")
    figures: dict[str, Any] = {
        "engines": _harness.engines_in_use(),
        "ideas": args.ideas,
        "votes": args.votes,
        "customers": args.customers,
        "skew": args.skew,
        "clients": args.clients,
        "requests_per_query": args.clients * args.requests,
        "uvicorn_workers": args.workers,
    }
    with (
        _harness.engines() as (server_url, nats_url),
        service_process("feedback", server_url, nats_url, workers=args.workers) as running,
    ):
        figures.update(uvloop.run(measure(running, args)))
    figures["targets"] = {"first_page_p50_ms": "<= 20", "first_page_p99_ms": "<= 20"}
    _harness.report("feedback_ranking" + ("_quick" if args.quick else ""), figures)


if __name__ == "__main__":
    main()
