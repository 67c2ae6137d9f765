"""Publishes outbox rows to JetStream, in order, at least once; JetStream de-duplicates by event id.

A row is marked published only after JetStream acknowledged it. If the relay dies between the ack and
the mark, the row is published again with the same ``Nats-Msg-Id`` and JetStream drops the copy
(inside its duplicate window; consumers' inboxes drop anything later).
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import asyncpg
import structlog
from nats.aio.client import Client as NATS
from sqlalchemy import MetaData, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_common.events.bus import connect_nats_with_retry, ensure_stream
from crm_common.events.outbox import OUTBOX_NOTIFY_CHANNEL, outbox_table

log = structlog.get_logger(__name__)


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        metadata: MetaData,
        nats_url: str,
        *,
        name: str,
        batch_size: int = 500,
        poll_seconds: float = 0.2,
        publish_timeout: float = 5.0,
    ):
        self._engine = engine
        self._outbox = outbox_table(metadata)
        self._nats_url = nats_url
        self._name = name
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._publish_timeout = publish_timeout
        self._wake = asyncio.Event()
        self.published_total = 0

    async def publish_pending(self, nc: NATS) -> int:
        """Publish one batch of unpublished events; returns how many were published."""
        js = nc.jetstream(timeout=self._publish_timeout)
        outbox = self._outbox
        async with self._engine.begin() as conn:
            rows = (
                await conn.execute(
                    select(outbox.c.position, outbox.c.event_id, outbox.c.subject, outbox.c.envelope)
                    .where(outbox.c.published_at.is_(None))
                    .order_by(outbox.c.position)
                    .limit(self._batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            # publish_async pipelines the batch on one connection, so JetStream stores it in order.
            futures = [
                await js.publish_async(
                    row.subject,
                    json.dumps(row.envelope, separators=(",", ":")).encode(),
                    headers={"Nats-Msg-Id": str(row.event_id)},
                )
                for row in rows
            ]
            await asyncio.wait_for(asyncio.gather(*futures), timeout=self._publish_timeout)
            await conn.execute(
                update(outbox)
                .where(outbox.c.position.in_([row.position for row in rows]))
                .values(published_at=func.now(), attempts=outbox.c.attempts + 1)
            )
        self.published_total += len(rows)
        return len(rows)

    async def _listen_for_commits(self) -> asyncpg.Connection | None:
        """LISTEN on the outbox channel so commits wake the relay at once (polling remains the fallback)."""
        dsn = self._engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        try:
            conn = await asyncpg.connect(dsn)
            await conn.add_listener(OUTBOX_NOTIFY_CHANNEL, lambda *_: self._wake.set())
            return conn
        except Exception as exc:
            log.warning("outbox_listen_failed", error=str(exc))
            return None

    async def run(self, stop: asyncio.Event) -> None:
        listener = await self._listen_for_commits()
        nc: NATS | None = None
        try:
            nc = await connect_nats_with_retry(self._nats_url, f"{self._name}-relay", stop)
            if nc is None:
                return
            await ensure_stream(nc.jetstream())
            log.info("outbox_relay_started", relay=self._name)
            backoff = self._poll_seconds
            while not stop.is_set():
                try:
                    published = await self.publish_pending(nc)
                    backoff = self._poll_seconds
                except Exception as exc:  # broker or database away: keep rows, retry later
                    log.warning(
                        "outbox_publish_failed", error=str(exc) or type(exc).__name__, retry_in=backoff
                    )
                    published = 0
                    await _sleep_or_stop(stop, backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                if published == self._batch_size:
                    continue
                self._wake.clear()
                await _wait_any(stop, self._wake, self._poll_seconds)
        finally:
            if nc is not None:
                await nc.drain() if nc.is_connected else await nc.close()
            if listener is not None:
                await listener.close()


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def outbox_lag(engine: AsyncEngine, metadata: MetaData) -> tuple[int, float]:
    """How many events wait to be published and the age in seconds of the oldest."""
    outbox = outbox_table(metadata)
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(
                    func.count(),
                    func.coalesce(func.extract("epoch", func.now() - func.min(outbox.c.created_at)), 0),
                ).where(outbox.c.published_at.is_(None))
            )
        ).one()
    return int(row[0]), float(row[1])
