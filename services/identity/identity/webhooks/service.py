"""Partner webhooks in: verified and stored before the 202, then mapped and resolved by the worker.

Receiving checks the Standard Webhooks signature on the raw body before anything else; an unknown
source is checked against a secret nobody has, so it fails exactly like a bad signature (sources cannot
be probed). A delivery is keyed by (source, webhook-id): a repeat is answered again, stored and
processed once.

Processing (see jobs.py for the transactions) maps the payload with the source's mapping and calls
the resolution engine in the transaction that marks the delivery done. A payload the mapping or the
engine refuses is dead-lettered at once with the reason; any other failure is retried with capped,
jittered exponential backoff until ``webhook_max_attempts``, then dead-lettered.
"""

from __future__ import annotations

import base64
import json
import math
import random
import re
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.errors import FieldError, ProblemError, Unauthorized, ValidationFailed
from crm_common.webhooks import verify_signed_webhook
from identity.resolution import service as resolution
from identity.resolution.schemas import IdentifyRequest
from identity.settings import IdentitySettings
from identity.webhooks import repository
from identity.webhooks.errors import DeliveryNotDead, DeliveryNotFound, MalformedWebhookBody, MappingError
from identity.webhooks.mappings import MappingContext, map_payload
from identity.webhooks.models import WAITING_STATUSES, DeliveryStatus, WebhookDelivery
from identity.webhooks.repository import Claim
from identity.webhooks.schemas import WEBHOOK_ID_PATTERN, WebhookAccepted

log = structlog.get_logger(__name__)

# Unknown sources are verified against this: a random key of the process, which no partner can sign with.
_UNKNOWN_SOURCE_SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
_WEBHOOK_ID = re.compile(WEBHOOK_ID_PATTERN)
# PostgreSQL cannot keep NUL or unpaired surrogates in jsonb text.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_MAX_ERROR_CHARS = 2000


# -- receiving -----------------------------------------------------------------------------------


async def receive(
    session: AsyncSession, settings: IdentitySettings, source: str, body: bytes, headers: Mapping[str, str]
) -> WebhookAccepted:
    """Verify a partner's webhook and store it once; raises 401 (signature), 400/422 (body or id)."""
    # One value per header, the one the signature is checked against (a repeated header's last).
    signed = {name.lower(): value for name, value in headers.items()}
    configured = settings.webhook_sources.get(source)
    _verify(configured.secret if configured is not None else _UNKNOWN_SOURCE_SECRET, body, signed)
    if configured is None:  # cannot happen (nobody signs with the unknown-source secret); never store it
        raise Unauthorized("Webhook signature rejected: No matching signature found")
    webhook_id = _webhook_id(signed)
    payload = _parse(body)
    inserted = await repository.insert_delivery(session, source=source, webhook_id=webhook_id, body=payload)
    if inserted:
        status = DeliveryStatus.PENDING
    else:
        existing = await repository.get(session, source, webhook_id)
        assert existing is not None  # rows are never deleted
        status = DeliveryStatus(existing.status)
    log.info("webhook_received", source=source, webhook_id=webhook_id, duplicate=not inserted)
    return WebhookAccepted(source=source, webhook_id=webhook_id, duplicate=not inserted, status=status)


def _verify(secret: str, body: bytes, headers: dict[str, str]) -> None:
    """Signature first; the body is parsed only once it is known to come from the source."""
    verify_signed_webhook(secret, body, headers)


def _webhook_id(headers: dict[str, str]) -> str:
    webhook_id = headers.get("webhook-id", "")
    if not _WEBHOOK_ID.fullmatch(webhook_id):
        raise ValidationFailed(
            "The webhook-id must be 1-200 printable ASCII characters without spaces or '/'.",
            errors=[
                FieldError(field="header.webhook-id", message="invalid webhook id", code="webhook_id_invalid")
            ],
        )
    return webhook_id


def _finite_number(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"number out of range: {text[:40]}")
    return number


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body, parse_float=_finite_number, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        raise MalformedWebhookBody("The body is signed correctly but is not valid JSON.") from exc
    if not isinstance(payload, dict):
        raise ValidationFailed(
            "A webhook body must be a JSON object.",
            errors=[FieldError(field="body", message="must be a JSON object", code="object_type")],
        )
    if _has_unstorable_text(payload):
        raise ValidationFailed(
            "The body holds a NUL character or an unpaired surrogate, which cannot be stored.",
            errors=[FieldError(field="body", message="unstorable character", code="string_unstorable")],
        )
    return payload


def _has_unstorable_text(payload: dict[str, Any]) -> bool:
    # Iterative: json.loads accepts nesting deep enough to exhaust the stack of a recursive walk.
    pending: list[Any] = [payload]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            pending.extend(node.keys())
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
        elif isinstance(node, str) and _UNSTORABLE.search(node):
            return True
    return False


# -- processing ----------------------------------------------------------------------------------


def retry_delay(attempts: int, settings: IdentitySettings) -> timedelta:
    """How long to wait after failed attempt number ``attempts``.

    Exponential from the base, capped, and jittered to between half and all of it, so deliveries that
    failed together (the database was away) do not come back together.
    """
    ceiling = min(
        settings.webhook_backoff_cap_seconds,
        settings.webhook_backoff_base_seconds * 2 ** min(attempts - 1, 62),
    )
    return timedelta(seconds=ceiling * (0.5 + 0.5 * random.random()))  # noqa: S311 - jitter, not a secret


async def claim_next(
    session: AsyncSession, settings: IdentitySettings, *, now: datetime, lease: timedelta
) -> Claim | None:
    """Claim the delivery due first for one attempt (counted now), or None when nothing is due.

    The attempt is counted and the delivery kept out of other workers' reach for ``lease`` in this
    short transaction, so an attempt that never finishes (the worker is killed) still counts: the
    delivery comes back, as it was, after the lease, and one that keeps killing workers ends dead.
    """
    claim = await repository.claim_due(session, now=now, lease_until=now + lease)
    if claim is not None and claim.attempts > settings.webhook_max_attempts:
        # Only an attempt that never finished leaves a delivery waiting with every attempt used.
        reason = (
            f"gave up after {settings.webhook_max_attempts} attempt(s): "
            "the last attempt did not finish (the worker stopped or crashed)"
        )
        await repository.mark_dead(
            session, claim.source, claim.webhook_id, error=reason, attempts=settings.webhook_max_attempts
        )
        log.warning("webhook_dead_lettered", source=claim.source, webhook_id=claim.webhook_id, reason=reason)
    return claim


async def process_claimed(
    session: AsyncSession, settings: IdentitySettings, claim: Claim, *, now: datetime
) -> None:
    """Make the claimed attempt: map, identify and mark the delivery, all in the caller's transaction."""
    delivery = await repository.lock_claimed(session, claim)
    if delivery is None:  # dead-lettered by the claim, or (after an expired lease) handled by another worker
        return
    try:
        request = _map(delivery, settings)
    except MappingError as exc:
        await _dead(session, claim, f"mapping failed: {exc.reason}")
        return
    try:
        # A savepoint, so that a failed attempt leaves nothing behind but its record of failure.
        async with session.begin_nested():
            (outcome,) = await resolution.identify(
                session, [request], settings, actor=f"webhook:{claim.source}"
            )
    except Exception as exc:
        await _failed(session, settings, claim, f"{type(exc).__name__}: {exc}", now=now)
        return
    if isinstance(outcome, ProblemError):
        if outcome.status < 500:  # the engine refused this record: it would refuse it again
            await _dead(session, claim, f"identify refused the record: {_problem_text(outcome)}")
        else:
            await _failed(session, settings, claim, _problem_text(outcome), now=now)
        return
    await repository.mark_done(
        session, claim.source, claim.webhook_id, result=outcome.model_dump(mode="json")
    )
    log.info(
        "webhook_processed",
        source=claim.source,
        webhook_id=claim.webhook_id,
        customer_id=str(outcome.customer_id),
        outcome=outcome.outcome.value,
    )


def _map(delivery: WebhookDelivery, settings: IdentitySettings) -> IdentifyRequest:
    source = settings.webhook_sources.get(delivery.source)
    if source is None:
        raise MappingError(f"the source {delivery.source!r} is no longer configured")
    context = MappingContext(
        source=delivery.source,
        webhook_id=delivery.webhook_id,
        received_at=delivery.received_at,
        channel=source.channel,
    )
    return map_payload(source.mapping, delivery.body, context)


def _problem_text(problem: ProblemError) -> str:
    details = "; ".join(f"{error.field}: {error.message}" for error in problem.errors or [])
    text = f"{problem.title}: {problem.detail or ''}".rstrip(": ")
    return f"{text} ({details})" if details else text


async def _dead(session: AsyncSession, claim: Claim, reason: str) -> None:
    await repository.mark_dead(session, claim.source, claim.webhook_id, error=reason[:_MAX_ERROR_CHARS])
    log.warning("webhook_dead_lettered", source=claim.source, webhook_id=claim.webhook_id, reason=reason)


async def _failed(
    session: AsyncSession, settings: IdentitySettings, claim: Claim, error: str, *, now: datetime
) -> None:
    if claim.attempts >= settings.webhook_max_attempts:
        await _dead(session, claim, f"gave up after {claim.attempts} attempt(s): {error}")
        return
    next_attempt_at = now + retry_delay(claim.attempts, settings)
    await repository.mark_failed(
        session,
        claim.source,
        claim.webhook_id,
        error=error[:_MAX_ERROR_CHARS],
        next_attempt_at=next_attempt_at,
    )
    log.warning(
        "webhook_attempt_failed",
        source=claim.source,
        webhook_id=claim.webhook_id,
        attempts=claim.attempts,
        next_attempt_at=next_attempt_at.isoformat(),
        error=error,
    )


# -- staff ---------------------------------------------------------------------------------------


async def get_delivery(
    session: AsyncSession, source: str, webhook_id: str
) -> tuple[WebhookDelivery, DeliveryStatus]:
    """A delivery and its status; ``processing`` while a worker holds it."""
    delivery = await repository.get(session, source, webhook_id)
    if delivery is None:
        raise DeliveryNotFound(f"No delivery {webhook_id!r} from source {source!r}.")
    status = DeliveryStatus(delivery.status)
    if status in WAITING_STATUSES and await repository.held_by_a_worker(session, source, webhook_id):
        status = DeliveryStatus.PROCESSING
    return delivery, status


async def retry_dead(session: AsyncSession, source: str, webhook_id: str) -> WebhookDelivery:
    """Requeue a dead-lettered delivery with a fresh set of attempts (its last error stays until then)."""
    delivery = await repository.requeue_dead(session, source, webhook_id)
    if delivery is not None:
        log.info("webhook_requeued", source=source, webhook_id=webhook_id)
        return delivery
    existing = await repository.get(session, source, webhook_id)
    if existing is None:
        raise DeliveryNotFound(f"No delivery {webhook_id!r} from source {source!r}.")
    raise DeliveryNotDead(f"The delivery is {existing.status}; only a dead one can be retried.")


async def dead_letters(
    session: AsyncSession, *, source: str | None, after: tuple[datetime, str, str] | None, limit: int
) -> list[WebhookDelivery]:
    """Dead-lettered deliveries, newest first."""
    return await repository.dead_letters(session, source=source, after=after, limit=limit)
