"""The worker's crisis detector: every ``alert_check_seconds`` it judges the touchpoints' negatives."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_common.worker import BackgroundJob
from feedback.settings import FeedbackSettings
from feedback.touchpoints import service

log = structlog.get_logger(__name__)


async def run_detector_once(
    sessions: async_sessionmaker[AsyncSession], settings: FeedbackSettings, *, now: datetime | None = None
) -> int:
    """One detection pass in its own transaction; returns how many alerts it raised."""
    async with sessions.begin() as session:
        raised = await service.detect_crises(session, settings, now=now or datetime.now(UTC))
    for alert in raised:
        log.warning(
            "feedback_alert_raised",
            touchpoint=alert.touchpoint,
            window_start=alert.window_start.isoformat(),
            negatives=alert.negative_count,
            baseline_rate=alert.baseline_rate,
        )
    return len(raised)


def crisis_job(settings: FeedbackSettings) -> BackgroundJob:
    """The background job for ``run_worker``: runs the detector until ``stop`` is set."""

    async def run(sessions: async_sessionmaker[AsyncSession], stop: asyncio.Event) -> None:
        log.info("crisis_detector_started", window_minutes=settings.alert_window_minutes)
        while not stop.is_set():
            try:
                await run_detector_once(sessions, settings)
            except Exception as exc:  # the database may be away: the next pass catches up
                log.warning("crisis_detector_error", error=str(exc) or type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=settings.alert_check_seconds)

    return run
