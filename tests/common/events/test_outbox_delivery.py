"""The outbox under faults: a change committed while NATS is down is published when NATS is back,
and each consumer applies it exactly once, even when the relay republishes it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from crm_common.db import new_metadata, session_factory
from crm_common.events import EventEnvelope, add_event_tables, record_event
from crm_common.events.consumer import ConsumerRunner, EventConsumer
from crm_common.events.envelope import STREAM_NAME
from crm_common.events.relay import OutboxRelay, outbox_lag
from crm_platform.engines import EmbeddedNats
from tests.conftest import Servers
from tests.support import create_database, drop_database, wait_until

PRODUCER = "outboxtest"


def _metadata() -> tuple[MetaData, Table]:
    metadata = new_metadata()
    add_event_tables(metadata)
    applied = Table(
        "applied_change",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("consumer", String(50), nullable=False),
        Column("event_id", String(36), nullable=False),
    )
    return metadata, applied


METADATA, APPLIED = _metadata()


@pytest.fixture
async def engine(servers: Servers) -> AsyncIterator[AsyncEngine]:
    url = await create_database(servers.database_url, "crm_outbox")
    engine = create_async_engine(make_url(url).set(drivername="postgresql+asyncpg"))
    async with engine.begin() as conn:
        await conn.run_sync(METADATA.create_all)
    yield engine
    await engine.dispose()
    await drop_database(servers.database_url, url)


@pytest.fixture
async def private_nats(tmp_path: Path) -> AsyncIterator[EmbeddedNats]:
    """A NATS of this test's own, so it can be stopped and started without disturbing others."""
    nats = EmbeddedNats(tmp_path / "nats").start()
    yield nats
    nats.stop()


def _consumer(name: str, subject: str) -> EventConsumer:
    async def apply(session: AsyncSession, envelope: EventEnvelope) -> None:
        await session.execute(insert(APPLIED).values(consumer=name, event_id=str(envelope.id)))

    return EventConsumer(name=name, handlers={subject: apply})


async def _commit_change(engine: AsyncEngine, event_type: str) -> EventEnvelope:
    async with session_factory(engine)() as session, session.begin():
        return await record_event(
            session, METADATA, producer=PRODUCER, event_type=event_type, payload={"n": 1}
        )


async def _applied(engine: AsyncEngine, consumer: str, event_id: uuid.UUID) -> int:
    async with engine.connect() as conn:
        return int(
            (
                await conn.execute(
                    select(func.count())
                    .select_from(APPLIED)
                    .where(APPLIED.c.consumer == consumer, APPLIED.c.event_id == str(event_id))
                )
            ).scalar_one()
        )


async def test_change_committed_while_nats_is_down_is_delivered_once_to_each_consumer(
    engine: AsyncEngine, private_nats: EmbeddedNats
) -> None:
    event_type = f"thing{uuid.uuid4().hex[:8]}.changed"
    subject = f"crm.{PRODUCER}.{event_type}"
    port = private_nats.port
    private_nats.kill()

    envelope = await _commit_change(engine, event_type)
    assert (await outbox_lag(engine, METADATA))[0] == 1

    stop = asyncio.Event()
    relay = OutboxRelay(engine, METADATA, f"nats://127.0.0.1:{port}", name="test", poll_seconds=0.05)
    sessions = session_factory(engine)
    consumers = [
        ConsumerRunner(
            _consumer(f"c1-{event_type.split('.')[0]}", subject), sessions, METADATA, private_nats.url
        ),
        ConsumerRunner(
            _consumer(f"c2-{event_type.split('.')[0]}", subject), sessions, METADATA, private_nats.url
        ),
    ]
    tasks = [asyncio.create_task(relay.run(stop))]
    try:
        await asyncio.sleep(1.0)  # the relay is retrying against a dead broker
        assert relay.published_total == 0
        assert (await outbox_lag(engine, METADATA))[0] == 1

        private_nats.port = port
        private_nats.start()
        tasks += [asyncio.create_task(runner.run(stop)) for runner in consumers]

        for runner in consumers:
            name = runner.consumer.name
            await wait_until(lambda name=name: _applied(engine, name, envelope.id), timeout=20)
        assert (await outbox_lag(engine, METADATA))[0] == 0

        # A relay that died after JetStream's ack but before marking the row publishes it again.
        async with engine.begin() as conn:
            outbox = METADATA.tables["outbox_event"]
            await conn.execute(update(outbox).values(published_at=None))
        await wait_until(lambda: _lag_is_zero(engine), timeout=10)
        await asyncio.sleep(1.0)  # give a duplicate every chance to arrive
        for runner in consumers:
            assert await _applied(engine, runner.consumer.name, envelope.id) == 1
        # JetStream itself kept one copy: the republish was dropped by its Nats-Msg-Id.
        nc = await nats.connect(private_nats.url)
        try:
            info = await nc.jetstream().stream_info(STREAM_NAME, subjects_filter=subject)
            assert info.state.subjects == {subject: 1}
        finally:
            await nc.close()
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _lag_is_zero(engine: AsyncEngine) -> bool:
    return (await outbox_lag(engine, METADATA))[0] == 0


async def test_redelivered_event_changes_nothing_the_second_time(engine: AsyncEngine) -> None:
    subject = f"crm.{PRODUCER}.thing.changed"
    runner = ConsumerRunner(_consumer("idem", subject), session_factory(engine), METADATA, "nats://unused")
    envelope = EventEnvelope(type="thing.changed", producer=PRODUCER, payload={})
    data = envelope.model_dump_json().encode()
    assert await runner.handle(subject, data, deliveries=1)
    assert await runner.handle(subject, data, deliveries=2)
    assert await _applied(engine, "idem", envelope.id) == 1


async def test_handler_failing_on_every_delivery_ends_in_dead_letters(engine: AsyncEngine) -> None:
    subject = f"crm.{PRODUCER}.thing.broken"

    async def broken(session: AsyncSession, envelope: EventEnvelope) -> None:
        await session.execute(insert(APPLIED).values(consumer="broken", event_id=str(envelope.id)))
        raise RuntimeError("downstream rule rejected it")

    consumer = EventConsumer(name="broken", handlers={subject: broken}, max_deliver=3)
    runner = ConsumerRunner(consumer, session_factory(engine), METADATA, "nats://unused")
    data = EventEnvelope(type="thing.broken", producer=PRODUCER).model_dump_json().encode()
    assert await runner.handle(subject, data, deliveries=1) is False  # retry later
    assert await runner.handle(subject, data, deliveries=3) is True  # give up: dead-lettered
    dead = METADATA.tables["dead_letter_event"]
    async with engine.connect() as conn:
        rows = (await conn.execute(select(dead.c.consumer, dead.c.deliveries, dead.c.error))).all()
        applied = (await conn.execute(select(func.count()).select_from(APPLIED))).scalar_one()
    assert [(r.consumer, r.deliveries) for r in rows] == [("broken", 3)]
    assert "downstream rule rejected it" in rows[0].error
    assert applied == 0  # the failed attempts' partial writes were rolled back


@pytest.mark.parametrize("count", [3, 120])
async def test_record_events_writes_every_envelope_in_order_small_batch_or_bulk(
    engine: AsyncEngine, count: int
) -> None:
    from crm_common.events.outbox import record_events

    events = [("thing.happened", f"s{i}", {"n": i, "name": f"이름 {i}"}) for i in range(count)]
    async with session_factory(engine)() as session, session.begin():
        envelopes = await record_events(session, METADATA, producer=PRODUCER, events=list(events))

    outbox = METADATA.tables["outbox_event"]
    async with engine.connect() as conn:
        rows = (await conn.execute(select(outbox).order_by(outbox.c.position))).all()
    assert [row.event_id for row in rows] == [e.id for e in envelopes]
    assert [row.subject for row in rows] == [f"crm.{PRODUCER}.thing.happened"] * count
    assert [row.envelope["payload"] for row in rows] == [payload for _, _, payload in events]
    assert rows[-1].envelope == envelopes[-1].model_dump(mode="json")
