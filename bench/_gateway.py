"""Shared by the gateway benchmarks: the whole platform as real processes, load at a fixed arrival
rate, and the services' own request counters.

:func:`running_platform` starts identity, campaign and feedback (API and worker each) and the gateway
the way ``crm dev`` does (``crm_platform.dev.Platform``), on databases of the run's own and with
durable NATS consumers of its own, so a shared server (CRM_DATABASE_URL / CRM_NATS_URL) is left as
it was found.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import _harness  # noqa: F401 - puts the repository root on sys.path
import httpx
from _services import percentile, single_connection_client
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from crm_common.auth import Role, TokenSigner
from crm_common.events.bus import delete_durable_consumers
from crm_common.settings import DEV_JWT_SECRET
from crm_platform.dev import Platform
from crm_platform.engines import free_port
from crm_platform.migrate import migrate
from crm_platform.services import DATABASE_SERVICES
from tests.support import drop_database

SIGNER = TokenSigner(DEV_JWT_SECRET)
APIS = ("identity", "campaign", "feedback")
# What a load balancer or the benchmark itself asks of a service; not work done for a caller.
OPERATIONAL_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"


def staff_headers(role: Role = Role.AGENT) -> dict[str, str]:
    return {"Authorization": f"Bearer {SIGNER.issue(f'bench-{role.value}', role)}"}


def customer_headers(customer_id: uuid.UUID | str) -> dict[str, str]:
    return {"Authorization": f"Bearer {SIGNER.issue(str(customer_id), Role.CUSTOMER)}"}


@dataclass(frozen=True)
class RunningPlatform:
    platform: Platform
    database_urls: dict[str, str]  # each service's own database (plain postgresql://), for seeding

    def url(self, service: str) -> str:
        return self.platform.url(service)

    def pid(self, name: str) -> int:
        child = self.platform.child(name)
        assert child.process is not None
        return child.process.pid


@contextlib.contextmanager
def running_platform(
    server_url: str, nats_url: str, *, extra_env: dict[str, str] | None = None
) -> Iterator[RunningPlatform]:
    """Every service and worker plus the gateway on loopback; stopped, and its databases dropped."""
    suffix = uuid.uuid4().hex[:8]
    env = dict(os.environ)
    env.update(
        {
            "CRM_ENV": "dev",
            "CRM_LOG_LEVEL": "WARNING",
            "CRM_LOG_JSON": "true",
            "CRM_DATABASE_URL": server_url,
            "CRM_NATS_URL": nats_url,
            "CRM_NATS_CONSUMER_SUFFIX": f"-bench-{suffix}",
            **(extra_env or {}),
        }
    )
    names = {spec.name: f"crm_{spec.name}_gwbench_{suffix}" for spec in DATABASE_SERVICES}
    for name, database in names.items():
        env[f"CRM_{name.upper()}_DATABASE_NAME"] = database
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        migrate(echo=False)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    database_urls = {
        name: make_url(server_url).set(database=database).render_as_string(hide_password=False)
        for name, database in names.items()
    }
    platform = Platform(
        server_url, nats_url, {name: free_port() for name in (*APIS, "gateway")}, base_env=env
    )
    try:
        platform.start()
        platform.wait_ready(timeout=120)
        yield RunningPlatform(platform, database_urls)
    finally:
        platform.stop()
        asyncio.run(delete_durable_consumers(nats_url, env["CRM_NATS_CONSUMER_SUFFIX"]))
        for url in database_urls.values():
            asyncio.run(drop_database(server_url, url))


def request_counts(platform: RunningPlatform) -> dict[str, dict[str, float]]:
    """Per service, ``crm_http_requests_total`` by ``METHOD route`` (operational routes left out)."""
    counts: dict[str, dict[str, float]] = {}
    for service in APIS:
        text = httpx.get(platform.url(service) + "/metrics", timeout=5).text
        by_route: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name != "crm_http_requests_total":
                    continue
                route = sample.labels.get("route", "")
                if route in OPERATIONAL_ROUTES:
                    continue
                key = f"{sample.labels.get('method', '')} {route}"
                by_route[key] = by_route.get(key, 0.0) + sample.value
        counts[service] = by_route
    return counts


def calls_between(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]) -> dict[str, int]:
    """Requests each service served between two :func:`request_counts` readings."""
    return {
        service: int(sum(after[service].values()) - sum(before.get(service, {}).values()))
        for service in after
    }


# ---- load at a fixed arrival rate ---------------------------------------------------------------

Call = Callable[[httpx.AsyncClient, int], Awaitable[bool]]


@dataclass
class LoadResult:
    """What one fixed-rate run measured; latencies in ms from the moment each request was sent."""

    rate_target_per_s: float
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    shed: int = 0  # arrivals with every connection busy: not sent, counted against the run
    send_lag_ms: list[float] = field(default_factory=list)  # how late the generator sent each one

    def figures(self) -> dict[str, Any]:
        answered = len(self.latencies_ms)
        return {
            "rate_target_per_s": self.rate_target_per_s,
            "throughput_per_s": round(answered / self.seconds, 1) if self.seconds else 0.0,
            "requests": answered,
            "errors": self.errors,
            "shed_arrivals": self.shed,
            "p50_ms": round(percentile(self.latencies_ms, 0.50), 2),
            "p90_ms": round(percentile(self.latencies_ms, 0.90), 2),
            "p99_ms": round(percentile(self.latencies_ms, 0.99), 2),
            "max_ms": round(max(self.latencies_ms, default=float("nan")), 2),
            "generator_send_lag_p99_ms": round(percentile(self.send_lag_ms, 0.99), 2),
        }


async def fixed_rate(
    base_url: str, call: Call, *, rate: float, seconds: float, connections: int, warmup: int = 100
) -> LoadResult:
    """Open loop: request ``n`` leaves at ``start + n / rate`` whether or not earlier ones answered.

    Each request takes one of ``connections`` single-connection clients (see
    ``_services.single_connection_client``); an arrival that finds them all busy is shed and counted,
    so an overloaded target shows as shed arrivals and a throughput below the rate, not as a generator
    that quietly slows down. ``call(client, n)`` sends request ``n`` and says whether the answer was
    right.
    """
    clients = [single_connection_client(base_url) for _ in range(connections)]
    idle: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
    for client in clients:
        idle.put_nowait(client)
    result = LoadResult(rate_target_per_s=rate, seconds=seconds)

    async def one(client: httpx.AsyncClient, n: int, record: bool) -> None:
        started = time.perf_counter()
        try:
            ok = await call(client, n)
        except httpx.HTTPError:
            ok = False
        elapsed_ms = (time.perf_counter() - started) * 1000
        idle.put_nowait(client)
        if record:
            result.latencies_ms.append(elapsed_ms)
            if not ok:
                result.errors += 1

    try:
        # Warm every connection and the services' caches and pools before measuring.
        for n in range(warmup):
            client = await idle.get()
            await one(client, n, record=False)
        tasks: list[asyncio.Task[None]] = []
        total = int(rate * seconds)
        start = time.perf_counter()
        for n in range(total):
            due = start + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            result.send_lag_ms.append(max(0.0, (time.perf_counter() - due) * 1000))
            try:
                client = idle.get_nowait()
            except asyncio.QueueEmpty:
                result.shed += 1
                continue
            tasks.append(asyncio.create_task(one(client, warmup + n, record=True)))
        await asyncio.gather(*tasks)
        result.seconds = time.perf_counter() - start
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))
    return result


async def sequential(
    base_url: str, call: Call, *, count: int, warmup: int = 5
) -> tuple[list[float], list[bool]]:
    """``count`` requests one after another on one connection: latencies (ms) and whether each was right."""
    latencies: list[float] = []
    outcomes: list[bool] = []
    async with single_connection_client(base_url) as client:
        for n in range(warmup + count):
            started = time.perf_counter()
            try:
                ok = await call(client, n)
            except httpx.HTTPError:
                ok = False
            if n >= warmup:
                latencies.append((time.perf_counter() - started) * 1000)
                outcomes.append(ok)
    return latencies, outcomes


def summary(latencies: Sequence[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(list(latencies), 0.50), 2),
        "p99_ms": round(percentile(list(latencies), 0.99), 2),
        "max_ms": round(max(latencies, default=float("nan")), 2),
    }
