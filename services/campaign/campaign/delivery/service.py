"""The delivery ledger's rules: enqueue, pause/cancel, send-time policy on claim, outcomes, responses.

Each (campaign, step, customer, occurrence) has one ledger row whose id is the message id. A row is
marked ``sent`` only after the channel accepted it; a worker that dies mid-batch leaves its rows
``sending`` with a lease, and whoever claims them after the lease re-sends them with the same message
id (receivers dedupe on it). So a message is never skipped, and a receiver sees it at most once.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from campaign.audience import service as audience_service
from campaign.audience.models import AudienceMember
from campaign.channels.types import Channel, OutcomeKind, Purpose, SendOutcome
from campaign.database import metadata
from campaign.delivery import policy, repository
from campaign.delivery.errors import MessageNotFound, SuppressionNotFound
from campaign.delivery.models import Delivery, Suppression
from campaign.delivery.repository import ClaimedRow
from campaign.delivery.schemas import MessagePage, MessagePublic
from campaign.settings import CampaignSettings
from crm_common.events.outbox import record_events
from crm_common.pagination import decode_cursor, encode_cursor

PRODUCER = "campaign"
Event = tuple[str, str | None, dict[str, Any]]
RESPONSE_KINDS = ("delivered", "opened", "clicked", "bounced", "complained", "unsubscribed")


@dataclass(frozen=True, slots=True)
class SendRequest:
    """One message to enqueue: the ledger key (campaign, step, customer, occurrence) and what to send."""

    campaign_id: uuid.UUID
    step_id: str
    variant_key: str
    customer_id: uuid.UUID
    channel: Channel
    purpose: str
    content_id: uuid.UUID
    occurrence: int = 0
    not_before_at: datetime | None = None


@dataclass
class VariantStats:
    step_id: str
    variant_key: str
    sent: int = 0
    delivered: int = 0
    opened: int = 0
    clicked: int = 0
    bounced: int = 0
    complained: int = 0
    unsubscribed: int = 0
    suppressed: int = 0
    failed: int = 0
    pending: int = 0


def _event(row: Delivery | ClaimedRow, kind: str, occurred_at: datetime, **extra: Any) -> Event:
    payload: dict[str, Any] = {
        "message_id": str(row.id),
        "campaign_id": str(row.campaign_id),
        "step_id": row.step_id,
        "variant_key": row.variant_key,
        "customer_id": str(row.customer_id),
        "channel": row.channel,
        "purpose": row.purpose,
        "occurred_at": occurred_at.isoformat(),
        **{key: value for key, value in extra.items() if value is not None},
    }
    return (f"message.{kind}", str(row.id), payload)


async def _publish(session: AsyncSession, events: list[Event]) -> None:
    if events:
        await record_events(session, metadata, producer=PRODUCER, events=list(events))


# --- the contract other domains call -------------------------------------------------------------


async def enqueue(session: AsyncSession, sends: Sequence[SendRequest]) -> int:
    """Add ledger rows for ``sends`` in one statement; a key already in the ledger adds nothing.
    Returns how many rows were new. Workers pick them up once ``not_before_at`` (default now) passes."""
    if not sends:
        return 0
    now = datetime.now(UTC)
    rows = [
        {
            "id": uuid.uuid4(),
            "campaign_id": send.campaign_id,
            "step_id": send.step_id,
            "variant_key": send.variant_key,
            "customer_id": send.customer_id,
            "occurrence": send.occurrence,
            "channel": str(send.channel),
            "purpose": str(send.purpose),
            "content_id": send.content_id,
            "not_before_at": send.not_before_at or now,
        }
        for send in sends
    ]
    return await repository.insert_deliveries(session, rows)


async def pause_campaign(session: AsyncSession, campaign_id: uuid.UUID) -> None:
    """Workers stop claiming the campaign's rows; rows already claimed finish."""
    if await repository.campaign_state(session, campaign_id) != "cancelled":
        await repository.set_campaign_state(session, campaign_id, "paused")


async def resume_campaign(session: AsyncSession, campaign_id: uuid.UUID) -> None:
    """Workers claim the campaign's rows again (a cancelled campaign stays cancelled)."""
    if await repository.campaign_state(session, campaign_id) != "cancelled":
        await repository.set_campaign_state(session, campaign_id, "active")


async def cancel_campaign(session: AsyncSession, campaign_id: uuid.UUID) -> int:
    """Mark the campaign's pending and held rows ``cancelled`` and claim none of it again; how many."""
    await repository.set_campaign_state(session, campaign_id, "cancelled")
    return await repository.cancel_pending(session, campaign_id=campaign_id)


async def record_response(
    session: AsyncSession,
    message_id: uuid.UUID,
    kind: str,
    *,
    occurred_at: datetime,
    url: str | None = None,
    reason: str | None = None,
) -> bool:
    """Record what happened to a sent message (``delivered``, ``opened``, ``clicked``, ``bounced``,
    ``complained``, ``unsubscribed``) and publish ``message.<kind>``. Idempotent per (message, kind),
    clicks per (message, url): a repeat returns False and changes nothing; an unknown message id also
    returns False. Hard bounces (``reason`` not starting with ``soft``), complaints and unsubscribes
    add suppressions."""
    if kind not in RESPONSE_KINDS:
        raise ValueError(f"unknown response kind {kind!r}")
    message = await repository.get_delivery(session, message_id)
    if message is None:
        return False
    added = await repository.insert_response(
        session,
        {
            "message_id": message.id,
            "campaign_id": message.campaign_id,
            "step_id": message.step_id,
            "variant_key": message.variant_key,
            "customer_id": message.customer_id,
            "kind": kind,
            "url": (url or "") if kind == "clicked" else "",
            "reason": reason,
            "occurred_at": occurred_at,
        },
    )
    if not added:
        return False
    extra: dict[str, Any] = {"url": url} if kind == "clicked" else {"reason": reason}
    await _publish(session, [_event(message, kind, occurred_at, **extra)])
    if kind == "bounced" and not (reason or "").lower().startswith("soft"):
        await _suppress_address_of(session, message, "hard_bounce")
    elif kind == "complained":
        await add_suppression(session, message.customer_id, message.channel, "complaint")
    elif kind == "unsubscribed":
        await add_suppression(
            session, message.customer_id, message.channel, "unsubscribe", purpose=message.purpose
        )
    return True


async def _suppress_address_of(session: AsyncSession, message: Delivery, reason: str) -> None:
    members = await audience_service.get_members(session, [message.customer_id])
    address = None
    if members:
        address = policy.address_for(message.channel, message.customer_id, members[0].email, members[0].phone)
    if address is None or address == str(message.customer_id):
        await add_suppression(session, message.customer_id, message.channel, reason)
    else:
        await add_suppression(session, address, message.channel, reason)


_DEFAULT_PURPOSE = {"hard_bounce": None, "complaint": "marketing", "unsubscribe": "marketing", "manual": None}


def _suppression_row(
    target: str | uuid.UUID, channel: str | None, reason: str, purpose: str | None
) -> dict[str, Any]:
    customer_id = target if isinstance(target, uuid.UUID) else None
    address = policy.normalize_address(target) if isinstance(target, str) else None
    who = f"c:{customer_id}" if customer_id else f"a:{address}"
    return {
        "suppression_key": f"{channel or '*'}|{who}|{purpose or '*'}",
        "channel": channel,
        "address": address,
        "customer_id": customer_id,
        "purpose": purpose,
        "reason": reason,
    }


async def add_suppression(
    session: AsyncSession,
    address_or_customer: str | uuid.UUID,
    channel: str | None,
    reason: str,
    *,
    purpose: str | None = "default",
) -> Suppression:
    """Stop sending to an address (str: email/phone) or a customer (UUID) on ``channel`` (None: all).
    ``purpose`` defaults by reason: hard bounces and manual entries stop every purpose, complaints and
    unsubscribes stop marketing. Honoured at send time; adding the same one twice keeps one row."""
    wanted_purpose = _DEFAULT_PURPOSE.get(reason) if purpose == "default" else purpose
    row = _suppression_row(address_or_customer, channel, reason, wanted_purpose)
    await repository.insert_suppressions(session, [row])
    found = await repository.list_suppressions(
        session, after=None, limit=50, customer_id=row["customer_id"], address=row["address"]
    )
    return next(item for item in found if item.suppression_key == row["suppression_key"])


async def list_suppressions(
    session: AsyncSession,
    *,
    after: int | None,
    limit: int,
    customer_id: uuid.UUID | None = None,
    address: str | None = None,
) -> list[Suppression]:
    normalized = policy.normalize_address(address) if address else None
    return await repository.list_suppressions(
        session, after=after, limit=limit, customer_id=customer_id, address=normalized
    )


async def remove_suppression(session: AsyncSession, suppression_id: int) -> None:
    if not await repository.delete_suppression(session, suppression_id):
        raise SuppressionNotFound(f"No suppression {suppression_id}.")


async def responded(
    session: AsyncSession,
    campaign_id: uuid.UUID,
    step_id: str,
    customer_ids: Sequence[uuid.UUID],
    kinds: Sequence[str],
    since: datetime,
) -> set[uuid.UUID]:
    """Which of ``customer_ids`` responded (any of ``kinds``) to the step's message since ``since``."""
    if not customer_ids or not kinds:
        return set()
    return await repository.responded(session, campaign_id, step_id, customer_ids, kinds, since)


async def variant_stats(session: AsyncSession, campaign_id: uuid.UUID) -> list[VariantStats]:
    """Per step and variant: messages sent, suppressed, failed, pending, and distinct messages per
    response kind."""
    stats: dict[tuple[str, str], VariantStats] = {}

    def of(step_id: str, variant_key: str) -> VariantStats:
        return stats.setdefault((step_id, variant_key), VariantStats(step_id, variant_key))

    for step_id, variant_key, status, count in (
        tuple(r) for r in await repository.status_counts(session, campaign_id)
    ):
        entry = of(step_id, variant_key)
        if status in ("sent", "suppressed", "failed"):
            setattr(entry, status, getattr(entry, status) + count)
        elif status in ("pending", "held", "sending"):
            entry.pending += count
    for step_id, variant_key, kind, count in (
        tuple(r) for r in await repository.response_counts(session, campaign_id)
    ):
        setattr(of(step_id, variant_key), kind, count)
    return sorted(stats.values(), key=lambda s: (s.step_id, s.variant_key))


def _public(message: Delivery, responses: Sequence[str] = ()) -> MessagePublic:
    public = MessagePublic.model_validate(message)
    public.responses = list(responses)
    return public


async def message_history(
    session: AsyncSession, customer_id: uuid.UUID, *, after: str | None, limit: int
) -> MessagePage:
    """The customer's messages, newest first, keyset-paginated (``after`` is a cursor from a page)."""
    key = decode_cursor(after)
    position = None
    if key is not None:
        try:
            position = (datetime.fromisoformat(str(key["created_at"])), uuid.UUID(str(key["id"])))
        except (KeyError, ValueError):
            decode_cursor("!")  # the common 422 naming query.after
    rows = await repository.history(session, customer_id, after=position, limit=limit + 1)
    return _history_page(rows, limit)


async def first_history_pages(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID], *, limit: int
) -> dict[uuid.UUID, MessagePage]:
    """The first page of each customer's message history (what ``message_history`` gives without
    ``after``), in one query; the cursors continue there. Every requested customer is a key."""
    unique_ids = list(dict.fromkeys(customer_ids))
    rows_of: dict[uuid.UUID, list[Delivery]] = {customer_id: [] for customer_id in unique_ids}
    for row in await repository.first_pages(session, unique_ids, limit=limit + 1):
        rows_of[row.customer_id].append(row)
    return {customer_id: _history_page(rows, limit) for customer_id, rows in rows_of.items()}


def _history_page(rows: Sequence[Delivery], limit: int) -> MessagePage:
    """A page from up to ``limit + 1`` rows, newest first: one more than the page means a next one."""
    page, more = rows[:limit], len(rows) > limit
    cursor = (
        encode_cursor({"created_at": page[-1].created_at.isoformat(), "id": str(page[-1].id)})
        if more
        else None
    )
    return MessagePage(items=[_public(row) for row in page], next_cursor=cursor)


async def get_message(session: AsyncSession, message_id: uuid.UUID) -> MessagePublic:
    """One message with the response kinds recorded for it; 404 when unknown."""
    message = await repository.get_delivery(session, message_id)
    if message is None:
        raise MessageNotFound(f"No message {message_id}.")
    return _public(message, await repository.response_kinds(session, message_id))


async def forget_customers(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> None:
    """Erasure: cancel the customers' pending messages and delete the suppressions keyed by them.
    Ledger rows keep only ids (no address or content is stored in them)."""
    await repository.cancel_pending(session, customer_ids=customer_ids)
    await repository.delete_customer_suppressions(session, customer_ids)


async def move_customer(session: AsyncSession, merged_id: uuid.UUID, survivor_id: uuid.UUID) -> None:
    """Merge: pending messages of ``merged_id`` go to ``survivor_id`` (or are cancelled when the
    survivor already has that ledger key)."""
    await repository.move_pending(session, merged_id, survivor_id)


# --- the worker's steps ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendTimePolicy:
    caps: list[policy.FrequencyCap]
    quiet: policy.QuietHours
    default_time_zone: str

    @classmethod
    def from_settings(cls, settings: CampaignSettings) -> SendTimePolicy:
        return cls(
            caps=policy.parse_caps(settings.delivery_frequency_caps),
            quiet=policy.QuietHours.parse(
                settings.delivery_quiet_hours_start,
                settings.delivery_quiet_hours_end,
                settings.delivery_quiet_release_minutes,
            ),
            default_time_zone=settings.default_time_zone,
        )

    @property
    def longest_window(self) -> timedelta:
        return max((cap.window for cap in self.caps), default=timedelta(0))


@dataclass(frozen=True, slots=True)
class ReadyMessage:
    """A claimed row policy let go, with the customer's read-model row and the address to send to."""

    row: ClaimedRow
    member: AudienceMember
    address: str


@dataclass
class ClaimedBatch:
    ready: list[ReadyMessage] = field(default_factory=list)
    held: int = 0
    suppressed: int = 0


async def claim_batch(
    session: AsyncSession,
    send_policy: SendTimePolicy,
    *,
    owner: str,
    now: datetime,
    lease: timedelta,
    limit: int,
) -> ClaimedBatch:
    """Claim due rows (SKIP LOCKED, with a lease) and decide each by send-time policy, under the
    customers' locks, in the caller's transaction. Commit it before sending: the lease must be durable
    before anything leaves."""
    lease_until = now + lease
    rows = await repository.claim_expired_leases(
        session, owner=owner, now=now, lease_until=lease_until, limit=limit
    )
    if len(rows) < limit:
        rows += await repository.claim_due(session, now=now, limit=limit - len(rows))
    batch = ClaimedBatch()
    if not rows:
        return batch
    customer_ids = list({row.customer_id for row in rows})
    await repository.lock_customers(session, customer_ids)
    members = {
        member.customer_id: member for member in await audience_service.get_members(session, customer_ids)
    }
    addresses: dict[uuid.UUID, str | None] = {}
    for row in rows:
        member = members.get(row.customer_id)
        addresses[row.id] = (
            policy.address_for(row.channel, row.customer_id, member.email, member.phone) if member else None
        )
    # The suppressions naming any of these customers or addresses; is_suppressed matches them per row.
    wanted = list({policy.normalize_address(a) for a in addresses.values() if a})
    suppressions = await repository.suppressions_for(session, customer_ids, wanted)
    marketing_customers = list({row.customer_id for row in rows if row.purpose == Purpose.MARKETING})
    counted = (
        await repository.counted_sends(session, marketing_customers, now - send_policy.longest_window)
        if marketing_customers and send_policy.caps
        else {}
    )

    ids: list[uuid.UUID] = []
    statuses: list[str] = []
    reasons: list[str | None] = []
    not_before: list[datetime | None] = []
    cap_counted: list[datetime | None] = []
    events: list[Event] = []

    def decide(row: ClaimedRow, status: str, reason: str | None = None, at: datetime | None = None) -> None:
        ids.append(row.id)
        statuses.append(status)
        reasons.append(reason)
        not_before.append(at)
        cap_counted.append(now if status == "sending" and row.purpose == Purpose.MARKETING else None)

    for row in rows:
        member = members.get(row.customer_id)
        address = addresses[row.id]
        if row.reclaimed and member is not None and address is not None:
            batch.ready.append(ReadyMessage(row, member, address))  # policy let it go before the crash
            continue
        verdict: str | None = None
        if member is None or address is None:
            verdict = policy.SuppressReason.NO_ADDRESS
        elif not policy.consent_allows(row.channel, row.purpose, member.consents):
            verdict = policy.SuppressReason.NO_CONSENT
        elif suppressions and policy.is_suppressed(
            suppressions,
            channel=row.channel,
            purpose=row.purpose,
            customer_id=row.customer_id,
            address=address,
        ):
            verdict = policy.SuppressReason.SUPPRESSED_ADDRESS
        elif row.purpose == Purpose.MARKETING:
            zone = policy.zone_of(member.time_zone, send_policy.default_time_zone)
            release_at = policy.quiet_release_at(now, zone, send_policy.quiet, row.id)
            if release_at is not None:
                decide(row, "held", None, release_at)
                batch.held += 1
                continue
            sends = counted.setdefault(row.customer_id, [])
            if policy.over_cap(send_policy.caps, sends, channel=row.channel, now=now):
                verdict = policy.SuppressReason.FREQUENCY_CAP
            else:
                sends.append(policy.CountedSend(row.channel, now))  # later rows of this batch see it
        if verdict is not None:
            decide(row, "suppressed", str(verdict))
            events.append(_event(row, "suppressed", now, reason=str(verdict)))
            batch.suppressed += 1
            continue
        assert member is not None and address is not None
        decide(row, "sending")
        batch.ready.append(ReadyMessage(row, member, address))
    await repository.apply_decisions(
        session,
        owner=owner,
        lease_until=lease_until,
        now=now,
        ids=ids,
        statuses=statuses,
        reasons=reasons,
        not_before=not_before,
        cap_counted=cap_counted,
    )
    await _publish(session, events)
    return batch


@dataclass(frozen=True, slots=True)
class Backoff:
    base_seconds: float
    max_seconds: float
    max_attempts: int

    @classmethod
    def from_settings(cls, settings: CampaignSettings) -> Backoff:
        return cls(
            settings.delivery_backoff_base_seconds,
            settings.delivery_backoff_max_seconds,
            settings.delivery_max_attempts,
        )

    def delay(self, attempts: int, retry_after: float | None = None) -> timedelta:
        """Exponential in the attempts made so far, with +-50% jitter (so retries of one outage do not
        come back in lockstep), never sooner than the receiver's Retry-After."""
        exponential = min(self.max_seconds, self.base_seconds * 2 ** max(0, attempts - 1))
        seconds = exponential * random.uniform(0.5, 1.5)  # noqa: S311  (jitter, not security)
        return timedelta(seconds=max(seconds, retry_after or 0.0))


async def record_send_outcomes(
    session: AsyncSession,
    *,
    owner: str,
    now: datetime,
    backoff: Backoff,
    results: Sequence[tuple[ReadyMessage, SendOutcome | str]],
) -> dict[str, int]:
    """Mark a sent batch in one statement: sent, back to pending with backoff (transient), failed
    (permanent, or out of attempts; the address is suppressed when permanent), or suppressed
    (``template_error``: given as a str outcome). Events go to the outbox in the same transaction."""
    ids: list[uuid.UUID] = []
    statuses: list[str] = []
    reasons: list[str | None] = []
    not_before: list[datetime | None] = []
    errors: list[str | None] = []
    pending_events: dict[uuid.UUID, Event] = {}
    permanent: list[ReadyMessage] = []
    for ready, outcome in results:
        row = ready.row
        ids.append(row.id)
        if isinstance(outcome, str):
            statuses.append("suppressed")
            reasons.append(policy.SuppressReason.TEMPLATE_ERROR.value)
            not_before.append(None)
            errors.append(outcome[:2000])
            pending_events[row.id] = _event(row, "suppressed", now, reason="template_error")
        elif outcome.kind == OutcomeKind.SENT:
            statuses.append("sent")
            reasons.append(None)
            not_before.append(None)
            errors.append(None)
            pending_events[row.id] = _event(row, "sent", now)
        elif outcome.kind == OutcomeKind.TRANSIENT and row.attempts < backoff.max_attempts:
            statuses.append("pending")
            reasons.append(None)
            not_before.append(now + backoff.delay(row.attempts, outcome.retry_after_seconds))
            errors.append((outcome.detail or "transient failure")[:2000])
        else:
            reason = "permanent" if outcome.kind == OutcomeKind.PERMANENT else "max_attempts"
            statuses.append("failed")
            reasons.append(reason)
            not_before.append(None)
            errors.append((outcome.detail or reason)[:2000])
            pending_events[row.id] = _event(row, "failed", now, reason=reason)
            if outcome.kind == OutcomeKind.PERMANENT:
                permanent.append(ready)
    changed = await repository.record_outcomes(
        session,
        owner=owner,
        now=now,
        ids=ids,
        statuses=statuses,
        reasons=reasons,
        not_before=not_before,
        errors=errors,
    )
    await _publish(session, [event for message_id, event in pending_events.items() if message_id in changed])
    suppressions = [
        _suppression_row(
            ready.address if ready.address != str(ready.row.customer_id) else ready.row.customer_id,
            ready.row.channel,
            "hard_bounce",
            None,
        )
        for ready in permanent
        if ready.row.id in changed
    ]
    await repository.insert_suppressions(session, suppressions)
    counts: dict[str, int] = {}
    for message_id, status in zip(ids, statuses, strict=True):
        if message_id in changed:
            counts[status] = counts.get(status, 0) + 1
    return counts


async def extend_leases(
    session: AsyncSession, owner: str, rows: Sequence[ClaimedRow], lease_until: datetime
) -> None:
    """Renew this worker's lease on rows it is still sending."""
    await repository.extend_leases(session, owner, [row.id for row in rows], lease_until)


async def release_unsent(session: AsyncSession, owner: str, rows: Sequence[ClaimedRow]) -> None:
    """Give rows back to the ledger unsent (the worker is stopping before sending them)."""
    await repository.release_leases(session, owner, [row.id for row in rows])
