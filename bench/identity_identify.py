"""Online identify: throughput through the batch endpoint, latency of single calls at a fixed rate,
and the time to undo a large merge.

    .venv/bin/python bench/identity_identify.py [--records 60000] [--rate 200] [--seconds 20]

Targets (issue #3): ≥ 3,000 identifies/s through the batch endpoint; p99 ≤ 25 ms for single calls
at 200 requests/s; undo of a merge ≤ 1 s. The identity service runs as a real uvicorn process on
embedded PostgreSQL (or CRM_DATABASE_URL), from this same 2-core machine as the load.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from typing import Any

import _harness
import _people
import httpx
from _services import percentile, running_service

from crm_common.auth import Role, TokenSigner
from crm_common.settings import DEV_JWT_SECRET

TOKEN = TokenSigner(DEV_JWT_SECRET).issue("bench", Role.ADMIN)
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
CITIES = ["Seoul", "Busan", "Incheon", "Daegu", "Daejeon", "Gwangju", "Suwon", "Ulsan"]


def record(rng: random.Random, person: int) -> dict[str, Any]:
    """One channel's view of a person; ~1/3 of calls see a person seen before, on another channel."""
    facts = _people.person(person)
    identifiers = [{"type": "email", "value": facts.email}]
    if rng.random() < 0.6:
        identifiers.append({"type": "phone", "value": facts.phone})
    if rng.random() < 0.3:
        identifiers.append({"type": "device", "value": f"dev-{person}-{rng.randrange(3)}"})
    return {
        "identifiers": identifiers,
        "traits": {
            "given_name": facts.given_name,
            "surname": facts.surname,
            "birth_date": facts.birth_date,
            "city": facts.city,
        },
        "source": rng.choice(["web", "shop", "callcenter", "app"]),
        "touchpoint": {"channel": rng.choice(["web", "mobile_app", "call_center"]), "type": "visit"},
    }


async def batch_throughput(url: str, records: int, batch: int, concurrency: int) -> dict[str, Any]:
    rng = random.Random(7)
    population = int(records * 0.7)
    bodies = [[record(rng, rng.randrange(population)) for _ in range(batch)] for _ in range(records // batch)]
    queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    failed = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal failed
        while not queue.empty():
            body = queue.get_nowait()
            response = await client.post("/v1/identify:batch", json={"records": body}, headers=HEADERS)
            response.raise_for_status()
            failed += response.json()["failed"]

    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return {
        "batch_records": len(bodies) * batch,
        "batch_size": batch,
        "batch_concurrency": concurrency,
        "batch_seconds": round(seconds, 2),
        "batch_identifies_per_s": round(len(bodies) * batch / seconds),
        "batch_failed_records": failed,
    }


async def single_latency(url: str, rate: float, seconds: float) -> dict[str, Any]:
    rng = random.Random(11)
    latencies: list[float] = []
    errors = 0
    interval = 1.0 / rate

    async def one(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
        nonlocal errors
        started = time.perf_counter()
        try:
            response = await client.post("/v1/identify", json=body, headers=HEADERS)
            ok = response.status_code == 200
        except httpx.HTTPError:
            ok = False
        latencies.append((time.perf_counter() - started) * 1000)
        if not ok:
            errors += 1

    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        for _ in range(50):  # warm the connection pool and the service
            await one(client, record(rng, rng.randrange(1_000_000)))
        latencies.clear()
        tasks = []
        start = time.perf_counter()
        total = int(rate * seconds)
        for n in range(total):
            # Open loop: requests leave on schedule whether or not earlier ones have answered.
            delay = start + n * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(client, record(rng, rng.randrange(1_000_000)))))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    return {
        "rate_target_per_s": rate,
        "rate_achieved_per_s": round(len(latencies) / elapsed, 1),
        "requests": len(latencies),
        "errors": errors,
        "p50_ms": round(percentile(latencies, 0.50), 2),
        "p95_ms": round(percentile(latencies, 0.95), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "max_ms": round(max(latencies), 2),
    }


async def undo_time(url: str, touchpoints: int) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        await client.post(
            "/v1/identify",
            json={"identifiers": [{"type": "email", "value": "undo@bench.kr"}]},
            headers=HEADERS,
        )
        heavy = [
            {
                "identifiers": [
                    {"type": "phone", "value": "010-9999-1234"},
                    {"type": "device", "value": f"undo-dev-{n % 20}"},
                ],
                "traits": {"city": CITIES[n % len(CITIES)]},
                "source": f"s{n % 5}",
                "touchpoint": {"channel": "web", "type": "page_view", "external_id": f"undo-{n}"},
            }
            for n in range(touchpoints)
        ]
        for offset in range(0, touchpoints, 1000):
            (
                await client.post(
                    "/v1/identify:batch", json={"records": heavy[offset : offset + 1000]}, headers=HEADERS
                )
            ).raise_for_status()
        merged = (
            await client.post(
                "/v1/identify",
                json={
                    "identifiers": [
                        {"type": "email", "value": "undo@bench.kr"},
                        {"type": "phone", "value": "010-9999-1234"},
                    ]
                },
                headers=HEADERS,
            )
        ).json()
        merge_id = merged["merge_ids"][0]
        started = time.perf_counter()
        response = await client.post(f"/v1/merges/{merge_id}/undo", headers=HEADERS)
        seconds = time.perf_counter() - started
        response.raise_for_status()
    return {"undo_touchpoints_moved": touchpoints, "undo_seconds": round(seconds, 3)}


async def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    figures.update(await batch_throughput(url, args.records, args.batch, args.concurrency))
    for rate in args.rates:
        figures[f"single_at_{int(rate)}_rps"] = await single_latency(url, rate, args.seconds)
    figures.update(await undo_time(url, args.undo_touchpoints))
    figures["service_workers"] = args.workers
    figures["targets"] = {
        "batch_identifies_per_s": ">= 3000",
        "single_p99_ms_at_200_rps": "<= 25",
        "undo_seconds": "<= 1",
    }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=60_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument(
        "--rates",
        type=lambda text: [float(r) for r in text.split(",")],
        default=[50.0, 100.0, 200.0],
        help="open-loop request rates for single calls, comma-separated",
    )
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--undo-touchpoints", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    args = parser.parse_args()
    with (
        _harness.engines() as (server_url, nats_url),
        running_service("identity", server_url, nats_url, workers=args.workers) as url,
    ):
        figures = asyncio.run(measure(url, args))
    _harness.report("identity_identify", figures)


if __name__ == "__main__":
    main()
