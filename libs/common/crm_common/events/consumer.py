"""Idempotent JetStream consumers.

Each consumer is a durable pull consumer on the domain-event stream. An event's effects and its inbox
row commit in one transaction, so a redelivery (after a crash, a lost ack or a republish) is
recognised and changes nothing. A handler that keeps failing lands in ``dead_letter_event``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError
from sqlalchemy import MetaData, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_common.events.bus import connect_nats_with_retry, ensure_stream
from crm_common.events.envelope import STREAM_NAME, EventEnvelope
from crm_common.logging import bind_request_id, reset_request_id

log = structlog.get_logger(__name__)

EventHandler = Callable[[AsyncSession, EventEnvelope], Awaitable[None]]


class PermanentEventError(Exception):
    """Raised by a handler for an event that can never succeed (e.g. a payload that breaks its
    contract): it is dead-lettered at once instead of being redelivered."""


@dataclass
class EventConsumer:
    """A named durable consumer: which subjects it reads and the handler per event subject."""

    name: str
    handlers: dict[str, EventHandler]
    max_deliver: int = 8
    ack_wait_seconds: float = 30.0
    batch_size: int = 100
    processed_total: int = field(default=0, init=False)

    @property
    def filter_subjects(self) -> list[str]:
        return sorted(self.handlers)


class ConsumerRunner:
    """Runs one :class:`EventConsumer` against JetStream with a service's database."""

    def __init__(
        self,
        consumer: EventConsumer,
        session_factory: async_sessionmaker[AsyncSession],
        metadata: MetaData,
        nats_url: str,
        *,
        durable_suffix: str = "",
    ):
        self.consumer = consumer
        self.durable_name = consumer.name + durable_suffix
        self._sessions = session_factory
        self._inbox = metadata.tables["inbox_event"]
        self._dead_letter = metadata.tables["dead_letter_event"]
        self._nats_url = nats_url

    async def handle(self, subject: str, data: bytes, deliveries: int) -> bool:
        """Process one message; True when it may be acknowledged, False to redeliver later."""
        return (await self.handle_batch([(subject, data, deliveries)]))[0]

    async def handle_batch(self, messages: Sequence[tuple[str, bytes, int]]) -> list[bool]:
        """Process fetched messages; per message, True to acknowledge or False to redeliver.

        First the whole batch is tried in one transaction (one inbox insert, the handlers, one commit).
        If any event fails, that is rolled back and the batch is done again event by event, each in its
        own savepoint, so one bad event costs only itself.
        """
        if len(messages) > 1:
            applied = await self._apply_all_or_nothing(messages)
            if applied:
                return [True] * len(messages)
        return await self._apply_one_by_one(messages)

    async def _apply_all_or_nothing(self, messages: Sequence[tuple[str, bytes, int]]) -> bool:
        try:
            async with self._sessions() as session, session.begin():
                wanted = [
                    (subject, EventEnvelope.model_validate_json(data))
                    for subject, data, _ in messages
                    if subject in self.consumer.handlers
                ]
                if not wanted:
                    return True
                new = set(
                    (
                        await session.execute(
                            pg_insert(self._inbox)
                            .values(
                                [
                                    {"consumer": self.consumer.name, "event_id": e.id, "subject": subject}
                                    for subject, e in wanted
                                ]
                            )
                            .on_conflict_do_nothing()
                            .returning(self._inbox.c.event_id)
                        )
                    ).scalars()
                )
                applied = 0
                for subject, envelope in wanted:
                    if envelope.id not in new:
                        continue  # handled before, or twice in this batch
                    new.discard(envelope.id)
                    token = bind_request_id(envelope.correlation_id)
                    try:
                        await self.consumer.handlers[subject](session, envelope)
                    finally:
                        reset_request_id(token)
                    applied += 1
            self.consumer.processed_total += applied
            return True
        except Exception as exc:  # a bad event: redo one by one so only it fails
            log.info(
                "event_batch_falls_back", consumer=self.consumer.name, error=str(exc) or type(exc).__name__
            )
            return False

    async def _apply_one_by_one(self, messages: Sequence[tuple[str, bytes, int]]) -> list[bool]:
        verdicts: list[bool] = []
        try:
            async with self._sessions() as session, session.begin():
                for subject, data, deliveries in messages:
                    verdicts.append(await self._handle_one(session, subject, data, deliveries))
        except Exception as exc:
            log.warning("event_batch_commit_failed", consumer=self.consumer.name, error=str(exc))
            return [False] * len(messages)
        return verdicts

    async def _handle_one(self, session: AsyncSession, subject: str, data: bytes, deliveries: int) -> bool:
        try:
            envelope = EventEnvelope.model_validate_json(data)
        except ValidationError as exc:
            await self._dead_letter_it(session, subject, data, None, f"malformed envelope: {exc}", deliveries)
            return True
        handler = self.consumer.handlers.get(subject)
        if handler is None:
            return True
        token = bind_request_id(envelope.correlation_id)
        try:
            async with session.begin_nested():
                first_time = (
                    await session.execute(
                        pg_insert(self._inbox)
                        .values(consumer=self.consumer.name, event_id=envelope.id, subject=subject)
                        .on_conflict_do_nothing()
                        .returning(self._inbox.c.event_id)
                    )
                ).first()
                if first_time is None:
                    log.info(
                        "event_already_processed", event_id=str(envelope.id), consumer=self.consumer.name
                    )
                    return True
                await handler(session, envelope)
            self.consumer.processed_total += 1
            return True
        except Exception as exc:
            log.warning(
                "event_handler_failed",
                consumer=self.consumer.name,
                event_id=str(envelope.id),
                deliveries=deliveries,
                error=str(exc) or type(exc).__name__,
            )
            if deliveries >= self.consumer.max_deliver or isinstance(exc, PermanentEventError):
                await self._dead_letter_it(session, subject, data, envelope, repr(exc), deliveries)
                return True
            return False
        finally:
            reset_request_id(token)

    async def _dead_letter_it(
        self,
        session: AsyncSession,
        subject: str,
        data: bytes,
        envelope: EventEnvelope | None,
        error: str,
        deliveries: int,
    ) -> None:
        log.error("event_dead_lettered", consumer=self.consumer.name, subject=subject, error=error)
        await session.execute(
            insert(self._dead_letter).values(
                consumer=self.consumer.name,
                event_id=envelope.id if envelope else None,
                subject=subject,
                body=data.decode("utf-8", errors="replace"),
                error=error[:4000],
                deliveries=deliveries,
            )
        )

    async def _subscribe(self, nc: NATS) -> object:
        js = nc.jetstream()
        await ensure_stream(js)
        await js.add_consumer(
            STREAM_NAME,
            ConsumerConfig(
                durable_name=self.durable_name,
                filter_subjects=self.consumer.filter_subjects,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=self.consumer.ack_wait_seconds,
                max_deliver=self.consumer.max_deliver + 1,
            ),
        )
        return await js.pull_subscribe_bind(durable=self.durable_name, stream=STREAM_NAME)

    async def _process(self, messages: Sequence[Msg]) -> None:
        batch = [(msg.subject, msg.data, msg.metadata.num_delivered or 1) for msg in messages]
        verdicts = await self.handle_batch(batch)
        for msg, (_, _, deliveries), acknowledge in zip(messages, batch, verdicts, strict=True):
            if acknowledge:
                await msg.ack()
            else:
                await msg.nak(delay=min(0.5 * 2 ** (deliveries - 1), 30.0))

    async def run(self, stop: asyncio.Event) -> None:
        nc = await connect_nats_with_retry(self._nats_url, f"consumer-{self.consumer.name}", stop)
        if nc is None:
            return
        try:
            sub = None
            while sub is None and not stop.is_set():
                try:
                    sub = await self._subscribe(nc)
                except Exception as exc:
                    log.warning("consumer_subscribe_failed", consumer=self.consumer.name, error=str(exc))
                    await asyncio.sleep(1.0)
            log.info("consumer_started", consumer=self.consumer.name, subjects=self.consumer.filter_subjects)
            while not stop.is_set() and sub is not None:
                try:
                    messages = await sub.fetch(self.consumer.batch_size, timeout=1.0)  # type: ignore[attr-defined]
                except (NatsTimeoutError, TimeoutError):  # nothing to fetch this second
                    continue
                except Exception as exc:  # broker restarting: the client reconnects by itself
                    error = str(exc) or type(exc).__name__
                    log.warning("consumer_fetch_failed", consumer=self.consumer.name, error=error)
                    await asyncio.sleep(0.5)
                    continue
                try:
                    await self._process(messages)
                except Exception as exc:  # an ack/nak lost to a broker restart: JetStream redelivers
                    log.warning("consumer_ack_failed", consumer=self.consumer.name, error=str(exc))
        finally:
            await nc.close()
