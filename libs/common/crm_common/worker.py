"""A service's background worker: the outbox relay plus its event consumers, stopped by SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Sequence

import structlog
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_common.db import create_engine, session_factory
from crm_common.events.consumer import ConsumerRunner, EventConsumer
from crm_common.events.relay import OutboxRelay
from crm_common.logging import configure_logging
from crm_common.settings import ServiceSettings

log = structlog.get_logger(__name__)


BackgroundJob = Callable[[async_sessionmaker[AsyncSession], asyncio.Event], Awaitable[None]]


async def serve_worker(
    settings: ServiceSettings,
    metadata: MetaData,
    consumers: Sequence[EventConsumer],
    stop: asyncio.Event,
    jobs: Sequence[BackgroundJob] = (),
) -> None:
    """Run the relay, the consumers and the service's own background jobs until ``stop`` is set.

    In-flight work finishes or is picked up again after a restart.
    """
    engine = create_engine(
        settings.async_database_url(),
        pool_size=4,
        max_overflow=4,
        application_name=f"{settings.service_name}-worker",
    )
    sessions = session_factory(engine)
    relay = OutboxRelay(
        engine,
        metadata,
        settings.nats_url,
        name=settings.service_name,
        poll_seconds=settings.outbox_poll_seconds,
    )
    runners = [
        ConsumerRunner(
            consumer, sessions, metadata, settings.nats_url, durable_suffix=settings.nats_consumer_suffix
        )
        for consumer in consumers
    ]
    try:
        await asyncio.gather(
            relay.run(stop), *(runner.run(stop) for runner in runners), *(job(sessions, stop) for job in jobs)
        )
    finally:
        await engine.dispose()


def run_worker(
    settings: ServiceSettings,
    metadata: MetaData,
    consumers: Sequence[EventConsumer],
    jobs: Sequence[BackgroundJob] = (),
) -> None:
    configure_logging(f"{settings.service_name}-worker", settings.log_level, settings.log_json)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info("worker_starting", service=settings.service_name, consumers=[c.name for c in consumers])
        await serve_worker(settings, metadata, consumers, stop, jobs)
        log.info("worker_stopped", service=settings.service_name)

    asyncio.run(main())
