"""The worker's webhook job: claims due deliveries and processes them, each attempt in two transactions.

1. The claim (short): ``FOR UPDATE SKIP LOCKED`` takes the delivery due first, counts the attempt and
   moves ``next_attempt_at`` to the end of a lease, so that no other worker takes it meanwhile.
2. The attempt: locks the row again, maps the payload, calls the resolution engine and marks the
   delivery done, or records the failure, and commits once. If the worker dies in between, all of it
   rolls back: the delivery is still pending, as received, and is claimed again when the lease ends.

While a worker holds a delivery's row lock its status reads ``processing``; it is never stored,
because a status written before the work would outlive a worker that died doing it.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_common.worker import BackgroundJob
from identity.settings import IdentitySettings
from identity.webhooks import service

log = structlog.get_logger(__name__)

# Longer than any attempt takes (one identify call): an attempt still running when it ends is not
# taken twice (its row lock is held), but a killed worker's delivery waits this long to come back.
DEFAULT_LEASE = timedelta(minutes=5)
DEFAULT_POLL_SECONDS = 1.0


async def process_next(
    sessions: async_sessionmaker[AsyncSession],
    settings: IdentitySettings,
    *,
    lease: timedelta = DEFAULT_LEASE,
    now: datetime | None = None,
) -> bool:
    """Claim and process the delivery due first; False when none is due."""
    now = now or datetime.now(UTC)
    async with sessions.begin() as session:
        claim = await service.claim_next(session, settings, now=now, lease=lease)
    if claim is None:
        return False
    async with sessions.begin() as session:
        await service.process_claimed(session, settings, claim, now=now)
    return True


def webhook_job(
    settings: IdentitySettings,
    *,
    poll_seconds: float = DEFAULT_POLL_SECONDS,
    lease: timedelta = DEFAULT_LEASE,
) -> BackgroundJob:
    """The background job for ``run_worker``: processes deliveries until ``stop`` is set."""

    async def run(sessions: async_sessionmaker[AsyncSession], stop: asyncio.Event) -> None:
        log.info("webhook_job_started", sources=sorted(settings.webhook_sources))
        while not stop.is_set():
            try:
                worked = await process_next(sessions, settings, lease=lease)
            except Exception as exc:  # the database may be away: the deliveries wait, we retry
                log.warning("webhook_job_error", error=str(exc) or type(exc).__name__)
                worked = False
            if not worked:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=poll_seconds)

    return run
