"""Send-time policy, in one place: consent, address, suppression, quiet hours, frequency caps.

Pure functions over what the worker loaded inside the claim transaction (the ledger row, the customer's
read-model row, their suppressions and their recent capped sends). The worker evaluates them while
holding the customer's lock (see ``repository.lock_customers``), so two workers deciding about the same
customer at the same time see each other's decisions and a cap holds under any concurrency.

Choices, documented because they are policy:

- **Consent**: a ``marketing`` message needs ``consents["<channel>:marketing"] is True``. ``in_app``
  marketing is allowed unless that key is explicitly ``False`` (the inbox is inside our own app, where
  the customer came to us). ``transactional`` and ``service`` need no marketing consent.
- **Suppression**: hard bounces and manual entries stop every purpose; complaints stop marketing;
  an unsubscribe stops the purpose it was given for (marketing by default).
- **Frequency caps** count only ``marketing`` messages, over ROLLING windows ending now (not calendar
  days): a message counts from the moment policy let it go (``cap_counted_at``) unless it then failed.
  A marketing message over a cap is ``suppressed`` with reason ``frequency_cap`` — not held for later:
  a promotion delayed by days is usually worse than one not sent, and holding would let a backlog of
  capped messages burst out as soon as the window frees.
- **Quiet hours** (marketing only) in the customer's own IANA zone (the service default when the
  profile names none or an unknown one): a message due inside them is ``held`` until the end of the
  quiet window in that zone, plus a spread derived from the message id over the release window, so a
  night's backlog is released smoothly rather than in one burst at 08:00.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from campaign.channels.types import Channel, Purpose


class SuppressReason(StrEnum):
    NO_CONSENT = "no_consent"
    NO_ADDRESS = "no_address"
    SUPPRESSED_ADDRESS = "suppressed_address"
    FREQUENCY_CAP = "frequency_cap"
    ERASED = "erased"
    TEMPLATE_ERROR = "template_error"


@dataclass(frozen=True, slots=True)
class FrequencyCap:
    """At most ``max_messages`` marketing messages per customer in any ``window`` (on ``channel``,
    or on all channels when it is None)."""

    channel: str | None
    max_messages: int
    window: timedelta


def parse_caps(raw: Sequence[Mapping[str, Any]]) -> list[FrequencyCap]:
    """The settings' ``delivery_frequency_caps`` as :class:`FrequencyCap` values."""
    return [
        FrequencyCap(
            channel=str(item["channel"]) if item.get("channel") else None,
            max_messages=int(item["max"]),
            window=timedelta(hours=float(item["window_hours"])),
        )
        for item in raw
    ]


@dataclass(frozen=True, slots=True)
class QuietHours:
    start: time
    end: time
    release_window: timedelta

    @classmethod
    def parse(cls, start: str, end: str, release_minutes: float) -> QuietHours:
        return cls(time.fromisoformat(start), time.fromisoformat(end), timedelta(minutes=release_minutes))


@dataclass(frozen=True, slots=True)
class CountedSend:
    """A marketing message that counts against a customer's caps."""

    channel: str
    counted_at: datetime


@dataclass(frozen=True, slots=True)
class SuppressionEntry:
    channel: str | None
    address: str | None
    customer_id: uuid.UUID | None
    purpose: str | None
    reason: str


def zone_of(name: str | None, default: str) -> ZoneInfo:
    """The customer's IANA zone, or the default when none or an unknown one is given."""
    for candidate in (name, default):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def consent_allows(channel: str, purpose: str, consents: Mapping[str, Any] | None) -> bool:
    """Marketing needs an explicit grant (in_app: anything but an explicit refusal); other purposes pass."""
    if purpose != Purpose.MARKETING:
        return True
    granted = (consents or {}).get(f"{channel}:{Purpose.MARKETING.value}")
    if channel == Channel.IN_APP:
        return granted is not False
    return granted is True


def address_for(channel: str, customer_id: uuid.UUID, email: str | None, phone: str | None) -> str | None:
    """Where the message goes: email → the email, sms → the phone, push/webhook/in_app → the customer id."""
    if channel == Channel.EMAIL:
        return email or None
    if channel == Channel.SMS:
        return phone or None
    return str(customer_id)


def normalize_address(address: str) -> str:
    return address.strip().lower()


def is_suppressed(
    entries: Iterable[SuppressionEntry], *, channel: str, purpose: str, customer_id: uuid.UUID, address: str
) -> SuppressionEntry | None:
    """The first suppression that stops this message, if any."""
    normalized = normalize_address(address)
    for entry in entries:
        if entry.channel is not None and entry.channel != channel:
            continue
        if entry.purpose is not None and entry.purpose != purpose:
            continue
        if entry.customer_id == customer_id or (entry.address is not None and entry.address == normalized):
            return entry
    return None


def over_cap(
    caps: Sequence[FrequencyCap], counted: Iterable[CountedSend], *, channel: str, now: datetime
) -> FrequencyCap | None:
    """The first cap one more ``channel`` message now would break, given the customer's counted sends."""
    sends = list(counted)
    for cap in caps:
        if cap.channel is not None and cap.channel != channel:
            continue
        since = now - cap.window
        in_window = sum(
            1
            for send in sends
            if send.counted_at > since and (cap.channel is None or send.channel == cap.channel)
        )
        if in_window + 1 > cap.max_messages:
            return cap
    return None


def spread_offset(message_id: uuid.UUID, window: timedelta) -> timedelta:
    """A deterministic offset in [0, window) from the message id: the same message always gets the same
    slot, and a night's messages are spread evenly over the window."""
    seconds = int(window.total_seconds())
    if seconds <= 0:
        return timedelta(0)
    digest = int.from_bytes(hashlib.blake2b(message_id.bytes, digest_size=8).digest(), "big")
    return timedelta(seconds=digest % seconds)


def _local(day: date, at: time, zone: ZoneInfo) -> datetime:
    # A wall time inside a DST gap does not exist; the UTC round trip moves it forward by the gap.
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC).astimezone(zone)


def quiet_until(now: datetime, zone: ZoneInfo, quiet: QuietHours) -> datetime | None:
    """When the quiet window ``now`` falls in (in ``zone``) ends, as an aware UTC datetime; None when
    ``now`` is outside quiet hours. Works for windows across midnight (21:00-08:00) and within a day."""
    if quiet.start == quiet.end:
        return None
    local = now.astimezone(zone)
    wall = local.time().replace(tzinfo=None)
    today = local.date()
    if quiet.start > quiet.end:  # across midnight
        if wall >= quiet.start:
            end_day = today + timedelta(days=1)
        elif wall < quiet.end:
            end_day = today
        else:
            return None
    else:
        if not (quiet.start <= wall < quiet.end):
            return None
        end_day = today
    return _local(end_day, quiet.end, zone).astimezone(UTC)


def quiet_release_at(
    now: datetime, zone: ZoneInfo, quiet: QuietHours, message_id: uuid.UUID
) -> datetime | None:
    """When a marketing message due ``now`` may go: None if now is fine, else the end of quiet hours in
    the customer's zone plus the message's spread offset."""
    end = quiet_until(now, zone, quiet)
    if end is None:
        return None
    return end + spread_offset(message_id, quiet.release_window)
