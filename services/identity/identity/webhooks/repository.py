"""All SQL of partner webhooks: the delivery queue (claimed with SKIP LOCKED) and its dead letters."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.db import table_of
from identity.webhooks.models import WAITING_STATUSES, DeliveryStatus, WebhookDelivery

DELIVERY = table_of(WebhookDelivery)


@dataclass(frozen=True)
class Claim:
    """A delivery a worker claimed: ``attempts`` already counts the attempt being made."""

    source: str
    webhook_id: str
    attempts: int


def _key(source: str, webhook_id: str) -> Any:
    return (DELIVERY.c.source == source) & (DELIVERY.c.webhook_id == webhook_id)


async def insert_delivery(
    session: AsyncSession, *, source: str, webhook_id: str, body: dict[str, Any]
) -> bool:
    """Store a new delivery; False when this source already sent this webhook id (nothing changes then)."""
    result = await session.execute(
        pg_insert(DELIVERY)
        .values(source=source, webhook_id=webhook_id, body=body)
        .on_conflict_do_nothing(index_elements=["source", "webhook_id"])
        .returning(DELIVERY.c.webhook_id)
    )
    return result.first() is not None


async def get(session: AsyncSession, source: str, webhook_id: str) -> WebhookDelivery | None:
    return await session.get(WebhookDelivery, (source, webhook_id))


async def held_by_a_worker(session: AsyncSession, source: str, webhook_id: str) -> bool:
    """Whether a worker holds the delivery's row lock right now (it is being processed)."""
    free = await session.execute(
        select(DELIVERY.c.webhook_id)
        .where(_key(source, webhook_id))
        .with_for_update(read=True, skip_locked=True)
    )
    return free.first() is None


async def claim_due(session: AsyncSession, *, now: datetime, lease_until: datetime) -> Claim | None:
    """Claim the delivery due first, counting the attempt and pushing it out of reach until ``lease_until``.

    SKIP LOCKED lets several workers claim side by side without waiting on, or taking, each other's rows.
    """
    due = (
        select(DELIVERY.c.source, DELIVERY.c.webhook_id)
        .where(DELIVERY.c.status.in_([s.value for s in WAITING_STATUSES]), DELIVERY.c.next_attempt_at <= now)
        .order_by(DELIVERY.c.next_attempt_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    row = (
        await session.execute(
            update(DELIVERY)
            .where(tuple_(DELIVERY.c.source, DELIVERY.c.webhook_id).in_(due))
            .values(attempts=DELIVERY.c.attempts + 1, next_attempt_at=lease_until)
            .returning(DELIVERY.c.source, DELIVERY.c.webhook_id, DELIVERY.c.attempts)
        )
    ).first()
    return None if row is None else Claim(source=row.source, webhook_id=row.webhook_id, attempts=row.attempts)


async def lock_claimed(session: AsyncSession, claim: Claim) -> WebhookDelivery | None:
    """The claimed delivery, locked for this transaction; None if it is no longer this claim's to process."""
    result = await session.execute(
        select(WebhookDelivery)
        .where(
            _key(claim.source, claim.webhook_id),
            DELIVERY.c.status.in_([s.value for s in WAITING_STATUSES]),
            DELIVERY.c.attempts == claim.attempts,
        )
        .with_for_update()
    )
    return result.scalars().first()


async def mark_done(session: AsyncSession, source: str, webhook_id: str, *, result: dict[str, Any]) -> None:
    await session.execute(
        update(DELIVERY)
        .where(_key(source, webhook_id))
        .values(status=DeliveryStatus.DONE.value, result=result, processed_at=func.now())
    )


async def mark_failed(
    session: AsyncSession, source: str, webhook_id: str, *, error: str, next_attempt_at: datetime
) -> None:
    await session.execute(
        update(DELIVERY)
        .where(_key(source, webhook_id))
        .values(status=DeliveryStatus.FAILED.value, last_error=error, next_attempt_at=next_attempt_at)
    )


async def mark_dead(
    session: AsyncSession, source: str, webhook_id: str, *, error: str, attempts: int | None = None
) -> None:
    values: dict[str, Any] = {
        "status": DeliveryStatus.DEAD.value,
        "last_error": error,
        "processed_at": func.now(),
    }
    if attempts is not None:
        values["attempts"] = attempts
    await session.execute(update(DELIVERY).where(_key(source, webhook_id)).values(**values))


async def requeue_dead(session: AsyncSession, source: str, webhook_id: str) -> WebhookDelivery | None:
    """Put a dead delivery back in the queue with a fresh set of attempts; None if it is not dead."""
    result = await session.execute(
        update(WebhookDelivery)
        .where(_key(source, webhook_id), DELIVERY.c.status == DeliveryStatus.DEAD.value)
        .values(
            status=DeliveryStatus.PENDING.value, attempts=0, next_attempt_at=func.now(), processed_at=None
        )
        .returning(WebhookDelivery)
        .execution_options(synchronize_session=False)
    )
    return result.scalars().first()


async def dead_letters(
    session: AsyncSession, *, source: str | None, after: tuple[datetime, str, str] | None, limit: int
) -> list[WebhookDelivery]:
    """Dead deliveries, newest first, keyset-paginated on (received_at, source, webhook_id)."""
    position = tuple_(DELIVERY.c.received_at, DELIVERY.c.source, DELIVERY.c.webhook_id)
    statement = select(WebhookDelivery).where(DELIVERY.c.status == DeliveryStatus.DEAD.value)
    if source is not None:
        statement = statement.where(DELIVERY.c.source == source)
    if after is not None:
        statement = statement.where(position < tuple_(*after))
    statement = statement.order_by(
        DELIVERY.c.received_at.desc(), DELIVERY.c.source.desc(), DELIVERY.c.webhook_id.desc()
    ).limit(limit)
    return list((await session.execute(statement)).scalars())
