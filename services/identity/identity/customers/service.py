"""Customers: reads that follow merges, search, and the cached golden profile."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from identity.customers import repository
from identity.customers.errors import CustomerNotFound
from identity.customers.models import Customer, CustomerStatus
from identity.customers.profile import GoldenValue, TraitObservation, golden_profile
from identity.identifiers import repository as identifiers
from identity.identifiers.models import Identifier
from identity.matching.blocking import blocking_keys
from identity.matching.names import normalize_name
from identity.resolution.match_records import match_record_from_profile
from identity.settings import IdentitySettings


@dataclass(frozen=True)
class RefreshedProfile:
    """What a refresh computed for one customer: its display name and primary email and phone."""

    display_name: str | None
    contacts: dict[str, str]
    match_profile: dict[str, Any]
    traits: dict[str, str]


@dataclass(frozen=True)
class ResolvedCustomer:
    customer: Customer
    requested_id: uuid.UUID

    @property
    def resolved_from_merge(self) -> bool:
        return self.customer.id != self.requested_id


async def get_customer(session: AsyncSession, customer_id: uuid.UUID) -> ResolvedCustomer:
    """The customer, or the survivor a merged-away id now resolves to."""
    survivor_id = (await repository.survivors_of(session, [customer_id])).get(customer_id)
    customer = await repository.get(session, survivor_id) if survivor_id else None
    if customer is None or customer.status == CustomerStatus.ERASED:
        raise CustomerNotFound(f"No customer with id {customer_id}.")
    return ResolvedCustomer(customer=customer, requested_id=customer_id)


async def get_customers(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Customer]:
    """Requested id → the customer it resolves to, for those that exist (two queries for any batch size)."""
    survivors = await repository.survivors_of(session, list(dict.fromkeys(customer_ids)))
    found = {c.id: c for c in await repository.get_many(session, list(set(survivors.values())))}
    return {
        requested: found[survivor]
        for requested, survivor in survivors.items()
        if survivor in found and found[survivor].status != CustomerStatus.ERASED
    }


async def identifiers_of(session: AsyncSession, customer_id: uuid.UUID) -> list[Identifier]:
    return await identifiers.of_customer(session, customer_id)


async def identifiers_of_customers(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Identifier]]:
    """Each customer's identifiers (ordered as ``identifiers_of``), one query for any batch size."""
    found: dict[uuid.UUID, list[Identifier]] = {customer_id: [] for customer_id in customer_ids}
    for identifier in await repository.identifiers_of_many(session, list(found)):
        found[identifier.customer_id].append(identifier)
    return found


async def find_by_identifier(session: AsyncSession, identifier_type: str, value: str) -> ResolvedCustomer:
    """The customer owning a normalized identifier (404 when nobody does)."""
    owner = await identifiers.owner_of(session, identifier_type, value)
    if owner is None:
        raise CustomerNotFound("No customer has this identifier.")
    return await get_customer(session, owner)


async def golden_profiles(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID], settings: IdentitySettings
) -> dict[uuid.UUID, dict[str, GoldenValue]]:
    observations = await repository.traits_of(session, customer_ids)
    by_customer: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for observation in observations:
        by_customer[observation.customer_id].append(observation)
    return {
        customer_id: golden_profile(by_customer.get(customer_id, []), settings)
        for customer_id in customer_ids
    }


def display_name(profile: dict[str, GoldenValue]) -> str | None:
    if "name" in profile and str(profile["name"].value).strip():
        return str(profile["name"].value).strip()
    parts = [str(profile[f].value).strip() for f in ("given_name", "surname") if f in profile]
    joined = " ".join(part for part in parts if part)
    return joined or None


async def refresh_profiles(
    session: AsyncSession,
    customer_ids: Sequence[uuid.UUID],
    settings: IdentitySettings,
    *,
    known_traits: dict[uuid.UUID, list[TraitObservation]] | None = None,
) -> dict[uuid.UUID, RefreshedProfile]:
    """Recompute the cached golden values and blocking keys of these customers from their rows.

    ``known_traits`` spares reading trait values the caller already holds (all of them, per customer).
    """
    ids = list(dict.fromkeys(customer_ids))
    if not ids:
        return {}
    if known_traits is not None and all(customer_id in known_traits for customer_id in ids):
        profiles = {customer_id: golden_profile(known_traits[customer_id], settings) for customer_id in ids}
    else:
        profiles = await golden_profiles(session, ids, settings)
    contacts = await repository.primary_identifiers(session, ids)
    updates: list[dict[str, Any]] = []
    keys: dict[uuid.UUID, set[str]] = {}
    refreshed: dict[uuid.UUID, RefreshedProfile] = {}
    for customer_id in ids:
        profile = profiles[customer_id]
        name = display_name(profile)
        traits = {field: value.value for field, value in profile.items()}
        match_profile = {**traits, **contacts.get(customer_id, {})}
        refreshed[customer_id] = RefreshedProfile(name, contacts.get(customer_id, {}), match_profile, traits)
        keys[customer_id] = blocking_keys(match_record_from_profile(match_profile))
        updates.append(
            {
                "customer_id": customer_id,
                "display_name": name,
                "name_key": normalize_name(name).key if name else None,
                "match_profile": match_profile,
            }
        )
    await repository.update_profiles(session, updates)
    await repository.replace_match_keys(session, keys)
    return refreshed


async def search_customers(
    session: AsyncSession, query: str, *, after: tuple[str, uuid.UUID] | None, limit: int
) -> list[Customer]:
    folded = query.strip().lower()
    name_prefix = normalize_name(query).key if query.strip() else ""
    return await repository.search(
        session, prefix=folded, name_prefix=name_prefix or folded, after=after, limit=limit
    )
