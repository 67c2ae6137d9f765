"""``python -m campaign.delivery.worker``: only the delivery loop, to scale sending out.

Run as many processes (on as many machines) as the send rate needs: they share the ledger through
``FOR UPDATE SKIP LOCKED`` claims and leases, never the same row at once. SIGTERM/SIGINT finish the
batch in hand and stop. The main campaign worker runs the same loop (``delivery/jobs.py``).

Each loop: claim a batch and decide policy (one transaction, committed before anything is sent: rows
whose lease expired are taken over with ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)
RETURNING``; due rows are locked with ``SELECT ... FOR UPDATE SKIP LOCKED`` and get their verdict —
``sending`` with this worker's lease, ``held`` or ``suppressed`` — in one ``UPDATE`` of the same
transaction, one write per row instead of a claim write plus a verdict write), render
(templates, from a read-only session), send per channel through :class:`ChannelSenders` behind the
per-channel rate limit, record the outcomes (one statement, one transaction). A process killed at any
point leaves its rows ``sending`` with a lease; they are re-claimed when it expires and re-sent with the
same message id.

New rows are found by polling (``delivery_poll_seconds``, 100 ms by default) while a loop is idle; a
busy loop claims its next batch at once.

Rate limits (``delivery_rate_limits``, messages/second per channel) are token buckets **per process**:
N delivery processes together send up to N times the configured rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign.audience import service as audience_service
from campaign.channels import service as channels_service
from campaign.channels import templates
from campaign.channels.types import Channel, OutcomeKind, OutgoingMessage, Purpose, SendOutcome
from campaign.delivery import service
from campaign.delivery.repository import ClaimedRow
from campaign.delivery.service import Backoff, ReadyMessage, SendTimePolicy
from campaign.settings import CampaignSettings

log = structlog.get_logger(__name__)


class Senders(Protocol):
    async def send(self, channel: Channel, messages: list[OutgoingMessage]) -> list[SendOutcome]: ...


class TokenBucket:
    """``rate`` tokens per second, up to ``rate`` in the bucket. A take may go into debt and then waits
    it off, so the long-run rate is exact while a batch goes out as one burst. Per process."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._tokens = rate
        self._updated = clock()
        self._lock = asyncio.Lock()

    def _debt_after(self, count: int) -> float:
        now = self._clock()
        self._tokens = min(self.rate, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        self._tokens -= count
        return max(0.0, -self._tokens / self.rate)

    async def take(self, count: int) -> None:
        async with self._lock:  # takers queue up, each waits its own debt off
            wait = self._debt_after(count)
            if wait > 0:
                await asyncio.sleep(wait)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class DeliveryWorker:
    """The claim → policy → render → send → record loop of one process (``concurrency`` loops)."""

    def __init__(
        self,
        settings: CampaignSettings,
        sessions: async_sessionmaker[AsyncSession],
        senders: Senders,
        *,
        owner: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.senders = senders
        self.owner = owner or worker_name()
        self.clock = clock
        self.policy = SendTimePolicy.from_settings(settings)
        self.backoff = Backoff.from_settings(settings)
        self.lease = timedelta(seconds=settings.delivery_lease_seconds)
        self.buckets: Mapping[str, TokenBucket] = {
            channel: TokenBucket(rate) for channel, rate in settings.delivery_rate_limits.items() if rate > 0
        }
        self.totals: dict[str, int] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Loop until ``stop`` is set; the batch in hand is always finished first."""
        await asyncio.gather(*(self._loop(stop) for _ in range(self.settings.delivery_concurrency)))

    async def _loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                claimed = await self.run_once()
            except Exception as exc:  # the database away, say: back off and try again
                log.warning("delivery_batch_failed", error=str(exc)[:500], owner=self.owner)
                claimed = 0
                await _sleep_unless(stop, 1.0)
            if claimed == 0:
                await _sleep_unless(stop, self.settings.delivery_poll_seconds)

    async def run_once(self) -> int:
        """One batch: claim, decide, send, record. Returns how many rows were claimed."""
        now = self.clock()
        async with self.sessions() as session, session.begin():
            batch = await service.claim_batch(
                session,
                self.policy,
                owner=self.owner,
                now=now,
                lease=self.lease,
                limit=self.settings.delivery_claim_batch,
            )
        claimed = len(batch.ready) + batch.held + batch.suppressed
        if not batch.ready:
            return claimed
        heartbeat = asyncio.create_task(self._keep_leases([item.row for item in batch.ready]))
        try:
            results = await self._send(batch.ready)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        async with self.sessions() as session, session.begin():
            counts = await service.record_send_outcomes(
                session, owner=self.owner, now=self.clock(), backoff=self.backoff, results=results
            )
        for status, count in counts.items():
            self.totals[status] = self.totals.get(status, 0) + count
        return claimed

    async def _keep_leases(self, rows: Sequence[ClaimedRow]) -> None:
        """While a batch is out, renew its lease every third of the lease: only a dead (or cut-off)
        worker's rows expire and get re-sent by another."""
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            try:
                async with self.sessions() as session, session.begin():
                    await service.extend_leases(session, self.owner, rows, self.clock() + self.lease)
            except Exception as exc:  # the lease may lapse; the worst case is a re-send with the same id
                log.warning("delivery_lease_renewal_failed", error=str(exc)[:300], owner=self.owner)

    async def _render(self, ready: Sequence[ReadyMessage]) -> list[OutgoingMessage | str]:
        async with self.sessions() as session:
            contents = await channels_service.load_contents(session, [r.row.content_id for r in ready])
            # Recommendations cost a query; only contents that mention them need it.
            # Decided once per content, not once per message.
            recommending = {content_id for content_id, c in contents.items() if _uses_recommendations(c)}
            wanting = {r.row.customer_id for r in ready if r.row.content_id in recommending}
            recommendations = (
                await audience_service.recommendations(session, list(wanting)) if wanting else {}
            )
        prepared: list[OutgoingMessage | str] = []
        for item in ready:
            row = item.row
            content = contents.get(row.content_id)
            if content is None:
                prepared.append(f"content {row.content_id} not found")
                continue
            try:
                context = audience_service.render_context(
                    item.member, recommendations.get(row.customer_id, [])
                )
                rendered = templates.render(content, context, message_id=row.id, settings=self.settings)
            except Exception as exc:  # TemplateRenderError, or anything else this one customer triggers
                prepared.append(str(exc) or type(exc).__name__)
                continue
            prepared.append(
                OutgoingMessage(
                    message_id=row.id,
                    campaign_id=row.campaign_id,
                    step_id=row.step_id,
                    variant_key=row.variant_key,
                    customer_id=row.customer_id,
                    channel=Channel(row.channel),
                    purpose=Purpose(row.purpose),
                    address=item.address,
                    rendered=rendered,
                )
            )
        return prepared

    async def _send(self, ready: Sequence[ReadyMessage]) -> list[tuple[ReadyMessage, SendOutcome | str]]:
        prepared = await self._render(ready)
        results: list[tuple[ReadyMessage, SendOutcome | str]] = []
        by_channel: dict[str, list[tuple[ReadyMessage, OutgoingMessage]]] = {}
        for item, message in zip(ready, prepared, strict=True):
            if isinstance(message, str):
                results.append((item, message))
            else:
                by_channel.setdefault(item.row.channel, []).append((item, message))

        async def send_channel(channel: str, pairs: list[tuple[ReadyMessage, OutgoingMessage]]) -> None:
            bucket = self.buckets.get(channel)
            if bucket is not None:
                await bucket.take(len(pairs))
            try:
                outcomes = await self.senders.send(Channel(channel), [message for _, message in pairs])
            except Exception as exc:  # a sender bug or an outage: nothing known to be sent, retry later
                log.warning("delivery_send_failed", channel=channel, error=str(exc)[:500])
                outcomes = [SendOutcome(OutcomeKind.TRANSIENT, f"sender error: {type(exc).__name__}")] * len(
                    pairs
                )
            results.extend((item, outcome) for (item, _), outcome in zip(pairs, outcomes, strict=True))

        await asyncio.gather(*(send_channel(channel, pairs) for channel, pairs in by_channel.items()))
        return results


def _uses_recommendations(content: object) -> bool:
    texts = [getattr(content, "subject", None) or "", getattr(content, "body", "") or ""]
    texts.append(repr(getattr(content, "payload_template", {}) or {}))
    return any("recommendation" in text for text in texts)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def run_delivery(
    settings: CampaignSettings, sessions: async_sessionmaker[AsyncSession], stop: asyncio.Event
) -> None:
    """The delivery loop with its own channel senders, until ``stop`` is set."""
    from campaign.channels.senders import ChannelSenders

    senders = ChannelSenders(settings, sessions)
    await senders.start()
    worker = DeliveryWorker(settings, sessions, senders)
    log.info("delivery_worker_started", owner=worker.owner, concurrency=settings.delivery_concurrency)
    try:
        await worker.run(stop)
    finally:
        await senders.close()
        log.info("delivery_worker_stopped", owner=worker.owner, totals=worker.totals)


def main() -> None:
    import campaign.models  # noqa: F401  (every table on the metadata)
    from crm_common.db import create_engine, session_factory
    from crm_common.logging import configure_logging

    settings = CampaignSettings()
    configure_logging("campaign-delivery", settings.log_level, settings.log_json)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        engine = create_engine(
            settings.async_database_url(),
            pool_size=settings.delivery_concurrency * 2 + 1,
            max_overflow=2,
            application_name="campaign-delivery",
        )
        try:
            await run_delivery(settings, session_factory(engine), stop)
        finally:
            await engine.dispose()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
