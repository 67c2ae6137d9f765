"""Rate limits (GCRA in PostgreSQL): bursts, 429 with Retry-After, exactness under concurrency, rollback."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_common.auth import CurrentPrincipal
from crm_common.db import SessionDep, new_metadata
from crm_common.errors import BadRequest, TooManyRequests, problem_responses
from crm_common.ratelimit import (
    Rate,
    add_rate_limit_table,
    enforce_rate,
    purge_idle_rate_limits,
    rate_limit_purge_job,
)
from crm_common.service_app import create_service_app
from crm_common.settings import ServiceSettings
from tests.conftest import Servers
from tests.support import bearer, create_database, customer_token, drop_database, running_app, wait_until

METADATA = new_metadata()
STATE = add_rate_limit_table(METADATA)
# 60 s between hits once the burst of 3 is spent: no hit comes back by itself while a test runs.
MESSAGES_RATE = Rate(count=3, period_seconds=180)


class MessageCreate(BaseModel):
    fail_after_check: bool = False


router = APIRouter()


@router.post("/messages", status_code=204, responses=problem_responses(400, 429))
async def send_message(body: MessageCreate, session: SessionDep, principal: CurrentPrincipal) -> None:
    caller = f"{principal.role.value}:{principal.subject}"
    await enforce_rate(session, METADATA, caller=caller, action="send_message", rate=MESSAGES_RATE)
    if body.fail_after_check:
        raise BadRequest("Told to fail after the rate check.")


@dataclass
class Service:
    app: FastAPI
    client: httpx.AsyncClient

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        factory: async_sessionmaker[AsyncSession] = self.app.state.session_factory
        return factory

    async def callers(self, prefix: str) -> list[str]:
        async with self.app.state.engine.connect() as conn:
            rows = await conn.execute(select(STATE.c.caller).where(STATE.c.caller.startswith(prefix)))
            return sorted(row.caller for row in rows)

    async def hit(self, caller: str, action: str, rate: Rate) -> bool:
        """One hit in its own committed transaction; False when it was over the limit."""
        try:
            async with self.sessions.begin() as session:
                await enforce_rate(session, METADATA, caller=caller, action=action, rate=rate)
        except TooManyRequests:
            return False
        return True


@pytest.fixture(scope="module")
async def service(servers: Servers) -> AsyncIterator[Service]:
    url = await create_database(servers.database_url, "crm_ratelimit")
    settings = ServiceSettings(
        service_name="messages",
        database_url=url,
        nats_url=servers.nats_url,
        environment="dev",
        log_json=False,
    )
    app = create_service_app(
        settings=settings, metadata=METADATA, routers=[router], title="t", description="t", version="1"
    )
    try:
        async with running_app(app) as client:
            async with app.state.engine.begin() as conn:
                await conn.run_sync(METADATA.create_all)
            yield Service(app=app, client=client)
    finally:
        await drop_database(servers.database_url, url)


def new_customer_auth() -> dict[str, str]:
    return bearer(customer_token(uuid.uuid4()))


async def test_burst_is_allowed_then_429_with_retry_after(service: Service) -> None:
    auth = new_customer_auth()
    burst = [(await service.client.post("/messages", json={}, headers=auth)).status_code for _ in range(3)]
    over = await service.client.post("/messages", json={}, headers=auth)

    assert burst == [204, 204, 204]
    assert over.status_code == 429
    assert over.json()["type"].endswith("/rate-limited")
    # The next hit is allowed one emission interval (60 s) after the burst began, less the time spent.
    assert 55 <= int(over.headers["retry-after"]) <= 60


async def test_denied_hits_do_not_push_the_next_allowed_hit_further(service: Service) -> None:
    auth = new_customer_auth()
    for _ in range(3):
        await service.client.post("/messages", json={}, headers=auth)
    waits = [int((await service.client.post("/messages", json={}, headers=auth)).headers["retry-after"])]
    for _ in range(5):
        waits.append(
            int((await service.client.post("/messages", json={}, headers=auth)).headers["retry-after"])
        )

    assert max(waits) <= waits[0]


async def test_different_callers_have_independent_limits(service: Service) -> None:
    first, second = new_customer_auth(), new_customer_auth()
    for _ in range(3):
        await service.client.post("/messages", json={}, headers=first)
    assert (await service.client.post("/messages", json={}, headers=first)).status_code == 429

    answers = [
        (await service.client.post("/messages", json={}, headers=second)).status_code for _ in range(3)
    ]

    assert answers == [204, 204, 204]


async def test_different_actions_of_one_caller_have_independent_limits(service: Service) -> None:
    caller = f"customer:{uuid.uuid4()}"
    rate = Rate(count=1, period_seconds=3600)
    assert await service.hit(caller, "send_message", rate)
    assert not await service.hit(caller, "send_message", rate)

    assert await service.hit(caller, "submit_idea", rate)


async def test_concurrent_hits_never_exceed_the_burst(service: Service) -> None:
    caller = f"customer:{uuid.uuid4()}"
    rate = Rate(count=5, period_seconds=3600)

    allowed = await asyncio.gather(*(service.hit(caller, "send_message", rate) for _ in range(15)))

    assert sum(allowed) == 5


async def test_hit_in_a_rolled_back_transaction_is_not_counted(service: Service) -> None:
    caller = f"customer:{uuid.uuid4()}"
    rate = Rate(count=1, period_seconds=3600)
    async with service.sessions() as session:
        await enforce_rate(session, METADATA, caller=caller, action="send_message", rate=rate)
        await session.rollback()

    assert await service.hit(caller, "send_message", rate)
    assert not await service.hit(caller, "send_message", rate)


async def test_request_failing_after_the_check_does_not_use_up_a_hit(service: Service) -> None:
    auth = new_customer_auth()
    for _ in range(5):
        failed = await service.client.post("/messages", json={"fail_after_check": True}, headers=auth)
        assert failed.status_code == 400

    answers = [(await service.client.post("/messages", json={}, headers=auth)).status_code for _ in range(4)]

    assert answers == [204, 204, 204, 429]


async def test_hit_is_allowed_again_once_an_interval_has_passed(service: Service) -> None:
    caller = f"customer:{uuid.uuid4()}"
    rate = Rate(count=1, period_seconds=3600)
    assert await service.hit(caller, "send_message", rate)
    assert not await service.hit(caller, "send_message", rate)

    async with service.sessions.begin() as session:  # an hour passes
        await session.execute(
            STATE.update()
            .where(STATE.c.caller == caller)
            .values(theoretical_arrival_at=STATE.c.theoretical_arrival_at - timedelta(hours=1))
        )

    assert await service.hit(caller, "send_message", rate)
    assert not await service.hit(caller, "send_message", rate)


async def _add_state(service: Service, caller: str, arrival_in: timedelta) -> None:
    async with service.sessions.begin() as session:
        await session.execute(
            insert(STATE).values(
                caller=caller, action="send_message", theoretical_arrival_at=func.now() + arrival_in
            )
        )


async def test_purge_removes_only_rows_whose_arrival_time_has_passed(service: Service) -> None:
    prefix = f"purge-{uuid.uuid4()}"
    await _add_state(service, f"{prefix}:idle", -timedelta(seconds=1))
    await _add_state(service, f"{prefix}:limited", timedelta(minutes=1))

    purged = await purge_idle_rate_limits(service.sessions, METADATA)

    assert purged >= 1
    assert await service.callers(prefix) == [f"{prefix}:limited"]


async def test_purge_job_purges_until_stopped(service: Service) -> None:
    prefix = f"purge-{uuid.uuid4()}"
    stop = asyncio.Event()
    job = asyncio.ensure_future(rate_limit_purge_job(METADATA, interval_seconds=0.05)(service.sessions, stop))
    await _add_state(service, f"{prefix}:idle", -timedelta(seconds=1))

    async def purged() -> bool:
        return await service.callers(prefix) == []

    await wait_until(purged)
    stop.set()
    await asyncio.wait_for(job, timeout=5)


@pytest.mark.parametrize(("count", "period_seconds"), [(0, 60), (5, 0), (5, -1)])
def test_rate_needs_a_positive_count_and_period(count: int, period_seconds: float) -> None:
    with pytest.raises(ValueError):
        Rate(count=count, period_seconds=period_seconds)


async def test_429_and_its_retry_after_header_are_in_the_openapi(service: Service) -> None:
    operation = (await service.client.get("/openapi.json")).json()["paths"]["/messages"]["post"]

    assert "Retry-After" in operation["responses"]["429"]["headers"]
