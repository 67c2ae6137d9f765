"""A fetched batch is applied in one transaction; one bad event costs only itself."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from crm_common.db import session_factory
from crm_common.events import EventEnvelope
from crm_common.events.consumer import ConsumerRunner, EventConsumer
from tests.common.events.test_outbox_delivery import APPLIED, METADATA
from tests.conftest import Servers
from tests.support import create_database, drop_database

SUBJECT = "crm.batchtest.thing.changed"


@pytest.fixture
async def engine(servers: Servers) -> AsyncIterator[AsyncEngine]:
    url = await create_database(servers.database_url, "crm_batches")
    engine = create_async_engine(make_url(url).set(drivername="postgresql+asyncpg"))
    async with engine.begin() as conn:
        await conn.run_sync(METADATA.create_all)
    yield engine
    await engine.dispose()
    await drop_database(servers.database_url, url)


def _runner(engine: AsyncEngine) -> ConsumerRunner:
    async def apply(session: AsyncSession, envelope: EventEnvelope) -> None:
        if envelope.payload.get("poison"):
            raise ValueError("this event can never be applied")
        await session.execute(insert(APPLIED).values(consumer="batch", event_id=str(envelope.id)))

    consumer = EventConsumer(name="batch", handlers={SUBJECT: apply}, max_deliver=1)
    return ConsumerRunner(consumer, session_factory(engine), METADATA, "nats://unused")


def _message(poison: bool = False) -> tuple[EventEnvelope, tuple[str, bytes, int]]:
    envelope = EventEnvelope(type="thing.changed", producer="batchtest", payload={"poison": poison})
    return envelope, (SUBJECT, envelope.model_dump_json().encode(), 1)


async def _applied(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(APPLIED))).scalar_one())


async def test_a_batch_applies_each_event_once_even_when_it_repeats_inside_the_batch(
    engine: AsyncEngine,
) -> None:
    runner = _runner(engine)
    messages = [_message()[1] for _ in range(5)]
    verdicts = await runner.handle_batch([*messages, messages[0]])
    assert verdicts == [True] * 6
    assert await _applied(engine) == 5
    assert await runner.handle_batch(messages) == [True] * 5  # redelivered: nothing changes
    assert await _applied(engine) == 5


async def test_one_poison_event_is_dead_lettered_and_the_rest_of_the_batch_applied(
    engine: AsyncEngine,
) -> None:
    runner = _runner(engine)
    good = [_message()[1] for _ in range(3)]
    poison = _message(poison=True)[1]
    verdicts = await runner.handle_batch([good[0], poison, good[1], good[2]])
    assert verdicts == [True, True, True, True]  # max_deliver=1: the poison one is dead-lettered, not retried
    assert await _applied(engine) == 3
    async with engine.connect() as conn:
        dead = (
            await conn.execute(select(func.count()).select_from(METADATA.tables["dead_letter_event"]))
        ).scalar_one()
    assert dead == 1
