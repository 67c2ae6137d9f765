"""Send-time policy as pure functions: quiet hours across zones and DST changes, rolling caps."""

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from campaign.delivery.policy import (
    CountedSend,
    FrequencyCap,
    QuietHours,
    consent_allows,
    over_cap,
    quiet_release_at,
    quiet_until,
    spread_offset,
    zone_of,
)

QUIET = QuietHours.parse("21:00", "08:00", 60)
NEW_YORK = ZoneInfo("America/New_York")


def test_quiet_hours_end_at_local_eight_on_the_night_new_york_falls_back() -> None:
    # 2026-11-01 01:30 EDT (05:30 UTC); clocks go back at 02:00, so 08:00 that morning is EST = 13:00 UTC.
    assert quiet_until(datetime(2026, 11, 1, 5, 30, tzinfo=UTC), NEW_YORK, QUIET) == datetime(
        2026, 11, 1, 13, 0, tzinfo=UTC
    )
    # The evening before (22:00 EDT = 02:00 UTC on the 1st) ends at the same instant.
    assert quiet_until(datetime(2026, 11, 1, 2, 0, tzinfo=UTC), NEW_YORK, QUIET) == datetime(
        2026, 11, 1, 13, 0, tzinfo=UTC
    )


def test_quiet_hours_end_at_local_eight_on_the_night_new_york_springs_forward() -> None:
    # 2027-03-13 21:30 EST (02:30 UTC on the 14th); at 02:00 clocks jump to 03:00, 08:00 EDT = 12:00 UTC.
    assert quiet_until(datetime(2027, 3, 14, 2, 30, tzinfo=UTC), NEW_YORK, QUIET) == datetime(
        2027, 3, 14, 12, 0, tzinfo=UTC
    )
    # Inside the skipped hour's neighbourhood: 01:59 EST = 06:59 UTC.
    assert quiet_until(datetime(2027, 3, 14, 6, 59, tzinfo=UTC), NEW_YORK, QUIET) == datetime(
        2027, 3, 14, 12, 0, tzinfo=UTC
    )


def test_a_quiet_window_whose_end_falls_into_a_dst_gap_ends_after_the_gap() -> None:
    quiet = QuietHours.parse("23:00", "02:30", 0)  # 02:30 does not exist on 2027-03-14 in New York
    end = quiet_until(datetime(2027, 3, 14, 5, 0, tzinfo=UTC), NEW_YORK, quiet)  # 00:00 EST
    assert end == datetime(2027, 3, 14, 7, 30, tzinfo=UTC)  # 03:30 EDT, the same elapsed time


def test_quiet_hours_are_judged_in_each_customers_own_zone() -> None:
    now = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)  # 22:00 in Seoul, 08:00 in New York, 14:00 in Berlin
    assert quiet_until(now, ZoneInfo("Asia/Seoul"), QUIET) == datetime(2026, 12, 1, 23, 0, tzinfo=UTC)
    assert quiet_until(now, NEW_YORK, QUIET) is None
    assert quiet_until(now - timedelta(minutes=1), NEW_YORK, QUIET) == now
    assert quiet_until(now, ZoneInfo("Europe/Berlin"), QUIET) is None


def test_held_messages_are_spread_deterministically_over_the_release_window() -> None:
    ids = [uuid.uuid4() for _ in range(2000)]
    offsets = [spread_offset(message_id, timedelta(minutes=60)) for message_id in ids]
    assert all(timedelta(0) <= offset < timedelta(minutes=60) for offset in offsets)
    assert offsets == [spread_offset(message_id, timedelta(minutes=60)) for message_id in ids]
    per_quarter = [
        sum(1 for o in offsets if q * 15 <= o.total_seconds() / 60 < (q + 1) * 15) for q in range(4)
    ]
    assert min(per_quarter) > 400  # roughly even, not a burst at the start
    now = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    release = quiet_release_at(now, NEW_YORK, QUIET, ids[0])
    assert release == datetime(2026, 11, 1, 13, 0, tzinfo=UTC) + offsets[0]


def test_an_unknown_or_missing_zone_falls_back_to_the_default() -> None:
    assert zone_of("Mars/Olympus", "Asia/Seoul") == ZoneInfo("Asia/Seoul")
    assert zone_of(None, "Asia/Seoul") == ZoneInfo("Asia/Seoul")


def test_caps_count_over_rolling_windows_not_calendar_days() -> None:
    caps = [FrequencyCap(None, 3, timedelta(hours=24)), FrequencyCap("email", 2, timedelta(hours=24))]
    now = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
    # Two emails late yesterday (calendar-wise another day) still count within 24 rolling hours.
    sends = [CountedSend("email", now - timedelta(hours=3)), CountedSend("email", now - timedelta(hours=2))]
    assert over_cap(caps, sends, channel="email", now=now) == caps[1]
    assert over_cap(caps, sends, channel="sms", now=now) is None
    sends.append(CountedSend("sms", now - timedelta(hours=1)))
    assert over_cap(caps, sends, channel="push", now=now) == caps[0]
    # 24 hours after the first email, it no longer counts.
    later = now + timedelta(hours=21, minutes=1)
    assert over_cap(caps, sends, channel="email", now=later) is None


def test_consent_rules_per_purpose_and_channel() -> None:
    assert consent_allows("email", "marketing", {"email:marketing": True})
    assert not consent_allows("email", "marketing", {"email:marketing": "yes"})
    assert not consent_allows("email", "marketing", {"sms:marketing": True})
    assert consent_allows("email", "transactional", {})
    assert consent_allows("in_app", "marketing", {})
    assert not consent_allows("in_app", "marketing", {"in_app:marketing": False})
