"""When a ``wait_until`` step lets a customer go on: the next start of a local-time window."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone_or_default(name: str | None, default: str) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else ZoneInfo(default)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(default)


def _in_window(local: time, start: time, end: time) -> bool:
    if start <= end:
        return start <= local < end
    return local >= start or local < end  # a window across midnight, e.g. 22:00-02:00


def _local_instant(day: datetime, at: time, zone: ZoneInfo) -> datetime:
    """``at`` on ``day``'s date in ``zone`` as a UTC instant. An ambiguous wall time (the repeated hour
    of a fall-back night) takes its first occurrence; one skipped by a spring-forward jump (02:30) maps
    with the offset from before the jump (PEP 495, fold=0), i.e. as many minutes after the jump."""
    return datetime.combine(day.date(), at, tzinfo=zone).astimezone(UTC)


def next_window_start(now: datetime, start: time, end: time, zone: ZoneInfo) -> datetime:
    """``now`` if the customer's local time is inside [start, end), else the next local ``start``,
    as a UTC instant (DST-aware: the same wall-clock time, whatever the offset that day)."""
    local_now = now.astimezone(zone)
    if _in_window(local_now.time().replace(tzinfo=None), start, end):
        return now
    for days in range(0, 3):
        candidate = _local_instant(local_now + timedelta(days=days), start, zone)
        if candidate > now:
            return candidate
    raise AssertionError("a daily window always starts within two days")  # pragma: no cover
