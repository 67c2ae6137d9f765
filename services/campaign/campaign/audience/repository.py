"""All SQL of the read model.

Aggregates are never incremented in place: they are recomputed from ``customer_activity`` and
``purchase`` for the customers an event touched (one statement for all of them), so replaying, merging
and unmerging always land on the same numbers. Every write is guarded by ``IS DISTINCT FROM``, so
repeating the same facts writes nothing.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func, or_, select, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import Float
from sqlmodel import col

from campaign.audience.models import AudienceMember, CustomerActivity, Product, Purchase

UUIDS = ARRAY(PG_UUID(as_uuid=True))
FLOATS = ARRAY(Float())

# Activity types that say nothing about the customer's own behaviour (profile events and what the
# campaign sent them) and so do not move ``last_activity_at``.
_PASSIVE_TYPES = (
    "customer.created",
    "customer.updated",
    "customer.merged",
    "customer.unmerged",
    "message.sent",
    "message.delivered",
    "message.bounced",
)

_NUMERIC = r"'^-?[0-9]+(\.[0-9]+)?$'"

# Only module constants are formatted into the SQL text; every value is a bound parameter.
_RECOMPUTE = text(
    f"""
UPDATE audience_member AS m SET
    order_count = s.order_count,
    order_total = s.order_total,
    avg_order_value = s.avg_order_value,
    first_order_at = s.first_order_at,
    last_order_at = s.last_order_at,
    top_categories = s.top_categories,
    last_activity_at = s.last_activity_at,
    latest_nps = s.latest_nps,
    nps_count = s.nps_count,
    open_complaints = s.open_complaints,
    complaint_count = s.complaint_count,
    advocate_score = s.advocate_score,
    advocate_tier = s.advocate_tier,
    last_message_at = s.last_message_at,
    last_opened_at = s.last_opened_at,
    last_clicked_at = s.last_clicked_at,
    updated_at = now()
FROM (
    SELECT mm.customer_id,
        coalesce(o.order_count, 0) AS order_count,
        coalesce(o.order_total, 0)::numeric(16, 2) AS order_total,
        CASE WHEN o.order_count > 0 THEN (o.order_total / o.order_count)::numeric(16, 2) END
            AS avg_order_value,
        o.first_order_at, o.last_order_at,
        coalesce(cat.top_categories, '{{}}'::text[]) AS top_categories,
        act.last_activity_at, act.last_message_at, act.last_opened_at, act.last_clicked_at,
        nps.latest_nps, coalesce(nps.nps_count, 0) AS nps_count,
        coalesce(c.open_complaints, 0) AS open_complaints,
        coalesce(c.complaint_count, 0) AS complaint_count,
        adv.advocate_score, adv.advocate_tier
    FROM audience_member AS mm
    LEFT JOIN LATERAL (
        SELECT count(*)::int AS order_count, sum(d.total) AS order_total,
            min(d.occurred_at) AS first_order_at, max(d.occurred_at) AS last_order_at
        FROM (
            SELECT DISTINCT ON (coalesce(a.properties->>'order_id', a.event_id::text))
                a.occurred_at,
                CASE WHEN a.properties->>'total' ~ {_NUMERIC} THEN (a.properties->>'total')::numeric
                     ELSE 0 END AS total
            FROM customer_activity AS a
            WHERE a.customer_id = mm.customer_id AND a.activity_type = 'order_placed'
            ORDER BY coalesce(a.properties->>'order_id', a.event_id::text), a.occurred_at
        ) AS d
    ) AS o ON true
    LEFT JOIN LATERAL (
        SELECT
            max(a.occurred_at) FILTER (WHERE a.activity_type <> ALL(:passive)) AS last_activity_at,
            max(a.occurred_at) FILTER (WHERE a.activity_type = 'message.sent') AS last_message_at,
            max(a.occurred_at) FILTER (WHERE a.activity_type = 'message.opened') AS last_opened_at,
            max(a.occurred_at) FILTER (WHERE a.activity_type = 'message.clicked') AS last_clicked_at
        FROM customer_activity AS a WHERE a.customer_id = mm.customer_id
    ) AS act ON true
    LEFT JOIN LATERAL (
        SELECT (array_agg((a.properties->>'nps')::int ORDER BY a.occurred_at DESC, a.id DESC))[1]
                AS latest_nps,
            count(*)::int AS nps_count
        FROM customer_activity AS a
        WHERE a.customer_id = mm.customer_id AND a.activity_type = 'feedback.received'
            AND a.properties->>'nps' ~ '^[0-9]+$'
    ) AS nps ON true
    LEFT JOIN LATERAL (
        SELECT count(*)::int AS complaint_count,
            (count(*) FILTER (WHERE latest.status IS DISTINCT FROM 'resolved'))::int AS open_complaints
        FROM (
            SELECT DISTINCT ON (a.properties->>'complaint_id')
                coalesce(a.properties->>'status',
                         CASE WHEN a.activity_type = 'complaint.resolved' THEN 'resolved' ELSE 'open' END)
                    AS status
            FROM customer_activity AS a
            WHERE a.customer_id = mm.customer_id
                AND a.activity_type IN ('complaint.opened', 'complaint.resolved', 'complaint.reopened')
            ORDER BY a.properties->>'complaint_id', a.occurred_at DESC, a.id DESC
        ) AS latest
    ) AS c ON true
    LEFT JOIN LATERAL (
        SELECT CASE WHEN a.properties->>'score' ~ {_NUMERIC} THEN (a.properties->>'score')::float8 END
                AS advocate_score,
            a.properties->>'tier' AS advocate_tier
        FROM customer_activity AS a
        WHERE a.customer_id = mm.customer_id AND a.activity_type = 'advocate.score_changed'
        ORDER BY a.occurred_at DESC, a.id DESC LIMIT 1
    ) AS adv ON true
    LEFT JOIN LATERAL (
        SELECT array_agg(t.category::text ORDER BY t.quantity DESC, t.category) AS top_categories
        FROM (
            SELECT p.category, sum(p.quantity) AS quantity FROM purchase AS p
            WHERE p.customer_id = mm.customer_id AND p.category IS NOT NULL
            GROUP BY p.category ORDER BY sum(p.quantity) DESC, p.category LIMIT 3
        ) AS t
    ) AS cat ON true
    WHERE mm.customer_id = ANY(:ids)
) AS s
WHERE m.customer_id = s.customer_id
    AND (m.order_count, m.order_total, m.avg_order_value, m.first_order_at, m.last_order_at,
         m.top_categories, m.last_activity_at, m.latest_nps, m.nps_count, m.open_complaints,
         m.complaint_count, m.advocate_score, m.advocate_tier, m.last_message_at, m.last_opened_at,
         m.last_clicked_at)
    IS DISTINCT FROM
        (s.order_count, s.order_total, s.avg_order_value, s.first_order_at, s.last_order_at,
         s.top_categories, s.last_activity_at, s.latest_nps, s.nps_count, s.open_complaints,
         s.complaint_count, s.advocate_score, s.advocate_tier, s.last_message_at, s.last_opened_at,
         s.last_clicked_at)
RETURNING m.customer_id
"""  # noqa: S608
).bindparams(bindparam("ids", type_=UUIDS), bindparam("passive", value=list(_PASSIVE_TYPES)))


def _derive_statement(scope: str) -> str:
    # Scores: recency 5 (bought most recently) .. 1, frequency and monetary 1 .. 5, one point per
    # quintile cut point the value lies strictly above. No order: no scores. The cut points come negated
    # and ascending (see DerivationPolicy.params): width_bucket(-x, sorted(-cuts)) counts cuts >= x, so
    # 4 minus it counts cuts < x, in one function call per row instead of a subquery.
    return f"""
WITH scored AS (
    SELECT m.customer_id,
        CASE WHEN m.order_count > 0 THEN 1 + width_bucket(
            -extract(epoch FROM now() - m.last_order_at)::float8 / 86400.0,
            CAST(:recency_cuts AS float8[])) END AS r,
        CASE WHEN m.order_count > 0 THEN 5 - width_bucket(
            -m.order_count::float8, CAST(:frequency_cuts AS float8[])) END AS f,
        CASE WHEN m.order_count > 0 THEN 5 - width_bucket(
            -m.order_total::float8, CAST(:monetary_cuts AS float8[])) END AS mo,
        CASE
            WHEN m.order_count = 0 THEN 'prospect'
            WHEN m.first_order_at >= now() - make_interval(days => :new_days) THEN 'new'
            WHEN m.last_order_at >= now() - make_interval(days => :active_days) THEN 'active'
            WHEN m.last_order_at >= now() - make_interval(days => :at_risk_days) THEN 'at_risk'
            ELSE 'lapsed'
        END AS lifecycle_stage
    FROM audience_member AS m
    WHERE {scope}
), derived AS (
    SELECT customer_id, r::smallint AS r, f::smallint AS f, mo::smallint AS mo, lifecycle_stage,
        CASE
            WHEN r IS NULL THEN NULL
            WHEN r >= 4 AND f >= 4 THEN 'champions'
            WHEN r >= 3 AND f >= 3 THEN 'loyal'
            WHEN r >= 4 AND f <= 1 THEN 'new_customer'
            WHEN r >= 3 THEN 'promising'
            WHEN f >= 4 THEN 'cant_lose'
            WHEN f >= 2 THEN 'at_risk'
            ELSE 'hibernating'
        END AS rfm_segment,
        CASE
            WHEN r IS NULL THEN 'low'
            WHEN r + f + mo >= 13 THEN 'vip'
            WHEN r + f + mo >= 10 THEN 'high'
            WHEN r + f + mo >= 7 THEN 'medium'
            ELSE 'low'
        END AS value_tier
    FROM scored
)
UPDATE audience_member AS m SET
    rfm_recency = d.r, rfm_frequency = d.f, rfm_monetary = d.mo, rfm_segment = d.rfm_segment,
    value_tier = d.value_tier, lifecycle_stage = d.lifecycle_stage, updated_at = now()
FROM derived AS d
WHERE m.customer_id = d.customer_id
    AND (m.rfm_recency, m.rfm_frequency, m.rfm_monetary, m.rfm_segment, m.value_tier, m.lifecycle_stage)
        IS DISTINCT FROM (d.r, d.f, d.mo, d.rfm_segment, d.value_tier, d.lifecycle_stage)
RETURNING m.customer_id
"""  # noqa: S608 (scope is one of two constants below)


_DERIVE_SOME = text(_derive_statement("m.customer_id = ANY(:ids)")).bindparams(
    bindparam("ids", type_=UUIDS),
    bindparam("recency_cuts", type_=FLOATS),
    bindparam("frequency_cuts", type_=FLOATS),
    bindparam("monetary_cuts", type_=FLOATS),
)
_MARK_DERIVED = (
    "WITH changed AS ({derive}) INSERT INTO audience_change (customer_id) "
    "SELECT customer_id FROM changed ON CONFLICT (customer_id) DO NOTHING"
)
_DERIVE_ALL = text(_MARK_DERIVED.replace("{derive}", _derive_statement("true"))).bindparams(
    bindparam("recency_cuts", type_=FLOATS),
    bindparam("frequency_cuts", type_=FLOATS),
    bindparam("monetary_cuts", type_=FLOATS),
)


@dataclass(frozen=True)
class DerivationPolicy:
    """What derivation needs: RFM cut points (4 ascending per dimension) and lifecycle thresholds."""

    recency_cuts: list[float]
    frequency_cuts: list[float]
    monetary_cuts: list[float]
    new_days: int
    active_days: int
    at_risk_days: int

    def params(self) -> dict[str, Any]:
        return {
            "recency_cuts": sorted(-cut for cut in self.recency_cuts),
            "frequency_cuts": sorted(-cut for cut in self.frequency_cuts),
            "monetary_cuts": sorted(-cut for cut in self.monetary_cuts),
            "new_days": self.new_days,
            "active_days": self.active_days,
            "at_risk_days": self.at_risk_days,
        }


# --- members -----------------------------------------------------------------------------------------

PROFILE_FIELDS = ("display_name", "email", "phone", "traits", "time_zone")


async def upsert_profile(
    session: AsyncSession, *, customer_id: uuid.UUID, customer_created_at: datetime, profile: dict[str, Any]
) -> bool:
    """Insert the member or bring the given profile fields up to date; True when a row was written."""
    statement = pg_insert(AudienceMember).values(
        customer_id=customer_id, customer_created_at=customer_created_at, **profile
    )
    excluded = statement.excluded
    updated: dict[str, Any] = {name: getattr(excluded, name) for name in profile}
    updated["customer_created_at"] = excluded.customer_created_at
    result = await session.execute(
        statement.on_conflict_do_update(
            index_elements=[col(AudienceMember.customer_id)],
            set_={**updated, "updated_at": func.now()},  # ON CONFLICT ignores Column.onupdate
            where=or_(
                *(getattr(AudienceMember, name).is_distinct_from(value) for name, value in updated.items())
            ),
        ).returning(col(AudienceMember.customer_id))
    )
    return result.first() is not None


async def update_profile(session: AsyncSession, customer_id: uuid.UUID, profile: dict[str, Any]) -> bool:
    """Change the given profile fields of an existing member; True when the row changed."""
    if not profile:
        return False
    member = AudienceMember.__table__  # type: ignore[attr-defined]
    result = await session.execute(
        member.update()
        .where(
            member.c.customer_id == customer_id,
            or_(*(member.c[name].is_distinct_from(value) for name, value in profile.items())),
        )
        .values(**profile, updated_at=func.now())
        .returning(member.c.customer_id)
    )
    return result.first() is not None


async def merge_consents(session: AsyncSession, customer_id: uuid.UUID, consents: dict[str, bool]) -> bool:
    """``consents || :patch`` unless the member already says exactly that; True when it changed."""
    result = await session.execute(
        text(
            "UPDATE audience_member SET consents = consents || :patch, updated_at = now() "
            "WHERE customer_id = :id AND NOT consents @> :patch RETURNING customer_id"
        ).bindparams(bindparam("patch", type_=JSONB)),
        {"id": customer_id, "patch": consents},
    )
    return result.first() is not None


async def exists(session: AsyncSession, customer_id: uuid.UUID) -> bool:
    result = await session.execute(
        select(col(AudienceMember.customer_id)).where(col(AudienceMember.customer_id) == customer_id)
    )
    return result.first() is not None


async def get(session: AsyncSession, customer_id: uuid.UUID) -> AudienceMember | None:
    return await session.get(AudienceMember, customer_id)


async def get_many(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> list[AudienceMember]:
    """One query for the whole batch."""
    if not customer_ids:
        return []
    result = await session.execute(
        select(AudienceMember).where(col(AudienceMember.customer_id).in_(customer_ids))
    )
    return list(result.scalars())


async def recompute(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Recompute the aggregates of these members from their activity; the ids whose row changed."""
    result = await session.execute(_RECOMPUTE, {"ids": list(customer_ids)})
    return set(result.scalars())


async def derive(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID], policy: DerivationPolicy
) -> set[uuid.UUID]:
    """RFM scores, segment, value tier and lifecycle stage of these members; the ids that changed."""
    result = await session.execute(_DERIVE_SOME, {"ids": list(customer_ids), **policy.params()})
    return set(result.scalars())


async def derive_all(session: AsyncSession, policy: DerivationPolicy) -> int:
    """Re-derive every member (time moves stages); the changed ones are marked in the dirty set."""
    result = await session.execute(_DERIVE_ALL, policy.params())
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def rfm_quintiles(session: AsyncSession) -> dict[str, list[float]] | None:
    """Cut points at the 20/40/60/80th percentiles over every member who ordered (None: nobody did)."""
    row = (
        await session.execute(
            text(
                """
SELECT count(*) AS buyers,
    percentile_cont(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (
        ORDER BY extract(epoch FROM now() - last_order_at) / 86400.0) AS recency,
    percentile_cont(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY order_count) AS frequency,
    percentile_cont(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY order_total) AS monetary
FROM audience_member WHERE order_count > 0
"""
            )
        )
    ).one()
    if not row.buyers:
        return None
    return {
        "recency": [float(v) for v in row.recency],
        "frequency": [float(v) for v in row.frequency],
        "monetary": [float(v) for v in row.monetary],
    }


async def store_thresholds(session: AsyncSession, cut_points: dict[str, list[float]]) -> None:
    await session.execute(
        text(
            "INSERT INTO rfm_threshold (dimension, cut_points) "
            "SELECT d, c FROM jsonb_each(:points) AS j(d, v), "
            "LATERAL (SELECT array_agg(x::float8 ORDER BY n) AS c "
            "         FROM jsonb_array_elements_text(j.v) WITH ORDINALITY AS e(x, n)) AS a "
            "ON CONFLICT (dimension) DO UPDATE SET cut_points = excluded.cut_points, computed_at = now()"
        ).bindparams(bindparam("points", type_=JSONB)),
        {"points": cut_points},
    )


async def load_thresholds(session: AsyncSession) -> dict[str, list[float]]:
    rows = await session.execute(text("SELECT dimension, cut_points FROM rfm_threshold"))
    return {row.dimension: [float(v) for v in row.cut_points] for row in rows}


# --- activity, purchases, catalog ----------------------------------------------------------------------


async def add_activity(
    session: AsyncSession,
    *,
    event_id: uuid.UUID,
    customer_id: uuid.UUID,
    activity_type: str,
    channel: str | None,
    occurred_at: datetime,
    properties: dict[str, Any],
) -> bool:
    """One row per event (the event id is unique); False when this event was recorded before."""
    result = await session.execute(
        pg_insert(CustomerActivity)
        .values(
            event_id=event_id,
            customer_id=customer_id,
            origin_customer_id=customer_id,
            activity_type=activity_type[:64],
            channel=channel[:32] if channel else None,
            occurred_at=occurred_at,
            properties=properties,
        )
        .on_conflict_do_nothing(index_elements=[col(CustomerActivity.event_id)])
        .returning(col(CustomerActivity.id))
    )
    return result.first() is not None


@dataclass(frozen=True)
class OrderLine:
    sku: str
    name: str | None
    category: str | None
    price: Decimal
    quantity: int


async def add_purchases(
    session: AsyncSession,
    *,
    event_id: uuid.UUID,
    customer_id: uuid.UUID,
    order_id: str,
    occurred_at: datetime,
    lines: Sequence[OrderLine],
) -> None:
    """The order's lines (one statement) and the catalog they reveal (one statement)."""
    if not lines:
        return
    await session.execute(
        pg_insert(Purchase)
        .values(
            [
                {
                    "event_id": event_id,
                    "line_number": n,
                    "customer_id": customer_id,
                    "origin_customer_id": customer_id,
                    "order_id": order_id[:100],
                    "sku": line.sku[:100],
                    "category": line.category[:100] if line.category else None,
                    "price": line.price,
                    "quantity": line.quantity,
                    "occurred_at": occurred_at,
                }
                for n, line in enumerate(lines)
            ]
        )
        .on_conflict_do_nothing()
    )
    by_sku: dict[str, OrderLine] = {}
    sold: dict[str, int] = {}
    for line in lines:
        by_sku[line.sku[:100]] = line
        sold[line.sku[:100]] = sold.get(line.sku[:100], 0) + line.quantity
    statement = pg_insert(Product).values(
        [
            {
                "sku": sku,
                "name": line.name[:400] if line.name else None,
                "category": line.category[:100] if line.category else None,
                "price": line.price,
                "purchase_count": sold[sku],
            }
            for sku, line in by_sku.items()
        ]
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[col(Product.sku)],
            set_={
                "name": func.coalesce(statement.excluded.name, col(Product.name)),
                "category": func.coalesce(statement.excluded.category, col(Product.category)),
                "price": statement.excluded.price,
                "purchase_count": col(Product.purchase_count) + statement.excluded.purchase_count,
                "updated_at": func.now(),
            },
        )
    )


_RECOMMEND = text(
    """
WITH buyer AS (
    SELECT p.customer_id, avg(p.price) AS avg_price FROM purchase AS p
    WHERE p.customer_id = ANY(:ids) GROUP BY p.customer_id
), bought_category AS (
    SELECT DISTINCT p.customer_id, p.category FROM purchase AS p
    WHERE p.customer_id = ANY(:ids) AND p.category IS NOT NULL
), ranked AS (
    SELECT b.customer_id, pr.sku, pr.name, pr.category, pr.price,
        row_number() OVER (PARTITION BY b.customer_id ORDER BY pr.purchase_count DESC, pr.sku) AS rank
    FROM buyer AS b
    JOIN bought_category AS bc ON bc.customer_id = b.customer_id
    JOIN product AS pr ON pr.category = bc.category
        AND pr.price BETWEEN b.avg_price * (1 - CAST(:band AS numeric))
                         AND b.avg_price * (1 + CAST(:band AS numeric))
    WHERE NOT EXISTS (
        SELECT 1 FROM purchase AS own WHERE own.customer_id = b.customer_id AND own.sku = pr.sku)
)
SELECT customer_id, sku, name, category, price FROM ranked WHERE rank <= :limit
ORDER BY customer_id, rank
"""
).bindparams(bindparam("ids", type_=UUIDS))


async def recommendations(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID], *, limit: int, price_band: float
) -> list[Any]:
    result = await session.execute(
        _RECOMMEND, {"ids": list(customer_ids), "limit": limit, "band": price_band}
    )
    return list(result)


# --- merges, unmerges, erasure -------------------------------------------------------------------------


async def resolve_survivor(session: AsyncSession, customer_id: uuid.UUID) -> uuid.UUID:
    """The member an id lives on now: itself, or the survivor it was merged into."""
    result = await session.execute(
        text("SELECT survivor_id FROM merged_customer WHERE merged_id = :id"), {"id": customer_id}
    )
    survivor = result.scalar_one_or_none()
    return survivor if survivor is not None else customer_id


async def erased_among(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    result = await session.execute(
        text("SELECT customer_id FROM erased_customer WHERE customer_id = ANY(:ids)").bindparams(
            bindparam("ids", type_=UUIDS)
        ),
        {"ids": list(customer_ids)},
    )
    return set(result.scalars())


async def fold_into_survivor(session: AsyncSession, survivor_id: uuid.UUID, merged_id: uuid.UUID) -> None:
    """Keep the merged member's profile for an unmerge, move its rows to the survivor, remove it."""
    params = {"survivor": survivor_id, "merged": merged_id}
    await session.execute(
        text(
            """
WITH gone AS (DELETE FROM audience_member WHERE customer_id = :merged RETURNING *)
INSERT INTO merged_customer (merged_id, survivor_id, merged_into, profile)
SELECT :merged, :survivor, :survivor, coalesce((SELECT to_jsonb(gone) FROM gone), '{}'::jsonb)
ON CONFLICT (merged_id) DO UPDATE SET survivor_id = excluded.survivor_id,
    merged_into = excluded.merged_into,
    profile = CASE WHEN excluded.profile = '{}'::jsonb THEN merged_customer.profile ELSE excluded.profile END
"""
        ),
        params,
    )
    # Members merged into the merged one earlier now live on the survivor too.
    await session.execute(
        text("UPDATE merged_customer SET survivor_id = :survivor WHERE survivor_id = :merged"), params
    )
    for table in ("customer_activity", "purchase"):
        await session.execute(
            text(f"UPDATE {table} SET customer_id = :survivor WHERE customer_id = :merged"),  # noqa: S608
            params,
        )


async def split_from_survivor(session: AsyncSession, survivor_id: uuid.UUID, restored_id: uuid.UUID) -> bool:
    """Recreate the restored member from its kept profile and move its own rows (and those of members
    merged into it) back; False when the campaign never saw the merge."""
    lineage = (
        await session.execute(
            text(
                """
WITH RECURSIVE lineage(id) AS (
    SELECT CAST(:restored AS uuid)
    UNION SELECT mc.merged_id FROM merged_customer AS mc JOIN lineage ON mc.merged_into = lineage.id
)
SELECT id FROM lineage
"""
            ),
            {"restored": restored_id},
        )
    ).scalars()
    ids = list(lineage)
    profile = (
        await session.execute(
            text("DELETE FROM merged_customer WHERE merged_id = :id RETURNING profile"), {"id": restored_id}
        )
    ).scalar_one_or_none()
    params = {"survivor": survivor_id, "restored": restored_id, "ids": ids}
    for table in ("customer_activity", "purchase"):
        await session.execute(
            text(
                f"UPDATE {table} SET customer_id = :restored "  # noqa: S608
                "WHERE customer_id = :survivor AND origin_customer_id = ANY(:ids)"
            ).bindparams(bindparam("ids", type_=UUIDS)),
            params,
        )
    await session.execute(
        text(
            "UPDATE merged_customer SET survivor_id = :restored "
            "WHERE merged_id = ANY(:ids) AND merged_id <> :restored"
        ).bindparams(bindparam("ids", type_=UUIDS)),
        params,
    )
    if not profile:
        return False
    await session.execute(
        text(
            """
INSERT INTO audience_member (customer_id, display_name, email, phone, traits, time_zone, consents,
    customer_created_at)
SELECT :restored, p.display_name, p.email, p.phone, coalesce(p.traits, '{}'::jsonb), p.time_zone,
    coalesce(p.consents, '{}'::jsonb), p.customer_created_at
FROM jsonb_populate_record(NULL::audience_member, :profile) AS p
ON CONFLICT (customer_id) DO NOTHING
"""
        ).bindparams(bindparam("profile", type_=JSONB)),
        {"restored": restored_id, "profile": profile},
    )
    return True


async def erase(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """Delete everything about these customers (and members merged into them), keep id tombstones;
    the ids affected."""
    ids = list(customer_ids)
    merged = (
        await session.execute(
            text("SELECT merged_id FROM merged_customer WHERE survivor_id = ANY(:ids)").bindparams(
                bindparam("ids", type_=UUIDS)
            ),
            {"ids": ids},
        )
    ).scalars()
    ids = list(dict.fromkeys([*ids, *merged]))
    params = {"ids": ids}
    for statement in (
        "DELETE FROM audience_member WHERE customer_id = ANY(:ids)",
        "DELETE FROM customer_activity WHERE customer_id = ANY(:ids) OR origin_customer_id = ANY(:ids)",
        "DELETE FROM purchase WHERE customer_id = ANY(:ids) OR origin_customer_id = ANY(:ids)",
        "DELETE FROM merged_customer WHERE merged_id = ANY(:ids) OR survivor_id = ANY(:ids)",
        "INSERT INTO erased_customer (customer_id) SELECT unnest(:ids) ON CONFLICT DO NOTHING",
    ):
        await session.execute(text(statement).bindparams(bindparam("ids", type_=UUIDS)), params)
    return ids


# --- the dirty set -------------------------------------------------------------------------------------


async def mark_changed(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> None:
    if not customer_ids:
        return
    await session.execute(
        text(
            "INSERT INTO audience_change (customer_id) SELECT unnest(:ids) ON CONFLICT DO NOTHING"
        ).bindparams(bindparam("ids", type_=UUIDS)),
        {"ids": list(dict.fromkeys(customer_ids))},
    )


async def claim_changed(session: AsyncSession, limit: int) -> list[uuid.UUID]:
    result = await session.execute(
        text(
            """
DELETE FROM audience_change WHERE customer_id IN (
    SELECT customer_id FROM audience_change ORDER BY changed_at, customer_id
    LIMIT :limit FOR UPDATE SKIP LOCKED)
RETURNING customer_id
"""
        ),
        {"limit": limit},
    )
    return list(result.scalars())
