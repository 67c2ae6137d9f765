"""All SQL of the delivery domain. Batches go through arrays (``unnest``), so one statement carries
thousands of rows with a handful of parameters."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, Row, func, literal, select, text, true
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from campaign.delivery.models import CampaignDeliveryState, Delivery, DeliveryResponse, Suppression
from campaign.delivery.policy import CountedSend, SuppressionEntry
from crm_common.db import table_of


@dataclass(frozen=True, slots=True)
class ClaimedRow:
    """A ledger row a worker holds the lease of. ``reclaimed``: its previous lease expired (a crashed
    or stuck worker), so policy already let it go and it is re-sent with the same message id."""

    id: uuid.UUID
    campaign_id: uuid.UUID
    step_id: str
    variant_key: str
    customer_id: uuid.UUID
    occurrence: int
    channel: str
    purpose: str
    content_id: uuid.UUID
    attempts: int
    reclaimed: bool


def _claimed(row: Row[Any], reclaimed: bool) -> ClaimedRow:
    values: list[Any] = [*row, reclaimed]  # the RETURNING columns, in ClaimedRow's field order
    return ClaimedRow(*values)


async def insert_deliveries(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> int:
    """Add ledger rows in one statement, skipping keys already present; how many were new."""
    if not rows:
        return 0
    result = await session.execute(
        text(
            """
            INSERT INTO delivery (id, campaign_id, step_id, variant_key, customer_id, occurrence, channel,
                                  purpose, content_id, not_before_at)
            SELECT * FROM unnest(
              CAST(:id AS uuid[]), CAST(:campaign_id AS uuid[]), CAST(:step_id AS text[]),
              CAST(:variant_key AS text[]), CAST(:customer_id AS uuid[]), CAST(:occurrence AS int[]),
              CAST(:channel AS text[]), CAST(:purpose AS text[]), CAST(:content_id AS uuid[]),
              CAST(:not_before_at AS timestamptz[]))
            ON CONFLICT (campaign_id, step_id, customer_id, occurrence) DO NOTHING
            """
        ),
        {key: [row[key] for row in rows] for key in rows[0]},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]  # CursorResult of an INSERT


async def claim_expired_leases(
    session: AsyncSession, *, owner: str, now: datetime, lease_until: datetime, limit: int
) -> list[ClaimedRow]:
    """Take over rows whose worker's lease ran out (it crashed or hung mid-batch)."""
    result = await session.execute(
        text(
            """
            UPDATE delivery d SET lease_owner = :owner, lease_expires_at = :lease_until,
                   attempts = d.attempts + 1, updated_at = :now
            WHERE d.id IN (SELECT id FROM delivery WHERE status = 'sending' AND lease_expires_at < :now
                           ORDER BY lease_expires_at LIMIT :limit FOR UPDATE SKIP LOCKED)
            RETURNING d.id, d.campaign_id, d.step_id, d.variant_key, d.customer_id, d.occurrence, d.channel,
                      d.purpose, d.content_id, d.attempts
            """
        ),
        {"owner": owner, "now": now, "lease_until": lease_until, "limit": limit},
    )
    return [_claimed(row, True) for row in result]


async def claim_due(session: AsyncSession, *, now: datetime, limit: int) -> list[ClaimedRow]:
    """Lock up to ``limit`` due pending/held rows of active campaigns (``FOR UPDATE SKIP LOCKED``: rows
    another worker holds are skipped, never waited for). The same transaction then writes each row's
    verdict with :func:`apply_decisions` (``sending`` + lease, or held / suppressed) and commits before
    anything is sent, so the claim and the policy verdict are one write per row, not two.
    ``attempts`` is returned as it will be once the row is sent (one more than stored)."""
    result = await session.execute(
        text(
            """
            SELECT id, campaign_id, step_id, variant_key, customer_id, occurrence, channel, purpose,
                   content_id, attempts + 1
            FROM delivery
            WHERE status IN ('pending', 'held') AND not_before_at <= :now
              AND campaign_id NOT IN (SELECT campaign_id FROM campaign_delivery_state WHERE state <> 'active')
            ORDER BY not_before_at LIMIT :limit FOR UPDATE SKIP LOCKED
            """
        ),
        {"now": now, "limit": limit},
    )
    return [_claimed(row, False) for row in result]


def customer_lock_key(customer_id: uuid.UUID) -> int:
    """A signed 64-bit advisory-lock key from the customer id (a collision only serializes more)."""
    value = customer_id.int >> 64
    return value - (1 << 64) if value >= (1 << 63) else value


async def lock_customers(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> None:
    """Serialize policy decisions per customer until the transaction ends. Keys are taken in ascending
    order, so two workers locking overlapping sets never deadlock."""
    keys = sorted({customer_lock_key(customer_id) for customer_id in customer_ids})
    if keys:
        await session.execute(
            text(
                "SELECT count(pg_advisory_xact_lock(k)) FROM "
                "(SELECT k FROM unnest(CAST(:keys AS bigint[])) AS k ORDER BY k) AS ordered"
            ),
            {"keys": keys},
        )


async def counted_sends(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID], since: datetime
) -> dict[uuid.UUID, list[CountedSend]]:
    """Each customer's marketing messages that count against caps since ``since``."""
    result = await session.execute(
        text(
            "SELECT customer_id, channel, cap_counted_at FROM delivery "
            "WHERE customer_id = ANY(CAST(:ids AS uuid[])) AND cap_counted_at > :since"
        ),
        {"ids": list(customer_ids), "since": since},
    )
    found: dict[uuid.UUID, list[CountedSend]] = {}
    for customer_id, channel, counted_at in result:
        found.setdefault(customer_id, []).append(CountedSend(channel, counted_at))
    return found


async def suppressions_for(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID], addresses: Sequence[str]
) -> list[SuppressionEntry]:
    result = await session.execute(
        text(
            "SELECT channel, address, customer_id, purpose, reason FROM suppression "
            "WHERE customer_id = ANY(CAST(:ids AS uuid[])) OR address = ANY(CAST(:addresses AS text[]))"
        ),
        {"ids": list(customer_ids), "addresses": list(addresses)},
    )
    return [SuppressionEntry(*row) for row in result]


async def apply_decisions(
    session: AsyncSession,
    *,
    owner: str,
    now: datetime,
    lease_until: datetime,
    ids: Sequence[uuid.UUID],
    statuses: Sequence[str],
    reasons: Sequence[str | None],
    not_before: Sequence[datetime | None],
    cap_counted: Sequence[datetime | None],
) -> None:
    """Policy's verdicts on the rows locked by :func:`claim_due`, in one statement: ``sending`` rows
    get this worker's lease, one more attempt and (marketing) their cap slot; held and suppressed rows
    no lease (a hold or a suppression is not a send attempt)."""
    if not ids:
        return
    await session.execute(
        text(
            """
            UPDATE delivery d SET status = v.status, reason = v.reason,
                   not_before_at = coalesce(v.not_before_at, d.not_before_at),
                   cap_counted_at = v.cap_counted_at,
                   attempts = CASE WHEN v.status = 'sending' THEN d.attempts + 1 ELSE d.attempts END,
                   lease_owner = CASE WHEN v.status = 'sending' THEN CAST(:owner AS text) END,
                   lease_expires_at = CASE WHEN v.status = 'sending'
                                           THEN CAST(:lease_until AS timestamptz) END,
                   updated_at = :now
            FROM unnest(CAST(:ids AS uuid[]), CAST(:statuses AS text[]), CAST(:reasons AS text[]),
                        CAST(:not_before AS timestamptz[]), CAST(:cap_counted AS timestamptz[]))
                 AS v(id, status, reason, not_before_at, cap_counted_at)
            WHERE d.id = v.id
            """
        ),
        {
            "owner": owner,
            "now": now,
            "lease_until": lease_until,
            "ids": list(ids),
            "statuses": list(statuses),
            "reasons": list(reasons),
            "not_before": list(not_before),
            "cap_counted": list(cap_counted),
        },
    )


async def record_outcomes(
    session: AsyncSession,
    *,
    owner: str,
    now: datetime,
    ids: Sequence[uuid.UUID],
    statuses: Sequence[str],
    reasons: Sequence[str | None],
    not_before: Sequence[datetime | None],
    errors: Sequence[str | None],
) -> set[uuid.UUID]:
    """How sending went, in one statement; only rows this worker still holds the lease of change (a
    row another worker re-claimed is that worker's to record). Returns the ids that changed."""
    if not ids:
        return set()
    result = await session.execute(
        text(
            """
            UPDATE delivery d SET status = v.status, reason = v.reason,
                   sent_at = CASE WHEN v.status = 'sent' THEN CAST(:now AS timestamptz) ELSE d.sent_at END,
                   not_before_at = coalesce(v.not_before_at, d.not_before_at),
                   cap_counted_at = CASE WHEN v.status = 'sent' THEN d.cap_counted_at END,
                   last_error = v.error, lease_owner = NULL, lease_expires_at = NULL, updated_at = :now
            FROM unnest(CAST(:ids AS uuid[]), CAST(:statuses AS text[]), CAST(:reasons AS text[]),
                        CAST(:not_before AS timestamptz[]), CAST(:errors AS text[]))
                 AS v(id, status, reason, not_before_at, error)
            WHERE d.id = v.id AND d.status = 'sending' AND d.lease_owner = :owner
            RETURNING d.id
            """
        ),
        {
            "owner": owner,
            "now": now,
            "ids": list(ids),
            "statuses": list(statuses),
            "reasons": list(reasons),
            "not_before": list(not_before),
            "errors": list(errors),
        },
    )
    return set(result.scalars())


async def extend_leases(
    session: AsyncSession, owner: str, ids: Sequence[uuid.UUID], lease_until: datetime
) -> None:
    """Keep holding rows still being sent (a slow provider must not let another worker re-claim them)."""
    await session.execute(
        text(
            "UPDATE delivery SET lease_expires_at = :until "
            "WHERE id = ANY(CAST(:ids AS uuid[])) AND status = 'sending' AND lease_owner = :owner"
        ),
        {"ids": list(ids), "owner": owner, "until": lease_until},
    )


async def release_leases(session: AsyncSession, owner: str, ids: Sequence[uuid.UUID]) -> None:
    """Give claimed rows back unsent (a worker stopping before it sent them)."""
    await session.execute(
        text(
            "UPDATE delivery SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, "
            "cap_counted_at = NULL, attempts = greatest(attempts - 1, 0), updated_at = now() "
            "WHERE id = ANY(CAST(:ids AS uuid[])) AND status = 'sending' AND lease_owner = :owner"
        ),
        {"ids": list(ids), "owner": owner},
    )


async def set_campaign_state(session: AsyncSession, campaign_id: uuid.UUID, state: str) -> None:
    table = table_of(CampaignDeliveryState)
    statement = pg_insert(table).values(campaign_id=campaign_id, state=state)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c.campaign_id], set_={"state": state, "updated_at": func.now()}
        )
    )


async def campaign_state(session: AsyncSession, campaign_id: uuid.UUID) -> str:
    state = await session.scalar(
        select(col(CampaignDeliveryState.state)).where(col(CampaignDeliveryState.campaign_id) == campaign_id)
    )
    return state or "active"


async def cancel_pending(
    session: AsyncSession, *, campaign_id: uuid.UUID | None = None, customer_ids: Sequence[uuid.UUID] = ()
) -> int:
    """Mark not-yet-claimed rows (of a campaign, or of customers) cancelled; how many."""
    params: dict[str, Any]
    if campaign_id is not None:
        where, params = "campaign_id = :campaign", {"campaign": campaign_id}
    else:
        where, params = "customer_id = ANY(CAST(:ids AS uuid[]))", {"ids": list(customer_ids)}
    result = await session.execute(
        text(
            "UPDATE delivery SET status = 'cancelled', updated_at = now() "  # noqa: S608  (constant clauses)
            f"WHERE {where} AND status IN ('pending', 'held')"
        ),
        params,
    )
    return int(result.rowcount)  # type: ignore[attr-defined]  # CursorResult of an UPDATE


async def move_pending(session: AsyncSession, merged_id: uuid.UUID, survivor_id: uuid.UUID) -> None:
    """Pending rows of a merged customer go to the survivor, unless the survivor already has that
    ledger key (then the merged one's row is cancelled: the survivor gets the message once)."""
    await session.execute(
        text(
            """
            UPDATE delivery m SET status = 'cancelled', updated_at = now()
            WHERE m.customer_id = :merged AND m.status IN ('pending', 'held')
              AND EXISTS (SELECT 1 FROM delivery s WHERE s.customer_id = :survivor
                          AND s.campaign_id = m.campaign_id AND s.step_id = m.step_id
                          AND s.occurrence = m.occurrence)
            """
        ),
        {"merged": merged_id, "survivor": survivor_id},
    )
    await session.execute(
        text(
            "UPDATE delivery SET customer_id = :survivor, updated_at = now() "
            "WHERE customer_id = :merged AND status IN ('pending', 'held')"
        ),
        {"merged": merged_id, "survivor": survivor_id},
    )


async def get_delivery(session: AsyncSession, message_id: uuid.UUID) -> Delivery | None:
    return await session.get(Delivery, message_id)


async def deliveries_by_id(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[Delivery]:
    result = await session.execute(select(Delivery).where(col(Delivery.id).in_(list(ids))))
    return list(result.scalars())


async def history(
    session: AsyncSession, customer_id: uuid.UUID, *, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[Delivery]:
    query = select(Delivery).where(col(Delivery.customer_id) == customer_id)
    if after is not None:
        created_at, message_id = after
        query = query.where(
            (col(Delivery.created_at) < created_at)
            | ((col(Delivery.created_at) == created_at) & (col(Delivery.id) < message_id))
        )
    query = query.order_by(col(Delivery.created_at).desc(), col(Delivery.id).desc()).limit(limit)
    return list((await session.execute(query)).scalars())


async def first_pages(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID], *, limit: int
) -> list[Delivery]:
    """The newest ``limit`` ledger rows of each customer, in one statement: a LATERAL subquery per
    requested id, so each customer reads just its first rows off ``ix_delivery_customer_history``
    however long their history is. Rows come by customer, then newest first (as ``history``)."""
    if not customer_ids:
        return []
    requested = (
        func.unnest(literal(list(customer_ids), ARRAY(PG_UUID(as_uuid=True))))
        .table_valued("customer_id", name="requested")
        .render_derived()
    )
    newest = (
        select(Delivery)
        .where(col(Delivery.customer_id) == requested.c.customer_id)
        .order_by(col(Delivery.created_at).desc(), col(Delivery.id).desc())
        .limit(limit)
        .lateral("newest")
    )
    page = aliased(Delivery, newest)
    query = (
        select(page)
        .select_from(requested)
        .join(newest, true())
        .order_by(newest.c.customer_id, newest.c.created_at.desc(), newest.c.id.desc())
    )
    return list((await session.execute(query)).scalars())


async def insert_response(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Add a response row; False when that (message, kind, url) was recorded before."""
    table = table_of(DeliveryResponse)
    result = await session.execute(
        pg_insert(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[table.c.message_id, table.c.kind, table.c.url])
        .returning(table.c.id)
    )
    return result.scalar_one_or_none() is not None


async def response_kinds(session: AsyncSession, message_id: uuid.UUID) -> list[str]:
    query = (
        select(col(DeliveryResponse.kind))
        .where(col(DeliveryResponse.message_id) == message_id)
        .distinct()
        .order_by(col(DeliveryResponse.kind))
    )
    return list((await session.execute(query)).scalars())


async def responded(
    session: AsyncSession,
    campaign_id: uuid.UUID,
    step_id: str,
    customer_ids: Sequence[uuid.UUID],
    kinds: Sequence[str],
    since: datetime,
) -> set[uuid.UUID]:
    result = await session.execute(
        text(
            "SELECT DISTINCT customer_id FROM delivery_response WHERE campaign_id = :campaign "
            "AND step_id = :step AND customer_id = ANY(CAST(:ids AS uuid[])) "
            "AND kind = ANY(CAST(:kinds AS text[])) AND occurred_at >= :since"
        ),
        {
            "campaign": campaign_id,
            "step": step_id,
            "ids": list(customer_ids),
            "kinds": list(kinds),
            "since": since,
        },
    )
    return set(result.scalars())


async def status_counts(session: AsyncSession, campaign_id: uuid.UUID) -> list[Row[Any]]:
    result = await session.execute(
        text(
            "SELECT step_id, variant_key, status, count(*) FROM delivery WHERE campaign_id = :campaign "
            "GROUP BY step_id, variant_key, status"
        ),
        {"campaign": campaign_id},
    )
    return list(result)


async def response_counts(session: AsyncSession, campaign_id: uuid.UUID) -> list[Row[Any]]:
    # Distinct messages per kind: two clicks on two links are one clicked message.
    result = await session.execute(
        text(
            "SELECT step_id, variant_key, kind, count(DISTINCT message_id) FROM delivery_response "
            "WHERE campaign_id = :campaign GROUP BY step_id, variant_key, kind"
        ),
        {"campaign": campaign_id},
    )
    return list(result)


async def insert_suppressions(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> int:
    if not rows:
        return 0
    table = table_of(Suppression)
    result = await session.execute(
        pg_insert(table).values(list(rows)).on_conflict_do_nothing(index_elements=[table.c.suppression_key])
    )
    return int(result.rowcount)  # type: ignore[attr-defined]  # CursorResult of an INSERT


async def list_suppressions(
    session: AsyncSession,
    *,
    after: int | None,
    limit: int,
    customer_id: uuid.UUID | None,
    address: str | None,
) -> list[Suppression]:
    query = select(Suppression)
    if after is not None:
        query = query.where(col(Suppression.id) > after)
    if customer_id is not None:
        query = query.where(col(Suppression.customer_id) == customer_id)
    if address is not None:
        query = query.where(col(Suppression.address) == address)
    query = query.order_by(col(Suppression.id)).limit(limit)
    return list((await session.execute(query)).scalars())


async def delete_suppression(session: AsyncSession, suppression_id: int) -> bool:
    result = await session.execute(
        text("DELETE FROM suppression WHERE id = :id RETURNING id"), {"id": suppression_id}
    )
    return result.scalar_one_or_none() is not None


async def delete_customer_suppressions(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> None:
    await session.execute(
        text("DELETE FROM suppression WHERE customer_id = ANY(CAST(:ids AS uuid[]))"),
        {"ids": list(customer_ids)},
    )
