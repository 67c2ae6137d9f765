"""Touchpoint health and crisis alerts.

Health, per touchpoint and calendar window (hour, day or ISO week in a time zone):

* NPS = % promoters (9-10) - % detractors (0-6) of the window's NPS responses (-100..100);
* CSAT average = mean of the window's CSAT ratings (1-5);
* volume = every response, complaints included;
* negative share = negative responses / volume, where a response is negative when its text's sentiment
  is negative, it is an NPS detractor, a CSAT of 1-2, or a complaint (feedback.experience.service);
* trend = each figure minus the previous window's (an empty previous window has volume 0, no scores).

Crisis alerts: :mod:`feedback.touchpoints.detector` judges each touchpoint's negatives in the current
and the previous fixed window against the touchpoint's own baseline (Poisson tail); a spike is stored
once per touchpoint and window and published as ``alert.raised`` (subject crm.feedback.alert.raised).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.errors import FieldError, ValidationFailed
from crm_common.events.outbox import record_event
from feedback.database import metadata
from feedback.experience import service as experience
from feedback.experience.repository import WINDOW_ORIGIN
from feedback.experience.service import WindowCounts
from feedback.settings import FeedbackSettings
from feedback.touchpoints import repository
from feedback.touchpoints.detector import SpikeRule, find_spikes, window_floor
from feedback.touchpoints.errors import AlertAlreadyAcknowledged, AlertNotFound
from feedback.touchpoints.models import FeedbackAlert
from feedback.touchpoints.schemas import HealthTrend, TouchpointHealth, WindowHealth

PRODUCER = "feedback"
DETECTION_METHOD = "poisson_tail"
# The range a health query covers when it names none: this many windows back from now.
DEFAULT_SPAN = {"hour": timedelta(hours=24), "day": timedelta(days=7), "week": timedelta(weeks=12)}
INVALID_PARAMETER_VALUE = "22023"
NOMINAL_LENGTH = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}


# --- calendar windows ------------------------------------------------------------------------------


def calendar_floor(at: datetime, window: str, tz: ZoneInfo) -> datetime:
    """The start of the hour, day or ISO week (Monday) containing ``at`` in ``tz``; what PostgreSQL's
    ``date_trunc(window, at, tz)`` returns."""
    local = at.astimezone(tz)
    if window == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if window == "week":
        day = day - timedelta(days=day.weekday())
    return day


def calendar_step(start: datetime, window: str, tz: ZoneInfo, steps: int) -> datetime:
    """The window ``steps`` windows after (or before, negative) the one starting at ``start``."""
    if window == "hour":  # an hour is an hour of elapsed time, across daylight-saving changes too
        return calendar_floor(start.astimezone(UTC) + timedelta(hours=steps), window, tz)
    # Days and weeks are wall-clock: aware arithmetic keeps the local time and recomputes the offset.
    days = steps * (7 if window == "week" else 1)
    return calendar_floor(start.astimezone(tz) + timedelta(days=days), window, tz)


@cache
def _time_zone_names() -> frozenset[str]:
    return frozenset(available_timezones() - {"localtime"})


def _unknown_time_zone(name: str) -> ValidationFailed:
    return ValidationFailed(
        f"Unknown time zone {name!r}.",
        errors=[FieldError(field="query.tz", message="not an IANA time zone", code="tz_unknown")],
    )


def time_zone(name: str) -> ZoneInfo:
    """The IANA time zone of that name (the names Python and PostgreSQL both know), or a 422."""
    if name not in _time_zone_names():
        raise _unknown_time_zone(name)
    return ZoneInfo(name)


# --- health ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HealthListing:
    since: datetime
    until: datetime
    touchpoints: list[TouchpointHealth]
    last_touchpoint: str | None  # the cursor key when there are more touchpoints


def _window_health(counts: WindowCounts | None, start: datetime, end: datetime) -> WindowHealth:
    volume = counts.volume if counts else 0
    nps_responses = counts.nps_responses if counts else 0
    promoters = counts.promoters if counts else 0
    detractors = counts.detractors if counts else 0
    csat_responses = counts.csat_responses if counts else 0
    negatives = counts.negatives if counts else 0
    return WindowHealth(
        window_start=start,
        window_end=end,
        volume=volume,
        nps=round(100.0 * (promoters - detractors) / nps_responses, 2) if nps_responses else None,
        nps_responses=nps_responses,
        promoters=promoters,
        passives=nps_responses - promoters - detractors,
        detractors=detractors,
        csat_average=round(counts.csat_sum / csat_responses, 3) if counts and csat_responses else None,
        csat_responses=csat_responses,
        negatives=negatives,
        negative_share=round(negatives / volume, 4) if volume else 0.0,
        complaints=counts.complaints if counts else 0,
        trend=HealthTrend(
            volume_change=0, nps_change=None, csat_average_change=None, negative_share_change=None
        ),
    )


def _difference(now: float | None, before: float | None, digits: int) -> float | None:
    return round(now - before, digits) if now is not None and before is not None else None


def _trend(current: WindowHealth, previous: WindowHealth) -> HealthTrend:
    return HealthTrend(
        volume_change=current.volume - previous.volume,
        nps_change=_difference(current.nps, previous.nps, 2),
        csat_average_change=_difference(current.csat_average, previous.csat_average, 3),
        negative_share_change=_difference(
            current.negative_share if current.volume else None,
            previous.negative_share if previous.volume else None,
            4,
        ),
    )


async def touchpoint_health(
    session: AsyncSession,
    settings: FeedbackSettings,
    *,
    window: str,
    tz_name: str,
    since: datetime | None,
    until: datetime | None,
    touchpoint: str | None,
    channel: str | None,
    after: str | None,
    limit: int,
    now: datetime | None = None,
) -> HealthListing:
    """Health of each touchpoint with feedback in the range, per window (only windows with feedback),
    each with its trend against the window before it. ``since`` is rounded down to its window."""
    tz = time_zone(tz_name)
    until = until or now or datetime.now(UTC)
    since = calendar_floor(since or until - DEFAULT_SPAN[window], window, tz)
    if since >= until:
        raise ValidationFailed(
            "The range is empty: `from` must come before `to`.",
            errors=[FieldError(field="query.from", message="must be before `to`", code="range_empty")],
        )
    if (until - since) / NOMINAL_LENGTH[window] > settings.health_max_windows:
        raise ValidationFailed(
            f"The range spans more than {settings.health_max_windows} {window} windows.",
            errors=[
                FieldError(field="query.from", message="range too long for the window", code="range_long")
            ],
        )
    names = await experience.touchpoints_in_range(
        session,
        since=since,
        until=until,
        touchpoint=touchpoint,
        channel=channel,
        after=after,
        limit=limit + 1,
    )
    page = names[:limit]
    try:
        counts = await experience.window_counts(
            session,
            window=window,
            tz=tz_name,
            since=calendar_step(since, window, tz, -1),  # the window before the first, for its trend
            until=until,
            touchpoints=page,
            channel=channel,
        )
    except DBAPIError as exc:  # a zone Python's database has and PostgreSQL's lacks
        if getattr(exc.orig, "sqlstate", None) == INVALID_PARAMETER_VALUE:
            raise _unknown_time_zone(tz_name) from exc
        raise
    by_touchpoint: dict[str, dict[datetime, WindowCounts]] = {}
    for row in counts:
        by_touchpoint.setdefault(row.touchpoint, {})[row.window_start] = row
    listing: list[TouchpointHealth] = []
    for name in page:
        windows = by_touchpoint.get(name, {})
        healths: list[WindowHealth] = []
        for start in sorted(start for start in windows if start >= since):
            end = calendar_step(start, window, tz, 1)
            previous_start = calendar_step(start, window, tz, -1)
            health = _window_health(windows[start], start.astimezone(tz), end)
            previous = _window_health(windows.get(previous_start), previous_start, start)
            healths.append(health.model_copy(update={"trend": _trend(health, previous)}))
        listing.append(TouchpointHealth(touchpoint=name, windows=healths))
    return HealthListing(
        since=since,
        until=until,
        touchpoints=listing,
        last_touchpoint=page[-1] if len(names) > limit else None,
    )


# --- crisis alerts ---------------------------------------------------------------------------------


def spike_rule(settings: FeedbackSettings) -> SpikeRule:
    return SpikeRule(
        window=timedelta(minutes=settings.alert_window_minutes),
        baseline_windows=settings.alert_baseline_windows,
        min_count=settings.alert_min_count,
        max_p_value=settings.alert_max_p_value,
        min_baseline_rate=settings.alert_min_baseline_rate,
    )


async def detect_crises(
    session: AsyncSession, settings: FeedbackSettings, *, now: datetime
) -> list[FeedbackAlert]:
    """Judge the current window (so far) and the one just closed for every touchpoint with negatives
    in them; raise each spike once, publishing ``alert.raised``. Returns the alerts raised now.

    Judging the closed window too means a spike at the end of a window is not missed when the
    detector did not run in its last minutes; the unique (touchpoint, window) keeps it to one alert.
    """
    rule = spike_rule(settings)
    current = window_floor(now, rule.window, WINDOW_ORIGIN)
    judged = [current - rule.window, current]
    counts = await experience.negative_counts(
        session,
        since=judged[0] - rule.window * rule.baseline_windows,
        until=now,
        window=rule.window,
        active_since=judged[0],
    )
    raised: list[FeedbackAlert] = []
    for spike in find_spikes(counts, judged=judged, rule=rule):
        alert = await repository.add_alert_once(session, spike, method=DETECTION_METHOD)
        if alert is None:
            continue
        raised.append(alert)
        await record_event(
            session,
            metadata,
            producer=PRODUCER,
            event_type="alert.raised",
            subject_id=str(alert.id),
            payload={
                "alert_id": str(alert.id),
                "touchpoint": alert.touchpoint,
                "window_start": alert.window_start.isoformat(),
                "window_end": alert.window_end.isoformat(),
                "negative_count": alert.negative_count,
                "baseline_rate": alert.baseline_rate,
                "baseline_windows": rule.baseline_windows,
                "p_value": alert.p_value,
                "method": alert.method,
            },
        )
    return raised


async def list_alerts(
    session: AsyncSession,
    *,
    touchpoint: str | None,
    acknowledged: bool | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[FeedbackAlert]:
    """Alerts newest first, keyset-paginated after ``after``."""
    return await repository.list_alerts(
        session, touchpoint=touchpoint, acknowledged=acknowledged, after=after, limit=limit
    )


async def get_alert(session: AsyncSession, alert_id: uuid.UUID) -> FeedbackAlert:
    alert = await repository.get(session, alert_id)
    if alert is None:
        raise AlertNotFound(f"No alert with id {alert_id}.")
    return alert


async def acknowledge_alert(
    session: AsyncSession, alert_id: uuid.UUID, *, actor: str, note: str | None
) -> FeedbackAlert:
    """Someone has seen the alert and is on it; an alert is acknowledged once."""
    alert = await repository.get(session, alert_id, for_update=True)
    if alert is None:
        raise AlertNotFound(f"No alert with id {alert_id}.")
    if alert.acknowledged_at is not None:
        raise AlertAlreadyAcknowledged(
            f"Alert {alert_id} was acknowledged by {alert.acknowledged_by} "
            f"at {alert.acknowledged_at.isoformat()}."
        )
    alert.acknowledged_at = datetime.now(UTC)
    alert.acknowledged_by = actor
    alert.acknowledgement_note = note
    await session.flush()
    return alert


# The touchpoints domain keeps no customer rows (alerts hold counts only); these exist so the identity
# consumers can call every domain the same way.


async def move_customer(
    session: AsyncSession, *, merge_id: uuid.UUID, from_id: uuid.UUID, to_id: uuid.UUID
) -> None:
    """Nothing to move: touchpoint health and alerts hold no customer ids."""


async def restore_customer(session: AsyncSession, *, merge_id: uuid.UUID, restored_id: uuid.UUID) -> None:
    """Nothing to restore: touchpoint health and alerts hold no customer ids."""


async def erase_customer(session: AsyncSession, *, customer_ids: list[uuid.UUID]) -> None:
    """Nothing to erase: touchpoint health and alerts hold no customer ids."""
