"""The worker job: maps stored deliveries to identify + touchpoint, once, with retries and dead letters."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_common.auth import Role
from crm_common.db import create_engine, session_factory
from identity.resolution import service as resolution
from identity.resolution.schemas import IdentifyRequest
from identity.settings import IdentitySettings
from identity.webhooks import jobs
from identity.webhooks.jobs import process_next, webhook_job
from tests.identity.webhooks.support import (
    SAMPLE_SOURCES,
    delivery,
    encoded,
    sample,
    signed_headers,
    touchpoints,
)
from tests.support import bearer, staff_token, wait_until

ADMIN = bearer(staff_token(Role.ADMIN))
Identify = Callable[..., Awaitable[Any]]


async def _post(client: httpx.AsyncClient, source: str, payload: dict[str, Any], webhook_id: str) -> None:
    body = encoded(payload)
    response = await client.post(
        f"/v1/webhooks/{source}", content=body, headers=signed_headers(source, body, webhook_id=webhook_id)
    )
    assert response.status_code == 202, response.text


async def _drain(
    sessions: async_sessionmaker[AsyncSession], settings: IdentitySettings, **kwargs: Any
) -> int:
    processed = 0
    while await process_next(sessions, settings, **kwargs):
        processed += 1
    return processed


def _counting(calls: Counter[str], real: Identify = resolution.identify) -> Identify:
    """The real engine, counting calls per touchpoint external id (the partner's event id)."""

    async def identify(
        session: AsyncSession, requests: list[IdentifyRequest], *args: Any, **kwargs: Any
    ) -> Any:
        for request in requests:
            assert request.touchpoint is not None
            calls[request.touchpoint.external_id or ""] += 1
        return await real(session, requests, *args, **kwargs)

    return identify


async def test_a_signed_order_is_resolved_to_a_customer_with_the_order_on_its_timeline(
    identity_client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    worker_settings: IdentitySettings,
) -> None:
    await _post(identity_client, "shop", sample("order"), "msg_order")

    assert await _drain(sessions, worker_settings) == 1

    stored = (await identity_client.get("/v1/webhooks/deliveries/shop/msg_order", headers=ADMIN)).json()
    assert (stored["status"], stored["attempts"], stored["last_error"]) == ("done", 1, None)
    assert stored["result"]["outcome"] == "created"
    customer_id = stored["result"]["customer_id"]
    customer = (await identity_client.get(f"/v1/customers/{customer_id}", headers=ADMIN)).json()
    assert {(i["type"], i["value"]) for i in customer["identifiers"]} >= {
        ("email", "kim.minjun@example.com"),
        ("phone", "+821023456789"),
        ("external:shop", "C-88231"),
    }
    timeline = (await identity_client.get(f"/v1/customers/{customer_id}/timeline", headers=ADMIN)).json()
    (order,) = timeline["items"]
    assert (order["channel"], order["type"], order["source"], order["external_id"]) == (
        "web",  # the dev shop source sets its channel
        "order_placed",
        "shop",
        "SO-2026-000123",
    )
    assert order["id"] == stored["result"]["touchpoint_id"]
    assert [item["sku"] for item in order["payload"]["items"]] == ["RUN-SHOE-42", "SOCK-3P"]


async def test_every_shipped_sample_lands_on_one_customer_across_channels(
    identity_client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    worker_settings: IdentitySettings,
) -> None:
    for mapping, source in SAMPLE_SOURCES.items():
        await _post(identity_client, source, sample(mapping), f"msg_{mapping}")

    assert await _drain(sessions, worker_settings) == 4

    results = {}
    for mapping, source in SAMPLE_SOURCES.items():
        stored = await delivery(sessions, source, f"msg_{mapping}")
        assert stored is not None and stored.status == "done", (mapping, stored and stored.last_error)
        assert stored.result is not None
        results[mapping] = stored.result
    # The order, the call and the store visit share a phone number; the mention has only its handle.
    assert results["call_record"]["customer_id"] == results["order"]["customer_id"]
    assert results["store_visit"]["customer_id"] == results["order"]["customer_id"]
    assert results["call_record"]["outcome"] == "matched"
    assert results["social_mention"]["outcome"] == "created"
    channels = {
        source: [t.channel for t in await touchpoints(sessions, source)] for source in SAMPLE_SOURCES.values()
    }
    assert channels == {
        "shop": ["web"],
        "callcenter": ["call_center"],
        "social": ["social"],
        "store": ["store"],
    }


async def test_a_repeated_webhook_id_is_processed_once(
    identity_client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    worker_settings: IdentitySettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: Counter[str] = Counter()
    monkeypatch.setattr(resolution, "identify", _counting(calls))
    await _post(identity_client, "shop", sample("order"), "msg_again")
    assert await _drain(sessions, worker_settings) == 1

    await _post(identity_client, "shop", sample("order"), "msg_again")
    assert await _drain(sessions, worker_settings) == 0

    assert calls == {"SO-2026-000123": 1}
    assert len(await touchpoints(sessions, "shop")) == 1


async def test_a_payload_the_mapping_cannot_use_is_dead_lettered_at_once_with_its_reason(
    identity_client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    worker_settings: IdentitySettings,
) -> None:
    order = sample("order")
    order["customer"] = {"name": "Guest"}
    await _post(identity_client, "shop", order, "msg_guest")

    assert await _drain(sessions, worker_settings) == 1

    stored = await delivery(sessions, "shop", "msg_guest")
    assert stored is not None
    assert (stored.status, stored.attempts) == ("dead", 1)
    assert (
        stored.last_error is not None and "customer.email, customer.phone or customer.id" in stored.last_error
    )
    listed = (await identity_client.get("/v1/webhooks/dead-letters", headers=ADMIN)).json()
    assert [(d["source"], d["webhook_id"], d["status"]) for d in listed["items"]] == [
        ("shop", "msg_guest", "dead")
    ]
    assert "mapping failed" in listed["items"][0]["last_error"]


async def test_a_record_the_engine_refuses_is_dead_lettered_at_once_with_the_field(
    identity_client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    worker_settings: IdentitySettings,
) -> None:
    order = sample("order")
    order["customer"] = {"email": "not-an-email"}
    await _post(identity_client, "shop", order, "msg_bad_email")

    assert await _drain(sessions, worker_settings) == 1

    stored = await delivery(sessions, "shop", "msg_bad_email")
    assert stored is not None and stored.status == "dead" and stored.attempts == 1
    assert stored.last_error is not None and "body.identifiers.0.value" in stored.last_error


async def test_a_transient_failure_is_retried_with_backoff_and_ends_dead_after_the_last_attempt(
    identity_client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    worker_settings: IdentitySettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def database_away(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("database away")

    monkeypatch.setattr(resolution, "identify", database_away)
    await _post(identity_client, "shop", sample("order"), "msg_flaky")
    now = datetime.now(UTC) + timedelta(seconds=1)
    # base 10 s, cap 15 s, 3 attempts: waits of 5-10 s, then 7.5-15 s (capped), then dead.
    expected_waits = [(5.0, 10.0), (7.5, 15.0)]

    for attempt, (shortest, longest) in enumerate(expected_waits, start=1):
        assert await process_next(sessions, worker_settings, now=now)
        stored = await delivery(sessions, "shop", "msg_flaky")
        assert stored is not None
        assert (stored.status, stored.attempts, stored.last_error) == (
            "failed",
            attempt,
            "ConnectionError: database away",
        )
        wait = (stored.next_attempt_at - now).total_seconds()
        assert shortest <= wait <= longest, (attempt, wait)
        assert not await process_next(
            sessions, worker_settings, now=stored.next_attempt_at - timedelta(seconds=1)
        )
        now = stored.next_attempt_at

    assert await process_next(sessions, worker_settings, now=now)
    stored = await delivery(sessions, "shop", "msg_flaky")
    assert stored is not None
    assert (stored.status, stored.attempts) == ("dead", 3)
    assert stored.last_error == "gave up after 3 attempt(s): ConnectionError: database away"
    assert not await process_next(sessions, worker_settings, now=now + timedelta(days=1))
    listed = (await identity_client.get("/v1/webhooks/dead-letters?source=shop", headers=ADMIN)).json()
    assert [d["webhook_id"] for d in listed["items"]] == ["msg_flaky"]


async def test_a_failed_attempt_leaves_nothing_of_what_it_wrote(
    identity_client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    worker_settings: IdentitySettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = resolution.identify

    async def fails_after_writing(*args: Any, **kwargs: Any) -> Any:
        await real(*args, **kwargs)
        raise RuntimeError("lost the connection after the writes")

    monkeypatch.setattr(resolution, "identify", fails_after_writing)
    await _post(identity_client, "shop", sample("order"), "msg_half")

    assert await process_next(sessions, worker_settings)

    stored = await delivery(sessions, "shop", "msg_half")
    assert stored is not None and stored.status == "failed"
    assert await touchpoints(sessions, "shop") == []


async def test_a_killed_attempt_leaves_the_delivery_pending_and_it_is_processed_later_exactly_once(
    identity_client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    worker_settings: IdentitySettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: Counter[str] = Counter()
    counted = _counting(calls)
    inside = asyncio.Event()

    async def killed_midway(*args: Any, **kwargs: Any) -> Any:
        await counted(*args, **kwargs)  # the customer and touchpoint are written in the transaction...
        inside.set()
        await asyncio.Event().wait()  # ...and the worker dies before it commits

    monkeypatch.setattr(resolution, "identify", killed_midway)
    await _post(identity_client, "shop", sample("order"), "msg_killed")
    now = datetime.now(UTC) + timedelta(seconds=1)

    attempt = asyncio.create_task(process_next(sessions, worker_settings, now=now))
    await asyncio.wait_for(inside.wait(), timeout=30)
    held = (await identity_client.get("/v1/webhooks/deliveries/shop/msg_killed", headers=ADMIN)).json()
    assert held["status"] == "processing"
    attempt.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await attempt

    stored = await delivery(sessions, "shop", "msg_killed")
    assert stored is not None
    assert (stored.status, stored.attempts, stored.result) == ("pending", 1, None)
    assert await touchpoints(sessions, "shop") == []

    monkeypatch.setattr(resolution, "identify", counted)
    assert not await process_next(sessions, worker_settings, now=now)  # held back until its lease ends
    assert await _drain(sessions, worker_settings, now=now + jobs.DEFAULT_LEASE) == 1

    stored = await delivery(sessions, "shop", "msg_killed")
    assert stored is not None and (stored.status, stored.attempts) == ("done", 2)
    assert calls == {"SO-2026-000123": 2}  # the killed attempt and the one that committed
    (touchpoint,) = await touchpoints(sessions, "shop")
    assert stored.result is not None and str(touchpoint.id) == stored.result["touchpoint_id"]


async def test_a_delivery_that_keeps_killing_workers_ends_dead(
    identity_client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    worker_settings: IdentitySettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inside = asyncio.Event()

    async def never_returns(*args: Any, **kwargs: Any) -> Any:
        inside.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(resolution, "identify", never_returns)
    await _post(identity_client, "shop", sample("order"), "msg_poison")
    now = datetime.now(UTC) + timedelta(seconds=1)
    for _ in range(worker_settings.webhook_max_attempts):
        inside.clear()
        attempt = asyncio.create_task(process_next(sessions, worker_settings, now=now))
        await asyncio.wait_for(inside.wait(), timeout=30)
        attempt.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await attempt
        now += jobs.DEFAULT_LEASE

    assert await process_next(sessions, worker_settings, now=now)

    stored = await delivery(sessions, "shop", "msg_poison")
    assert stored is not None
    assert (stored.status, stored.attempts) == ("dead", worker_settings.webhook_max_attempts)
    assert stored.last_error is not None and "did not finish" in stored.last_error


async def test_an_attempt_outliving_its_lease_is_not_taken_by_another_worker(
    identity_client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    worker_settings: IdentitySettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: Counter[str] = Counter()
    counted = _counting(calls)
    inside, release = asyncio.Event(), asyncio.Event()

    async def slow(*args: Any, **kwargs: Any) -> Any:
        inside.set()
        await release.wait()
        return await counted(*args, **kwargs)

    monkeypatch.setattr(resolution, "identify", slow)
    await _post(identity_client, "shop", sample("order"), "msg_slow")
    now = datetime.now(UTC) + timedelta(seconds=1)
    first = asyncio.create_task(process_next(sessions, worker_settings, now=now, lease=timedelta(seconds=1)))
    await asyncio.wait_for(inside.wait(), timeout=30)

    # Long after the lease: the row is still locked by the first worker, so the second skips it.
    second = process_next(sessions, worker_settings, now=now + timedelta(hours=1))
    assert not await asyncio.wait_for(second, timeout=10)
    release.set()
    assert await first

    stored = await delivery(sessions, "shop", "msg_slow")
    assert stored is not None and (stored.status, stored.attempts) == ("done", 1)
    assert calls == {"SO-2026-000123": 1}


async def test_two_workers_on_one_queue_never_process_a_delivery_twice(
    identity_client: httpx.AsyncClient,
    identity_settings: IdentitySettings,
    worker_settings: IdentitySettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: Counter[str] = Counter()
    counted = _counting(calls)
    both_busy = asyncio.Barrier(2)
    first_calls = 0

    async def side_by_side(*args: Any, **kwargs: Any) -> Any:
        # The first two attempts wait for each other: the two workers are inside identify at once.
        nonlocal first_calls
        first_calls += 1
        if first_calls <= 2:
            await asyncio.wait_for(both_busy.wait(), timeout=30)
        return await counted(*args, **kwargs)

    monkeypatch.setattr(resolution, "identify", side_by_side)
    orders = 30
    for n in range(orders):
        order = sample("order")
        order["order_id"] = f"SO-{n}"
        order["customer"] = {"email": f"buyer{n}@example.com", "name": f"Buyer {n}"}
        await _post(identity_client, "shop", order, f"msg_{n}")

    # Two workers: each its own engine, as two processes would have.
    engines = [create_engine(identity_settings.async_database_url(), pool_size=2) for _ in range(2)]
    try:
        done = await asyncio.gather(*(_drain(session_factory(engine), worker_settings) for engine in engines))
        stored = [await delivery(session_factory(engines[0]), "shop", f"msg_{n}") for n in range(orders)]
    finally:
        for engine in engines:
            await engine.dispose()

    assert sum(done) == orders
    assert all(count > 0 for count in done)
    assert calls == {f"SO-{n}": 1 for n in range(orders)}
    assert {(d.status, d.attempts) for d in stored if d is not None} == {("done", 1)}


async def test_the_worker_job_processes_deliveries_until_stopped(
    identity_client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    worker_settings: IdentitySettings,
) -> None:
    stop = asyncio.Event()
    job = asyncio.create_task(webhook_job(worker_settings, poll_seconds=0.05)(sessions, stop))
    try:
        await _post(identity_client, "shop", sample("order"), "msg_job")

        async def processed() -> bool:
            stored = await delivery(sessions, "shop", "msg_job")
            return stored is not None and stored.status == "done"

        await wait_until(processed)
    finally:
        stop.set()
        await asyncio.wait_for(job, timeout=10)
