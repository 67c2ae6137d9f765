"""The campaign's audience: who the campaign service can address. No SQL and no HTTP.

Derived fields (documented here because segments and templates read them):

- RFM scores 1-5: recency (days since the last order, 5 = most recent), frequency (order count) and
  monetary (order total), one point per quintile cut point passed. The cut points are computed over the
  whole base by the derivation job (``rfm_threshold``); until it has run, :data:`DEFAULT_CUT_POINTS`.
- ``value_tier``: no order → ``low``; otherwise by R+F+M: ≥ 13 ``vip`` (the top RFM cells), ≥ 10
  ``high``, ≥ 7 ``medium``, else ``low``.
- ``rfm_segment``: champions (R≥4, F≥4), loyal (R≥3, F≥3), new_customer (R≥4, F=1), promising (R≥3),
  cant_lose (R≤2, F≥4), at_risk (R≤2, F≥2), hibernating.
- ``lifecycle_stage``: prospect (no order), new (first order within ``audience_new_customer_days``),
  active (last order within ``audience_active_days``), at_risk (within ``audience_at_risk_days``), lapsed.
"""

import functools
import uuid
import weakref
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from campaign.audience import repository
from campaign.audience.errors import AudienceMemberNotFound
from campaign.audience.models import AudienceMember
from campaign.audience.repository import DerivationPolicy, OrderLine
from campaign.settings import CampaignSettings, current_settings

# Before the derivation job has seen the base: days since the last order, order count, order total.
DEFAULT_CUT_POINTS: dict[str, list[float]] = {
    "recency": [14.0, 30.0, 60.0, 120.0],
    "frequency": [1.0, 2.0, 3.0, 5.0],
    "monetary": [30_000.0, 70_000.0, 150_000.0, 300_000.0],
}

COUNTRY_TIME_ZONES: dict[str, str] = {
    "KR": "Asia/Seoul",
    "JP": "Asia/Tokyo",
    "CN": "Asia/Shanghai",
    "TW": "Asia/Taipei",
    "HK": "Asia/Hong_Kong",
    "SG": "Asia/Singapore",
    "VN": "Asia/Ho_Chi_Minh",
    "TH": "Asia/Bangkok",
    "IN": "Asia/Kolkata",
    "AU": "Australia/Sydney",
    "US": "America/New_York",
    "CA": "America/Toronto",
    "BR": "America/Sao_Paulo",
    "MX": "America/Mexico_City",
    "GB": "Europe/London",
    "IE": "Europe/Dublin",
    "FR": "Europe/Paris",
    "DE": "Europe/Berlin",
    "ES": "Europe/Madrid",
    "IT": "Europe/Rome",
    "NL": "Europe/Amsterdam",
}


@dataclass(frozen=True)
class ProductRecommendation:
    sku: str
    name: str | None
    category: str | None
    price: Decimal


@functools.cache
def _valid_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def resolve_time_zone(traits: dict[str, Any], default_time_zone: str) -> str:
    """``traits.time_zone`` if it is a real IANA zone, else the country's zone, else the default."""
    zone = traits.get("time_zone")
    if isinstance(zone, str) and zone in _valid_zones():
        return zone
    country = traits.get("country")
    if isinstance(country, str) and country.strip().upper() in COUNTRY_TIME_ZONES:
        return COUNTRY_TIME_ZONES[country.strip().upper()]
    return default_time_zone


async def derivation_policy(
    session: AsyncSession, settings: CampaignSettings | None = None
) -> DerivationPolicy:
    settings = settings or current_settings()
    stored = await repository.load_thresholds(session)
    cuts = {name: stored.get(name) or default for name, default in DEFAULT_CUT_POINTS.items()}
    return DerivationPolicy(
        recency_cuts=cuts["recency"],
        frequency_cuts=cuts["frequency"],
        monetary_cuts=cuts["monetary"],
        new_days=settings.audience_new_customer_days,
        active_days=settings.audience_active_days,
        at_risk_days=settings.audience_at_risk_days,
    )


async def _transaction_policy(session: AsyncSession) -> DerivationPolicy:
    # A consumer applies up to 100 events in one transaction: read the cut points once for all of them.
    transaction = session.get_transaction()
    cached = session.info.get("audience_policy")
    if cached is not None and transaction is not None and cached[0]() is transaction:
        return cached[1]
    policy = await derivation_policy(session)
    if transaction is not None:
        session.info["audience_policy"] = (weakref.ref(transaction), policy)
    return policy


async def _refresh(session: AsyncSession, customer_ids: Sequence[uuid.UUID], *, changed: bool) -> None:
    """Recompute and re-derive these members; mark them changed when anything about them moved."""
    ids = list(dict.fromkeys(customer_ids))
    moved = await repository.recompute(session, ids)
    moved |= await repository.derive(session, ids, await _transaction_policy(session))
    await repository.mark_changed(session, ids if changed else list(moved))


# --- projection from events ----------------------------------------------------------------------------


async def project_customer(
    session: AsyncSession,
    *,
    customer_id: uuid.UUID,
    display_name: str | None,
    email: str | None,
    customer_created_at: datetime,
    phone: str | None = None,
    traits: dict[str, Any] | None = None,
) -> None:
    """Add a customer identity created to the audience, or refresh it; safe to repeat."""
    if await repository.erased_among(session, [customer_id]):
        return
    traits = traits or {}
    written = await repository.upsert_profile(
        session,
        customer_id=customer_id,
        customer_created_at=customer_created_at,
        profile={
            "display_name": display_name,
            "email": email,
            "phone": phone,
            "traits": traits,
            "time_zone": resolve_time_zone(traits, current_settings().default_time_zone),
        },
    )
    if written:
        # Activity may have arrived before the customer did.
        await _refresh(session, [customer_id], changed=True)


async def update_customer(
    session: AsyncSession,
    *,
    customer_id: uuid.UUID,
    profile: dict[str, Any],
    consents: dict[str, bool],
    customer_created_at: datetime | None,
) -> None:
    """Apply a ``customer.updated``: only the profile fields it carries, and its consent changes."""
    if await repository.erased_among(session, [customer_id]):
        return
    profile = dict(profile)
    if "traits" in profile:
        profile["traits"] = profile["traits"] or {}
        profile["time_zone"] = resolve_time_zone(profile["traits"], current_settings().default_time_zone)
    changed = False
    if await repository.exists(session, customer_id):
        changed = await repository.update_profile(session, customer_id, profile)
    elif customer_created_at is not None:
        changed = await repository.upsert_profile(
            session, customer_id=customer_id, customer_created_at=customer_created_at, profile=profile
        )
        if changed:
            await _refresh(session, [customer_id], changed=True)
    if consents:
        changed = await repository.merge_consents(session, customer_id, consents) or changed
    if changed:
        await repository.mark_changed(session, [customer_id])


async def record_activity(
    session: AsyncSession,
    *,
    event_id: uuid.UUID,
    customer_id: uuid.UUID,
    activity_type: str,
    channel: str | None,
    occurred_at: datetime,
    properties: dict[str, Any],
    order: tuple[str, Sequence[OrderLine]] | None = None,
) -> None:
    """Record one event as activity (and an order's lines as purchases); the member's aggregates and
    derived fields follow. Safe to repeat: the event id is recorded once."""
    if await repository.erased_among(session, [customer_id]):
        return
    customer_id = await repository.resolve_survivor(session, customer_id)
    new = await repository.add_activity(
        session,
        event_id=event_id,
        customer_id=customer_id,
        activity_type=activity_type,
        channel=channel,
        occurred_at=occurred_at,
        properties=properties,
    )
    if not new:
        return
    if order is not None:
        order_id, lines = order
        await repository.add_purchases(
            session,
            event_id=event_id,
            customer_id=customer_id,
            order_id=order_id,
            occurred_at=occurred_at,
            lines=lines,
        )
    # A new activity row can change event conditions even when no column moves: always dirty.
    await _refresh(session, [customer_id], changed=True)


async def merge_customers(
    session: AsyncSession,
    *,
    event_id: uuid.UUID,
    survivor_id: uuid.UUID,
    merged_id: uuid.UUID,
    occurred_at: datetime,
) -> None:
    """Fold the merged member into the survivor: its activity and purchases move, the member goes."""
    if await repository.erased_among(session, [survivor_id, merged_id]) or survivor_id == merged_id:
        return
    await repository.fold_into_survivor(session, survivor_id, merged_id)
    await repository.add_activity(
        session,
        event_id=event_id,
        customer_id=survivor_id,
        activity_type="customer.merged",
        channel=None,
        occurred_at=occurred_at,
        properties={"merged_id": str(merged_id)},
    )
    await _refresh(session, [survivor_id], changed=True)
    await repository.mark_changed(session, [merged_id])


async def unmerge_customers(
    session: AsyncSession,
    *,
    event_id: uuid.UUID,
    survivor_id: uuid.UUID,
    restored_id: uuid.UUID,
    occurred_at: datetime,
) -> None:
    """Recreate the restored member from its own activity and kept profile; the survivor loses both."""
    if await repository.erased_among(session, [survivor_id, restored_id]) or survivor_id == restored_id:
        return
    await repository.split_from_survivor(session, survivor_id, restored_id)
    await repository.add_activity(
        session,
        event_id=event_id,
        customer_id=restored_id,
        activity_type="customer.unmerged",
        channel=None,
        occurred_at=occurred_at,
        properties={"survivor_id": str(survivor_id)},
    )
    await _refresh(session, [survivor_id, restored_id], changed=True)


async def erase_customers(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> None:
    """Delete the members, their activity and purchases; keep id tombstones against late events.

    The ids go to the dirty set, so segment memberships are removed on the next pass.
    """
    erased = await repository.erase(session, customer_ids)
    await repository.mark_changed(session, erased)


async def refresh_derivations(session: AsyncSession, settings: CampaignSettings) -> int:
    """The periodic job's pass: RFM quintiles over the whole base, then every member re-derived (time
    moves lifecycle stages and recency); returns how many members changed."""
    quintiles = await repository.rfm_quintiles(session)
    if quintiles is not None:
        await repository.store_thresholds(session, quintiles)
    return await repository.derive_all(session, await derivation_policy(session, settings))


# --- what other domains call ---------------------------------------------------------------------------


async def get_member(session: AsyncSession, customer_id: uuid.UUID) -> AudienceMember:
    """The member (404 :class:`AudienceMemberNotFound` if the campaign service does not know it)."""
    member = await repository.get(session, customer_id)
    if member is None:
        raise AudienceMemberNotFound(f"No audience member with customer id {customer_id}.")
    return member


async def get_members(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> list[AudienceMember]:
    """The members among ``customer_ids`` in the order asked (unknown ids are left out), in one query."""
    unique_ids = list(dict.fromkeys(customer_ids))
    by_id = {member.customer_id: member for member in await repository.get_many(session, unique_ids)}
    return [by_id[customer_id] for customer_id in unique_ids if customer_id in by_id]


async def recommendations(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID], limit: int = 3
) -> dict[uuid.UUID, list[ProductRecommendation]]:
    """Per customer: products in the categories they buy, priced within the band around their average
    item price, not bought by them yet, most bought first (one query for all customers)."""
    found: dict[uuid.UUID, list[ProductRecommendation]] = {customer_id: [] for customer_id in customer_ids}
    if not found or limit <= 0:
        return found
    rows = await repository.recommendations(
        session, list(found), limit=limit, price_band=current_settings().audience_recommendation_price_band
    )
    for row in rows:
        found[row.customer_id].append(
            ProductRecommendation(sku=row.sku, name=row.name, category=row.category, price=row.price)
        )
    return found


async def claim_changed(session: AsyncSession, limit: int) -> list[uuid.UUID]:
    """Customers whose read model changed since they were last claimed (deleted on claim, in the
    caller's transaction; ``FOR UPDATE SKIP LOCKED`` so concurrent claimers never share one)."""
    return await repository.claim_changed(session, limit)


def render_context(
    member: AudienceMember, recommendations: Sequence[ProductRecommendation]
) -> dict[str, Any]:
    """What templates may use: ``customer.*`` and ``recommendations`` (a list of sku/name/category/price)."""
    traits = dict(member.traits or {})
    first_name = traits.get("given_name") or (member.display_name.split()[0] if member.display_name else None)
    return {
        "customer": {
            "id": str(member.customer_id),
            "first_name": first_name,
            "name": member.display_name,
            "email": member.email,
            "phone": member.phone,
            "city": traits.get("city"),
            "country": traits.get("country"),
            "time_zone": member.time_zone,
            "traits": traits,
            "value_tier": member.value_tier,
            "lifecycle_stage": member.lifecycle_stage,
            "rfm_segment": member.rfm_segment,
            "order_count": member.order_count,
            "order_total": member.order_total,
            "avg_order_value": member.avg_order_value,
            "first_order_at": member.first_order_at,
            "last_order_at": member.last_order_at,
            "top_categories": list(member.top_categories or []),
            "advocate_tier": member.advocate_tier,
            "latest_nps": member.latest_nps,
        },
        "recommendations": [
            {"sku": r.sku, "name": r.name, "category": r.category, "price": r.price} for r in recommendations
        ],
    }
